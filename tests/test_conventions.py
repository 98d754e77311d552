"""The early end under every stream convention the simulator can play (issue 32): each
endpointing fixture, spoken live the way Home Assistant 2026 sends it (10 ms chunks in real
time, the upload ended by the answer), through a bridge with endpointing on, must come back
exactly as endpointing off gives it. The simulator runs as its own process, so its decoding
never stalls the client or the bridge.

Endpointing off's transcripts are taken from the whole clip sent at full speed through a
bridge with endpointing off (not endpointed, never early): the simulator's finals depend on
the audio alone, not on its pace, so this is the transcript an endpointing-off bridge gives a
live client, at a tenth of the cost.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.conftest import start_bridge
from tests.procs import bridge_env, command, sim_process
from tests.wyoming_client import transcribe, watch_utterance
from truebar_sim.conventions import PRESETS
from truebar_sim.fixtures import Fixture, endpointing_fixtures, load_slovenian_fixtures

TRAILING = bytes(2 * 32000)
"""Two seconds of silence after each command, as a microphone keeps sending."""
AT_ONCE = 4
"""Live utterances at a time per simulator process (it decodes each interim on one core)."""
ENGLISH: list[Fixture] = endpointing_fixtures()
"""The commands, the pause fixtures, real recorded voices (clean and in steady noise)."""
SLOVENIAN: list[Fixture] = [*load_slovenian_fixtures()]
"""The Slovenian commands, which the simulator hears by their known words (`--scripts
bundled`)."""


@dataclass
class Remote:
    """A simulator process, as the bridge settings name it."""

    url: str


async def transcripts_off(sim: Remote, fixtures: list[Fixture]) -> list[str | None]:
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
    sim: Remote, fixtures: list[Fixture], at_once: int
) -> tuple[list[Any], str]:
    """Each fixture live, endpointed, `at_once` at a time; the bridge's /metrics at the end."""
    bridge = await start_bridge(sim, endpointing=True)
    gate = asyncio.Semaphore(at_once)

    async def one(fixture: Fixture) -> Any:
        async with gate:
            return await watch_utterance(
                bridge.port,
                fixture.pcm() + TRAILING,
                language=fixture.language,
                stop_on_answer=True,
                timeout=60,
            )

    try:
        watched = await asyncio.gather(*(one(f) for f in fixtures))
        return watched, bridge.ctx.metrics.render().decode()
    finally:
        await bridge.close()


async def group(
    convention: str, fixtures: list[Fixture], at_once: int = AT_ONCE
) -> list[tuple[str, str | None, Any]]:
    """Fixtures against a simulator process of their own: (name, off, on) each, and a last
    row if a live command was not ended by the bridge."""
    async with sim_process("--conventions", convention, "--scripts", "bundled") as proc:
        sim = Remote(f"http://127.0.0.1:{proc.port}")
        off = await transcripts_off(sim, fixtures)
        on, metrics = await transcripts_on(sim, fixtures, at_once)
    rows = [
        (f.path.name, plain, early.text) for f, plain, early in zip(fixtures, off, on, strict=True)
    ]
    if 'ending="audio_stop"' in metrics:  # every command was live: the bridge must end it
        rows.append(("a command ended by audio-stop", "bridge", "client"))
    return rows


@pytest.mark.timeout(300)
@pytest.mark.parametrize("convention", sorted(PRESETS))
async def test_no_convention_costs_a_word_to_the_early_end(convention: str) -> None:
    """Three simulator processes at once: two decode half the English fixtures each (on a
    core each), the third hears the Slovenian ones by their scripts (nearly free, so all
    at once)."""
    groups = await asyncio.gather(
        group(convention, ENGLISH[::2]),
        group(convention, ENGLISH[1::2]),
        group(convention, SLOVENIAN, at_once=len(SLOVENIAN)),
    )
    lost = [row for rows in groups for row in rows if row[1] != row[2]]
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
    "interims_1000": [r"interims every (9\d\d|1\d\d\d) ms"],  # about a second of wall time
    "interims_off": ["no interims seen"],
    "relative_offsets_250": ["token times relative to the segment"],
    "punctuation_untimed_250": [r"punctuation timed untimed \(in interims too"],
    "punctuation_at_end_250": [r"punctuation timed end \(in interims too"],
    "placeholder_offsets": ["tokens without usable word times"],
    "network_120": [r"round trip \(CONFIG → CONFIGURED\) 1[23]\d ms", "expected answer about"],
}
"""What `--check`'s conventions step must say of a simulator playing each preset (regular
expressions)."""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("convention", sorted(CHECK_SAYS))
async def test_check_reports_the_conventions_the_simulator_plays(convention: str) -> None:
    async with sim_process("--conventions", convention) as proc:
        done = await asyncio.to_thread(
            subprocess.run,
            [command("wyoming-truebar"), "--check"],
            env=bridge_env(f"http://127.0.0.1:{proc.port}"),
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    step = done.stdout.strip().splitlines()[-1]
    assert step.startswith("[ ok ] 8. stream conventions: "), done.stdout
    for words in CHECK_SAYS[convention]:
        assert re.search(words, step), step


@pytest.mark.timeout(120)
async def test_only_live_audio_teaches_the_cadence_and_the_text_lag() -> None:
    """A recording sent at full speed gets its text as fast as Truebar decodes it: that pace
    is no speaker's, so the endpointer must not learn it (the round trip and EOS → FINISHED
    are the service's whatever the client's pace)."""
    pause = bytes(20000)  # 0.6 s between commands: finals and interims come mid-stream
    recording = b"".join(f.pcm() + pause for f in ENGLISH[:4])
    async with sim_process() as proc:
        bridge = await start_bridge(Remote(f"http://127.0.0.1:{proc.port}"), endpointing=True)
        try:
            learned = bridge.ctx.conventions
            reply = await transcribe(bridge.port, recording, realtime=True, speed=4, timeout=30)
            assert reply.text
            assert learned.interims >= 2  # interims came, and were not learned from
            assert (list(learned.interim_gaps), list(learned.text_lags)) == ([], [])
            assert learned.round_trips and learned.finishes
            pcm = ENGLISH[0].pcm() + TRAILING[:16000]
            reply = await transcribe(bridge.port, pcm, realtime=True, samples_per_chunk=160)
            assert reply.text
            assert learned.interim_gaps and learned.text_lags
        finally:
            await bridge.close()
