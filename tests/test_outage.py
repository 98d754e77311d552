"""Outages of the token endpoint and hopeless failures, over real sockets, in real time.

Transient failures are ridden out while the user speaks; the token endpoint is spared by the
credentials cache's circuit breaker; hopeless failures reach the client at once.
"""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from tests.conftest import Sim, start_bridge, watch_with
from tests.wyoming_client import watch_utterance
from truebar_sim.fixtures import load_fixtures

FIXTURES = load_fixtures()
SECOND = 32000
"""Bytes of one second of 16 kHz mono 16-bit audio."""


def padded(pcm: bytes, seconds: float) -> bytes:
    """The audio followed by silence, `seconds` long in all (whole 10 ms pieces)."""
    total = int(seconds * SECOND) // 320 * 320
    return pcm + bytes(max(0, total - len(pcm)))


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.mark.timeout(60)
async def test_endpoint_back_while_users_speak_saves_every_utterance(sim: Sim) -> None:
    # Short tokens, so that the cached one has expired when the outage begins.
    sim.state.tokens.access_lifetime = 1
    sim.state.tokens.refresh_lifetime = 1
    running = await start_bridge(sim)
    try:
        warm = await watch_utterance(running.port, padded(FIXTURES[0].pcm(), 2))
        assert warm.text == FIXTURES[0].text
        sim.state.faults.token_endpoint_down = True
        await asyncio.sleep(1.1)  # the access and refresh tokens have expired
        chosen = [FIXTURES[i] for i in (0, 1, 2, 3, 4, 6, 7, 9)]
        utterances = [
            asyncio.create_task(watch_utterance(running.port, padded(f.pcm(), 3.5))) for f in chosen
        ]
        await asyncio.sleep(1.0)
        sim.state.faults.token_endpoint_down = False  # back while they all still speak
        results = await asyncio.gather(*utterances)
        metrics = running.ctx.metrics.render().decode()
    finally:
        await running.close()
    assert [r.text for r in results] == [f.text for f in chosen]
    assert all(r.error is None for r in results)
    assert metric(metrics, "wyoming_truebar_utterances_saved_total") == len(chosen)


@pytest.mark.timeout(90)
async def test_ten_second_outage_spares_the_token_endpoint(
    byte_sim: Sim, http: aiohttp.ClientSession
) -> None:
    byte_sim.state.tokens.access_lifetime = 1
    byte_sim.state.tokens.refresh_lifetime = 1
    running = await start_bridge(byte_sim)
    pcm = bytes(SECOND)
    try:
        assert (await watch_utterance(running.port, pcm)).text == f"{len(pcm)} bytes"
        await asyncio.sleep(1.1)  # the tokens have expired
        byte_sim.state.faults.token_endpoint_down = True
        before = await byte_sim.counters(http)
        outage = asyncio.Event()

        async def satellite() -> None:
            while not outage.is_set():  # back to back, as long as the outage lasts
                await watch_utterance(running.port, pcm)

        satellites = [asyncio.create_task(satellite()) for _ in range(10)]
        await asyncio.sleep(10)
        outage.set()
        byte_sim.state.faults.token_endpoint_down = False
        during = await byte_sim.counters(http)
        # The first utterance after the endpoint is back succeeds, with no restart.
        after = await watch_utterance(running.port, pcm)
        await asyncio.gather(*satellites)
    finally:
        await running.close()
    requests = during["token_endpoint_errors"] - before["token_endpoint_errors"]
    assert 1 <= requests <= 15
    assert after.text == f"{len(pcm)} bytes"


async def test_wrong_password_is_an_error_and_a_close_within_a_second(sim: Sim) -> None:
    watched = await watch_with(sim, padded(FIXTURES[0].pcm(), 3.5), password="wrong")
    assert watched.error is not None
    when, code = watched.error
    assert code == "auth_failed"
    assert watched.closed_at is not None
    # Heard while the user is still speaking (the 3.5 s utterance), not at audio-stop.
    assert when < 1.0
    assert watched.closed_at < 1.0
    # And a client that only writes (Home Assistant) finds the line dead as soon: its next
    # write fails once the bridge has closed after the linger.
    assert watched.write_failed_at is not None
    assert watched.write_failed_at < 1.0
    assert watched.text is None


async def test_error_in_answer_to_config_is_reported_at_once(sim: Sim) -> None:
    sim.state.faults.error_after_config = 1
    watched = await watch_with(sim, padded(FIXTURES[0].pcm(), 3.5))
    assert watched.error is not None
    assert watched.error[1] == "service_error"
    assert watched.closed_at is not None
    assert watched.closed_at < 1.0
