"""What each 100 ms of pause tolerance costs (issue 42, section 13): the bridge's waits for a
whole command that could go on (endpoint_extendable_silence_ms, endpoint_target_silence_ms),
set together to each value of WAITS, against (1) the longest pause inside a request that is
never cut, and (2) the answer's time for the plain commands.

(1) Every fixture of kind goes_on (a command whole at its pause that goes on: "turn on the
light … in the bedroom") is spoken with its pause set to each of PAUSES (the quiet between its
two parts replaced by that much silence), live, through a bridge that knows the test home's
names; a pause is cut when the transcript differs from endpointing off's. (2) The bundled
commands, live; end of speech → transcript at the client, for all of them and for those that
pay the wait (their verdict, with the test home's names, is EXTENDABLE or TARGET_OPEN).

On the virtual clock (`tests/virtual_time.py`): the bridge, the simulator and the clients run
in one process over real loopback sockets with a live stream's timing, and a decoder that is
infinitely fast; the figures are exact for the bridge and the simulator, not noisy, and
leave out what real time adds (the decoder's own time, a loaded machine; Home Assistant's
pipeline: section 11). `bash script/bench --only-tolerance` reruns this section alone.
"""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

from tests.conftest import sim_settings, start_bridge, start_sim
from tests.home import home_names
from tests.virtual_time import run_virtual
from tests.wyoming_client import watch_utterance
from truebar_sim.conventions import preset
from truebar_sim.fixtures import Fixture, PauseFixture, load_fixtures, load_pause_fixtures
from truebar_sim.fixtures import speech_end_of as speech_end
from wyoming_truebar.ending.endpointing import CONTINUATION_WORDS, MODIFIER_WORDS, Verdict
from wyoming_truebar.home.continuations import HomeIndex
from wyoming_truebar.home.sentences import Guards, matcher, sentence_grammar, slot_lists

WAITS = (250, 300, 350, 400, 450, 500, 550, 600, 650, 700)
PAUSES = (200, 250, 300, 350, 400, 450, 500, 550, 600, 650, 700)
CONVENTIONS = ("default", "provisional_250")
TRAILING = bytes(2 * 32000)


def paying(commands: list[Fixture]) -> set[str]:
    """The commands whose verdict with the test home's names pays the wait measured here."""
    home = home_names("en")
    guards = Guards(CONTINUATION_WORDS["en"], MODIFIER_WORDS["en"])
    grammar = sentence_grammar("en", build=True)
    lists, index = slot_lists(home), HomeIndex(home)
    waiting = (Verdict.EXTENDABLE, Verdict.TARGET_OPEN)
    found = matcher("en")
    return {
        f.text for f in commands if found.judge(f.text, lists, index, guards, grammar) in waiting
    }


async def speak(port: int, clips: list[bytes]) -> list[Any]:
    """Every clip live at once (a home of many satellites, on the virtual clock)."""
    watched = (watch_utterance(port, p + TRAILING, stop_on_answer=True, timeout=60) for p in clips)
    return list(await asyncio.gather(*watched))


async def convention_rows(convention: str, smoke: bool) -> list[dict[str, Any]]:
    """One convention: the off transcripts once, then a row per wait."""
    commands = load_fixtures()[:4] if smoke else load_fixtures()
    goes_on = [f for f in load_pause_fixtures() if f.kind == "goes_on"][: 2 if smoke else None]
    pauses = (300,) if smoke else PAUSES
    waits = (350,) if smoke else WAITS
    clips = [(f, p, f.with_pause(p)) for f in goes_on for p in pauses]
    sim = await start_sim(sim_settings(conventions=preset(convention)))
    try:
        off = await start_bridge(sim, endpointing=False)
        plain = [w.text for w in await speak(off.port, [pcm for _, _, pcm in clips])]
        await off.close()
        pays = paying(commands)
        rows = []
        for wait in waits:
            rows.append(await wait_row(sim, wait, clips, plain, commands=commands, pays=pays))
            rows[-1]["convention"] = convention
        return rows
    finally:
        await sim.runner.cleanup()


async def wait_row(
    sim: Any,
    wait: int,
    clips: list[tuple[PauseFixture, int, bytes]],
    plain: list[str | None],
    *,
    commands: list[Fixture],
    pays: set[str],
) -> dict[str, Any]:
    """One wait: which pauses are cut; the commands' answer times."""
    bridge = await start_bridge(
        sim,
        endpointing=True,
        endpoint_extendable_silence_ms=wait,
        endpoint_target_silence_ms=wait,
    )
    bridge.ctx.completeness.set_names(home_names("en"))
    try:
        said = await speak(bridge.port, [pcm for _, _, pcm in clips])
        heard = await speak(bridge.port, [f.pcm() for f in commands])
    finally:
        await bridge.close()
    lost = [(f, p) for (f, p, _), w, t in zip(clips, said, plain, strict=True) if w.text != t]
    cut = sorted({p for _, p in lost})
    kept = [p for p in sorted({p for _, p, _ in clips}) if not cut or p < cut[0]]
    latency = {
        f.text: w.answered_at - speech_end(f)
        for f, w in zip(commands, heard, strict=True)
        if w.answered_at is not None
    }
    paid = [v for text, v in latency.items() if text in pays]
    return {
        "wait_ms": wait,
        "longest_kept_ms": kept[-1] if kept else None,
        "shortest_cut_ms": cut[0] if cut else None,
        "cut_fixtures": sorted({f"{f.path.stem} at {p} ms" for f, p in lost}),
        "commands_p50_ms": statistics.median(latency.values()) * 1000,
        "paying_p50_ms": statistics.median(paid) * 1000 if paid else None,
        "paying": len(paid),
        "commands": len(latency),
    }


def run(smoke: bool = False) -> dict[str, Any]:
    """The section's rows, every convention."""
    rows: list[dict[str, Any]] = []
    for convention in CONVENTIONS[:1] if smoke else CONVENTIONS:
        rows += run_virtual(lambda c=convention: convention_rows(c, smoke))[0]  # type: ignore[misc]
    return {"rows": rows, "pauses": list(PAUSES)}


def section(result: dict[str, Any]) -> list[str]:
    """Section 13 of results.md."""
    lines = [
        "## 13. What each 100 ms of pause tolerance costs",
        "",
        "The waits for a whole command that could go on (endpoint_extendable_silence_ms and "
        "endpoint_target_silence_ms set together to the row's value), against the longest "
        "pause inside a request never cut (each of the goes_on fixtures with its pause set to "
        f"{', '.join(str(p) for p in result['pauses'])} ms) and the plain commands' end of "
        "speech → transcript (all of them, and those that pay the wait). On the virtual "
        "clock: exact, for the bridge and the simulator (`benchmarks/tolerance.py`).",
        "",
        "| convention | wait (ms) | longest pause never cut (ms) | shortest pause cut (ms) "
        "| commands that pay it: p50 (ms) | all commands: p50 (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for r in result.get("rows", []):
        lines.append(
            f"| {r['convention']} | {r['wait_ms']} | {r['longest_kept_ms'] or '–'} | "
            f"{r['shortest_cut_ms'] or 'none'} | "
            f"{r['paying_p50_ms']:.0f} ({r['paying']}) | {r['commands_p50_ms']:.0f} |"
        )
    return [*lines, ""]
