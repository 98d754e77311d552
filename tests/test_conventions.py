"""The early end under every stream convention the simulator can play (issues 32 and 36): each
endpointing fixture, spoken live the way Home Assistant 2026 sends it (10 ms chunks in real
time, the upload ended by the answer), through a bridge with endpointing on, must come back
exactly as endpointing off gives it.

Two ways, for what each can prove:
- **Every fixture under every convention, on a virtual clock** (`tests/virtual_time.py`): the
  simulator, the bridges and the clients run in this process over real loopback sockets, the
  simulator looking its decodes up in the record made once from the fixtures
  (`script/record_decodes.py`); ten seconds of speech cost their CPU, not their time. The
  timing every party sees is a live stream's, with a decoder that is infinitely fast. Being
  exact, it can also hold the answer's time: under the defaults every command is answered
  before Home Assistant's own detector would end it.
- **A sample in real time, over real processes**: the defaults and the two harshest
  conventions, a quarter of the fixtures of each language, the simulator in its own process
  as in production (a loaded machine, a network).

Endpointing off's transcripts come from the whole clip sent at full speed through a bridge
with endpointing off: the simulator's finals depend on the audio alone, not on its pace.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.conftest import Sim, bridge_settings, sim_settings, start_bridge, start_sim
from tests.home import home_names
from tests.procs import sim_process
from tests.virtual_time import on_virtual_time
from tests.wyoming_client import Watched, transcribe, watch_utterance
from truebar_sim.conventions import HARSHEST, PRESETS, preset
from truebar_sim.fixtures import (
    Fixture,
    endpointing_fixtures,
    load_slovenian_fixtures,
    speech_end_of,
)
from truebar_sim.script import Script, script_entries

TRAILING = bytes(2 * 32000)
"""Two seconds of silence after each command, as a microphone keeps sending."""
AT_ONCE = 4
"""Live utterances at a time per simulator process in real time (it decodes each interim on
one core)."""
ENGLISH: list[Fixture] = endpointing_fixtures()
"""The commands, the pause fixtures, real recorded voices (clean and in steady noise)."""
SLOVENIAN: list[Fixture] = [*load_slovenian_fixtures()]
"""The Slovenian commands, which the simulator hears by their known words."""
EVERY = [*ENGLISH, *SLOVENIAN]
HOME_ASSISTANTS_END_S = 1.2
"""Under the simulator's defaults, the bridge answers within this long of the end of speech
(virtual time, exact), before Home Assistant's own detector ends the turn: it needs 0.7 s of
silence, which its microVAD hears about half a second late (measured end of speech →
stt-end: p50 1.32 s)."""


@dataclass
class Remote:
    """A simulator process, as the bridge settings name it."""

    url: str


def hear_slovenian(sim: Sim) -> None:
    """Let an in-process simulator hear the Slovenian fixtures by their scripts."""
    entries = script_entries(load_slovenian_fixtures())["scripts"]
    scripts = [Script.from_json(entry) for entry in entries]
    sim.state.scripts.update((script.blocks, script) for script in scripts)


OFF: dict[tuple[object, ...], list[str | None]] = {}
"""Endpointing off's transcripts on the virtual clock, by what of a convention shapes a
final's text (punctuation, and where finals split): every other switch shapes interims,
times or delays, which endpointing off never reads (it asks for no interims)."""


def text_shape(convention: str) -> tuple[object, ...]:
    c = preset(convention)
    return (c.punctuate, c.punctuation_in_interims, c.final_pause_ms)


async def transcripts_off(sim: Remote | Sim, fixtures: list[Fixture]) -> list[str | None]:
    """Each fixture's transcript with endpointing off (see the module)."""
    bridge = await start_bridge(sim, endpointing=False)
    try:
        replies = [
            await transcribe(bridge.port, f.pcm() + TRAILING, language=f.language) for f in fixtures
        ]
        return [reply.text for reply in replies]
    finally:
        await bridge.close()


async def transcripts_on(
    sim: Remote | Sim, fixtures: list[Fixture], at_once: int
) -> tuple[list[Watched], str]:
    """Each fixture live, endpointed, `at_once` at a time, through a bridge that knows its
    language's test home (as it reads it from Home Assistant); the bridges' /metrics at the
    end."""
    gate = asyncio.Semaphore(at_once)
    bridges = {}
    for language in sorted({f.language for f in fixtures}):
        bridges[language] = await start_bridge(sim, endpointing=True)
        bridges[language].ctx.completeness.set_names(home_names(language))

    async def one(fixture: Fixture) -> Watched:
        async with gate:
            return await watch_utterance(
                bridges[fixture.language].port,
                fixture.pcm() + TRAILING,
                language=fixture.language,
                stop_on_answer=True,
                timeout=60,
            )

    try:
        watched = await asyncio.gather(*(one(f) for f in fixtures))
        metrics = "".join(b.ctx.metrics.render().decode() for b in bridges.values())
        return list(watched), metrics
    finally:
        for bridge in bridges.values():
            await bridge.close()


def differences(
    fixtures: list[Fixture], off: list[str | None], on: list[Watched], metrics: str
) -> list[tuple[str, str | None, str | None]]:
    """(fixture, off, on) wherever the two differ, and a row if a live command was not
    ended by the bridge (every one is live: the bridge must end it)."""
    rows = [
        (f.path.name, plain, early.text)
        for f, plain, early in zip(fixtures, off, on, strict=True)
        if plain != early.text
    ]
    if 'ending="audio_stop"' in metrics:
        rows.append(("a command ended by audio-stop", "bridge", "client"))
    return rows


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "convention",
    [c if c == "default" else pytest.param(c, marks=pytest.mark.slow) for c in sorted(PRESETS)],
)
@on_virtual_time
async def test_no_convention_costs_a_word_to_the_early_end(convention: str) -> None:
    """Every fixture, English and Slovenian, at once, on the virtual clock."""
    sim = await start_sim(sim_settings(conventions=preset(convention)))
    try:
        hear_slovenian(sim)
        shape = text_shape(convention)
        if shape not in OFF:  # computed once per worker for each shape of the finals' text
            OFF[shape] = await transcripts_off(sim, EVERY)
        off = OFF[shape]
        on, metrics = await transcripts_on(sim, EVERY, at_once=len(EVERY))
    finally:
        await sim.runner.cleanup()
    assert not differences(EVERY, off, on, metrics), convention
    if convention == "default":
        late = [
            (f.path.name, round(answered - speech_end_of(f), 3))
            for f, w in zip(EVERY, on, strict=True)
            if (answered := w.answered_at) is not None
            and answered - speech_end_of(f) > HOME_ASSISTANTS_END_S
        ]
        assert not late, late


async def real_time_group(convention: str, fixtures: list[Fixture]) -> list[Any]:
    """Fixtures against a simulator process of their own, in real time."""
    async with sim_process("--conventions", convention, "--scripts", "bundled") as proc:
        sim = Remote(f"http://127.0.0.1:{proc.port}")
        off = await transcripts_off(sim, fixtures)
        on, metrics = await transcripts_on(sim, fixtures, AT_ONCE)
    return differences(fixtures, off, on, metrics)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("convention", ["default", *HARSHEST])
async def test_a_sample_in_real_time_over_real_processes(convention: str) -> None:
    """A quarter of each language's fixtures; the Slovenian ones (heard by their scripts,
    nearly free) on a simulator of their own."""
    groups = await asyncio.gather(
        real_time_group(convention, ENGLISH[::4]),
        real_time_group(convention, SLOVENIAN[::4]),
    )
    lost = [row for rows in groups for row in rows]
    assert not lost, f"{convention}: {lost}"


async def test_the_simulators_conventions_switch_over_its_control_endpoint(
    http: aiohttp.ClientSession,
) -> None:
    async with sim_process() as proc:
        url = f"http://127.0.0.1:{proc.port}/_sim/conventions"
        async with http.post(url, json={"preset": "network_120", "finish_ms": 50}) as resp:
            body = await resp.json()
        assert (body["downlink_ms"], body["finish_ms"], body["provisional_last_word"]) == (
            120,
            50,
            True,
        )
        async with http.post(url, json={"offsets": "sideways"}) as resp:
            assert resp.status == 400
        async with http.post(url.replace("conventions", "reset")) as resp:
            assert resp.status == 200
        async with http.get(url) as resp:
            assert (await resp.json())["downlink_ms"] == 0


CHECK_SAYS = {
    "default": ["interims every", "token times from the start of the stream"],
    "interims_1000": [r"interims every (9\d\d|1\d\d\d) ms"],
    "interims_off": ["no interims seen"],
    "relative_offsets_250": ["token times relative to the segment"],
    "punctuation_untimed_250": [r"punctuation timed untimed \(in interims too"],
    "punctuation_at_end_250": [r"punctuation timed end \(in interims too"],
    "placeholder_offsets": ["tokens without usable word times"],
    "network_120": [r"round trip \(CONFIG → CONFIGURED\) 1[23]\d ms", "expected answer about"],
}
"""What `--check`'s conventions step must say of a simulator playing each preset (regular
expressions)."""


@pytest.mark.parametrize("convention", sorted(CHECK_SAYS))
@on_virtual_time
async def test_check_reports_the_conventions_the_simulator_plays(convention: str) -> None:
    """The check's own code in this process, on the virtual clock (its utterance is seven
    seconds of real-time audio); `tests/test_networks.py` runs the command itself."""
    from wyoming_truebar.app.check import Verdict, run_check  # noqa: PLC0415
    from wyoming_truebar.truebar.network import new_http_session  # noqa: PLC0415

    sim = await start_sim(sim_settings(conventions=preset(convention)))
    settings = bridge_settings(sim)
    verdicts: list[Verdict] = []
    http = new_http_session(settings)
    try:
        assert await run_check(settings, http, verdicts.append), [v.line() for v in verdicts]
    finally:
        await http.close()
        await sim.runner.cleanup()
    step = verdicts[7].line()
    assert step.startswith("[ ok ] 8. stream conventions: "), step
    for words in CHECK_SAYS[convention]:
        assert re.search(words, step), step


@on_virtual_time
async def test_only_live_audio_teaches_the_cadence_and_the_text_lag() -> None:
    """A recording sent at full speed gets its text as fast as Truebar decodes it: that pace
    is no speaker's, so the endpointer must not learn it (the round trip and EOS → FINISHED
    are the service's whatever the client's pace). One rule tells live audio from a recording
    (live.Pace); on the virtual clock, the simulator's text is instant, so a recording's
    first second would teach a lag were any other rule used (it did: the session had one)."""
    pause = bytes(20000)  # 0.6 s between commands: finals and interims come mid-stream
    recording = b"".join(f.pcm() + pause for f in ENGLISH[:4])
    sim = await start_sim(sim_settings())
    bridge = await start_bridge(sim, endpointing=True)
    try:
        learned = bridge.ctx.conventions
        reply = await transcribe(bridge.port, recording, realtime=True, speed=4, timeout=30)
        assert reply.text
        assert learned.interims >= 2  # interims came, and were not learned from
        assert (list(learned.interim_gaps.samples), list(learned.text_lags.samples)) == ([], [])
        assert learned.round_trips.samples and learned.finishes.samples
        pcm = ENGLISH[0].pcm() + TRAILING[:16000]
        reply = await transcribe(bridge.port, pcm, realtime=True, samples_per_chunk=160)
        assert reply.text
        assert learned.interim_gaps.samples and learned.text_lags.samples
    finally:
        await bridge.close()
        await sim.runner.cleanup()
