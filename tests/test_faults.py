"""Failures and recovery: each simulator fault, seen from a Home Assistant-like client."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.conftest import Bridge, Sim, start_bridge
from tests.wyoming_client import transcribe
from truebar_sim.fixtures import load_fixtures

FIXTURE = load_fixtures()[0]
PCM = FIXTURE.pcm()


async def test_401_on_first_upgrade_still_gives_the_transcript(
    sim: Sim, bridge: Bridge, http: aiohttp.ClientSession
) -> None:
    await transcribe(bridge.port, PCM)  # the cache now holds a token
    sim.state.faults.unauthorized_upgrades = 1
    reply = await transcribe(bridge.port, PCM)
    assert reply.text == FIXTURE.text
    counters = await sim.counters(http)
    assert counters["ws_rejections"] == 1
    # The refused token was discarded and a fresh one fetched for the retry.
    assert counters["grants"]["password"] + counters["grants"]["refresh_token"] == 2


async def test_drop_mid_stream_is_replayed(
    sim: Sim, bridge: Bridge, http: aiohttp.ClientSession
) -> None:
    sim.state.faults.update({"drop_after_bytes": len(PCM) // 2, "drop_sessions": 1})
    reply = await transcribe(bridge.port, PCM, realtime=False)
    assert reply.text == FIXTURE.text
    sessions = (await sim.counters(http))["sessions"]
    assert len(sessions) == 2
    assert sessions[-1]["bytes"] == len(PCM)  # the whole utterance, from its start


async def test_drop_during_real_time_speech_is_replayed(sim: Sim, bridge: Bridge) -> None:
    sim.state.faults.update({"drop_after_bytes": 32000, "drop_sessions": 1})
    reply = await transcribe(bridge.port, PCM, realtime=True)
    assert reply.text == FIXTURE.text


async def test_error_after_config_is_error_then_close(sim: Sim, bridge: Bridge) -> None:
    sim.state.faults.error_after_config = 1
    reply = await transcribe(bridge.port, PCM)
    assert reply.error_code == "service_error"
    assert "pipeline failed to start" in str(reply.events[-1].data["text"])
    assert reply.closed


async def test_finished_never_comes_is_timeout_then_close(sim: Sim) -> None:
    running = await start_bridge(sim, finish_timeout=1.0)
    try:
        sim.state.faults.never_finish = 1
        loop = asyncio.get_running_loop()
        start = loop.time()
        reply = await transcribe(running.port, PCM)
        waited = loop.time() - start
    finally:
        await running.close()
    assert reply.error_code == "timeout"
    assert reply.closed
    assert waited < 1.0 + 5.0  # bounded by finish_timeout (plus generous slack for CI noise)


async def test_finished_late_within_timeout_is_fine(sim: Sim, bridge: Bridge) -> None:
    sim.state.faults.finished_delay = 0.5
    assert (await transcribe(bridge.port, PCM)).text == FIXTURE.text


async def test_token_endpoint_down_with_expired_token_then_recovers(
    sim: Sim, http: aiohttp.ClientSession
) -> None:
    sim.state.tokens.access_lifetime = 1
    sim.state.tokens.refresh_lifetime = 1
    # Tries go on for reconnect_deadline after audio-stop: keep the failing one short.
    running = await start_bridge(sim, reconnect_deadline=2.0)
    try:
        assert (await transcribe(running.port, PCM)).text == FIXTURE.text
        sim.state.faults.token_endpoint_down = True
        await asyncio.sleep(1.1)  # the cached token has expired
        reply = await transcribe(running.port, PCM)
        assert reply.error_code == "service_unavailable"
        assert reply.closed
        sim.state.faults.token_endpoint_down = False
        assert (await transcribe(running.port, PCM)).text == FIXTURE.text
    finally:
        await running.close()


async def test_token_endpoint_down_with_valid_token_keeps_working(sim: Sim, bridge: Bridge) -> None:
    assert (await transcribe(bridge.port, PCM)).text == FIXTURE.text
    sim.state.faults.token_endpoint_down = True
    assert (await transcribe(bridge.port, PCM)).text == FIXTURE.text


async def test_bad_credentials_are_auth_failed(sim: Sim) -> None:
    running = await start_bridge(sim, password="wrong")
    try:
        reply = await transcribe(running.port, PCM)
    finally:
        await running.close()
    assert reply.error_code == "auth_failed"
    assert reply.closed
    assert "wrong" not in str(reply.events[-1].data)


async def test_message_type_and_split_finals_and_warning(sim: Sim, bridge: Bridge) -> None:
    sim.state.faults.update(
        {"message_type_key": "messageType", "split_finals": True, "warning": True}
    )
    assert (await transcribe(bridge.port, PCM)).text == FIXTURE.text


async def test_latency_is_hidden_behind_speech(sim: Sim, bridge: Bridge) -> None:
    sim.state.faults.latency = 0.05
    assert (await transcribe(bridge.port, PCM, realtime=True)).text == FIXTURE.text


async def test_reconnects_are_bounded(sim: Sim, http: aiohttp.ClientSession) -> None:
    running = await start_bridge(sim, reconnect_attempts=2)
    try:
        sim.state.faults.update({"drop_after_bytes": 3200, "drop_sessions": 5})
        reply = await transcribe(running.port, PCM)
    finally:
        await running.close()
    assert reply.error_code == "service_unavailable"
    assert reply.closed
    assert (await sim.counters(http))["ws_connects"] == 2


async def test_busy_when_all_sessions_are_taken(sim: Sim) -> None:
    running = await start_bridge(sim, max_sessions=2)
    try:
        slow = [asyncio.create_task(transcribe(running.port, PCM, realtime=True)) for _ in range(2)]
        await asyncio.sleep(0.5)
        loop = asyncio.get_running_loop()
        start = loop.time()
        third = await transcribe(running.port, PCM)
        assert third.error_code == "busy"
        assert third.closed
        assert loop.time() - start < 2.0  # at once, never a hang
        assert [r.text for r in await asyncio.gather(*slow)] == [FIXTURE.text] * 2
        # The slots are free again.
        assert (await transcribe(running.port, PCM)).text == FIXTURE.text
    finally:
        await running.close()


async def test_utterance_too_long(sim: Sim) -> None:
    running = await start_bridge(sim, max_utterance_seconds=1.0)
    try:
        reply = await transcribe(running.port, PCM)
    finally:
        await running.close()
    assert reply.error_code == "too_long"
    assert reply.closed


@pytest.mark.parametrize("networks", ["10.0.0.0/8", "192.168.0.0/16,fd00::/8"])
async def test_allow_list_refuses_other_networks(sim: Sim, networks: str) -> None:
    running = await start_bridge(sim, allowed_networks=networks)
    try:
        reply = await transcribe(running.port, PCM)
    finally:
        await running.close()
    assert reply.error_code == "forbidden"
    assert reply.closed


async def test_allow_list_admits_listed_networks(sim: Sim) -> None:
    running = await start_bridge(sim, allowed_networks="10.0.0.0/8,127.0.0.0/8")
    try:
        assert (await transcribe(running.port, PCM)).text == FIXTURE.text
    finally:
        await running.close()
