"""Every answer within answer_deadline of the end of speech, whatever Truebar does: each failure
of the issue's table over real sockets, a real-time 2.6 s utterance in 10 ms pieces, timed from
audio-stop (or the bridge's own end of the command) to the first answer the client gets.

On the virtual clock (tests/virtual_time.py), where the bound is exact: the answer comes at
the budget, not within some slack of it. Home Assistant's suite holds the same budget in real
time (test_a_token_outage_reaches_home_assistant_within_the_answer_budget)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.conftest import Sim, sim_settings, start_bridge, start_sim
from tests.virtual_time import on_virtual_time
from tests.wyoming_client import Watched, transcribe, watch_utterance
from truebar_sim.fixtures import load_fixtures

FIXTURES = load_fixtures()
BUDGET = 3.0
"""answer_deadline's default."""
MARGIN = 0.02
"""Virtual time: one 10 ms chunk, and the answer's own loop turns."""
UTTERANCE = 2.6


def audio(index: int = 0) -> bytes:
    """A command padded with silence to UTTERANCE seconds (whole 10 ms pieces)."""
    pcm = FIXTURES[index].pcm()
    total = int(UTTERANCE * 32000) // 320 * 320
    return pcm + bytes(max(0, total - len(pcm)))


def answered_after(watched: Watched, since: float | None = None) -> float:
    """Seconds from `since` (default: audio-stop) to the first answer: transcript, error, close."""
    times = [t for t, e in watched.events if e.type in ("transcript", "error")]
    if watched.closed_at is not None:
        times.append(watched.closed_at)
    start = watched.stop_sent_at if since is None else since
    assert times, watched
    assert start is not None, watched
    return min(times) - start


@asynccontextmanager
async def simulator(**faults: Any) -> AsyncIterator[Sim]:
    """A recognising simulator on this loop, with these faults."""
    sim = await start_sim(sim_settings())
    sim.state.faults.update(faults)
    try:
        yield sim
    finally:
        await sim.runner.cleanup()


async def one(sim: Sim, **settings: Any) -> Watched:
    bridge = await start_bridge(sim, **settings)
    try:
        return await watch_utterance(bridge.port, audio())
    finally:
        await bridge.close()


@on_virtual_time
async def test_a_healthy_utterance_is_unchanged() -> None:
    async with simulator() as sim:
        watched = await one(sim)
    assert watched.text == FIXTURES[0].text
    assert watched.error is None
    assert answered_after(watched) < BUDGET


@on_virtual_time
async def test_expired_token_and_a_token_endpoint_down() -> None:
    async with simulator() as sim:
        sim.state.tokens.access_lifetime = 1
        sim.state.tokens.refresh_lifetime = 1
        bridge = await start_bridge(sim)
        try:
            assert (await watch_utterance(bridge.port, audio())).text == FIXTURES[0].text
            sim.state.faults.token_endpoint_down = True
            await asyncio.sleep(1.1)  # the cached access and refresh tokens have expired
            watched = await watch_utterance(bridge.port, audio())
        finally:
            await bridge.close()
    assert watched.error is not None
    assert watched.error[1] == "service_unavailable"
    assert answered_after(watched) <= BUDGET + MARGIN


@pytest.mark.parametrize(
    ("faults", "code"),
    [
        ({"unavailable_upgrades": 1000}, "service_unavailable"),
        ({"never_finish": 1}, "timeout"),
        ({"drop_after_bytes": 3200, "drop_sessions": 1000}, "service_unavailable"),
    ],
    ids=["every-upgrade-503", "finished-never", "drop-on-every-try"],
)
@on_virtual_time
async def test_truebar_failing_is_told_within_the_budget(faults: dict[str, Any], code: str) -> None:
    async with simulator(**faults) as sim:
        watched = await one(sim)
    assert watched.error is not None, watched
    assert watched.error[1] == code
    assert answered_after(watched) <= BUDGET + MARGIN


@on_virtual_time
async def test_old_waits_longer_than_the_budget_are_clamped_not_refused() -> None:
    async with simulator(never_finish=1) as sim:
        bridge = await start_bridge(sim, finish_timeout=10, reconnect_deadline=20)
        try:
            settings = bridge.ctx.settings
            assert (settings.finish_timeout, settings.reconnect_deadline) == (BUDGET, BUDGET)
            assert len(settings.clamped) == 2
            watched = await watch_utterance(bridge.port, audio())
        finally:
            await bridge.close()
    assert watched.error is not None
    assert watched.error[1] == "timeout"
    assert answered_after(watched) <= BUDGET + MARGIN


@on_virtual_time
async def test_the_budget_starts_at_the_bridges_own_end_of_the_command() -> None:
    budget = 1.0
    pcm = FIXTURES[0].pcm() + bytes(4 * 32000)  # the client would stop much later
    async with simulator(never_finish=1) as sim:
        bridge = await start_bridge(sim, endpointing=True, answer_deadline=budget)
        try:
            watched = await watch_utterance(bridge.port, pcm)
        finally:
            await bridge.close()
    assert watched.error is not None
    assert watched.error[1] == "timeout"
    assert watched.error[0] < len(pcm) / 32000  # before the client's own end of the audio
    # The bridge ended the command at most endpoint_max_silence_ms after the speech.
    speech_end = len(FIXTURES[0].pcm()) / 32000
    assert watched.error[0] - speech_end <= 1.0 + budget + MARGIN


@on_virtual_time
async def test_a_recording_gets_its_length_on_top_of_the_budget() -> None:
    """Sent at full speed, 2.6 s of audio: Truebar may take its length to decode, so the
    budget runs from when the audio would have ended live. A live stream keeps the budget."""
    async with simulator(finished_delay=1.6) as sim:  # FINISHED 1.6 s after EOS
        bridge = await start_bridge(sim, answer_deadline=1.0)
        try:
            recording = await transcribe(bridge.port, audio(), samples_per_chunk=160)
            live = await watch_utterance(bridge.port, audio())
        finally:
            await bridge.close()
    assert recording.error_code is None
    assert recording.text == FIXTURES[0].text
    assert live.error is not None
    assert live.error[1] == "timeout"
    assert answered_after(live) <= 1.0 + MARGIN
