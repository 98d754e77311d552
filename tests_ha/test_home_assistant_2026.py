"""What only Home Assistant 2026 does: it reads `error` and logs its text and code, and it asks
every Wyoming service for Info every 30 s (its coordinator), also while utterances run
(collected only on Home Assistant 2026 and newer, see conftest.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from homeassistant.components import stt
from homeassistant.components.wyoming.stt import _async_receive_result, _async_upload_audio
from homeassistant.core import HomeAssistant
from wyoming.asr import Transcribe
from wyoming.audio import AudioStart
from wyoming.client import AsyncTcpClient

from tests.procs import Proc
from tests_ha.conftest import Microphone, Sim, ha_pieces, own_bridge, process
from truebar_sim.fixtures import load_fixtures

FIXTURES = load_fixtures()


async def test_the_bridges_error_text_and_code_reach_home_assistants_log(
    hass: HomeAssistant, sim: Sim, processes: list[Proc], caplog: pytest.LogCaptureFixture
) -> None:
    _, entity = await own_bridge(hass, sim, processes, TRUEBAR_PASSWORD="wrong")
    pcm = ha_pieces(FIXTURES[0].pcm())
    with caplog.at_level(logging.ERROR, logger="homeassistant.components.wyoming"):
        result, _ = await process(entity, Microphone(pcm + pcm))
    assert result.result is stt.SpeechResultState.ERROR
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("homeassistant")]
    assert any(
        m.startswith("Error from Wyoming service: ") and m.endswith("(code: auth_failed)")
        for m in logged
    ), logged


async def test_describe_every_30_s_during_utterances_is_answered_and_delays_nothing(
    hass: HomeAssistant, sim: Sim, processes: list[Proc]
) -> None:
    bridge, entity = await own_bridge(hass, sim, processes)
    entry = hass.config_entries.async_entries("wyoming")[0]
    coordinator = entry.runtime_data.coordinator
    refreshed: list[bool] = []

    async def describe_again_and_again() -> None:
        # HA's own refresh (its Describe on a new connection, 5 s timeout), run every 0.2 s
        # instead of every 30 s. (Firing HA's clock forward would also fire this test's own
        # timers early: pytest-homeassistant runs every loop timer due by the new time.)
        while True:
            await coordinator.async_refresh()
            refreshed.append(coordinator.last_update_success)
            await asyncio.sleep(0.2)

    ticking = asyncio.create_task(describe_again_and_again())
    try:
        audio = [ha_pieces(f.pcm()) for f in FIXTURES[:6]]
        results = await asyncio.gather(*(process(entity, Microphone(pcm)) for pcm in audio))
    finally:
        ticking.cancel()
    for fixture, (result, _) in zip(FIXTURES, results, strict=False):
        assert (result.result, result.text) == (stt.SpeechResultState.SUCCESS, fixture.text)
    assert len(refreshed) >= 10
    assert all(refreshed), refreshed  # every Describe was answered
    assert "WARNING" not in bridge.output()


async def test_after_an_early_answer_the_bridge_reads_on_until_the_client_stops(
    hass: HomeAssistant, sim: Sim, processes: list[Proc]
) -> None:
    """Home Assistant's own upload and read, with the upload going on after the transcript
    (as a client that reads late does): the bridge must keep reading, never close first."""
    bridge, entity = await own_bridge(hass, sim, processes, TRUEBAR_ENDPOINTING="true")
    fixture = FIXTURES[0]
    mic = Microphone(ha_pieces(fixture.pcm()) + bytes(2 * 32000))
    service = entity.service  # type: ignore[attr-defined]
    async with AsyncTcpClient(service.host, service.port) as client:
        await client.write_event(Transcribe(language="en-US").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        upload = asyncio.create_task(_async_upload_audio(client, mic.stream()))
        result = await asyncio.wait_for(_async_receive_result(client), 30)
        assert (result.result, result.text) == (stt.SpeechResultState.SUCCESS, fixture.text)
        assert not upload.done()  # the answer came while the microphone still sent audio
        await asyncio.wait_for(upload, 30)  # every later piece and audio-stop went through
    assert mic.ended_at is not None
    assert "WARNING" not in bridge.output()
