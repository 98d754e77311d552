"""Endpointing over real sockets: the bridge ends a live command itself and answers before
audio-stop; Home Assistant 2026 then closes at once, 2025.4 keeps uploading until its own VAD
ends the turn. A recording (audio faster than real time) still gets its whole text."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
import pytest
from wyoming.event import Event

from tests.conftest import Sim, sim_settings, start_bridge, start_sim
from tests.home import home_names
from tests.virtual_time import captured, on_virtual_time
from tests.wyoming_client import transcribe, watch_utterance
from truebar_sim.fixtures import load_fixtures, speech_end_seconds
from wyoming_truebar.server.wyoming_io import EventParser, encode_event

FIXTURES = load_fixtures()
TRAILING = bytes(2 * 32000)
"""Two seconds of silence after each command: the client's own VAD would end it later."""


async def both_ways(sim: Sim, pcms: list[bytes], **watch: Any) -> tuple[list[Any], list[Any]]:
    """Every utterance in real time, at once, through a bridge with endpointing off, then on."""
    results = []
    for endpointing in (False, True):
        bridge = await start_bridge(sim, endpointing=endpointing)
        try:
            results.append(
                await asyncio.gather(*(watch_utterance(bridge.port, p, **watch) for p in pcms))
            )
        finally:
            await bridge.close()
    return results[0], results[1]


@on_virtual_time
async def test_every_fixture_is_answered_before_audio_stop_with_the_same_text() -> None:
    """Fourteen live streams at once, on the virtual clock: in real time in one process,
    under the load of the tests beside it, the bridge's own loop fell behind its clients and
    a command was answered after audio-stop (tests/test_conventions.py holds every fixture
    under every convention on the virtual clock, and a sample in real time over processes)."""
    sim = await start_sim(sim_settings())
    try:
        off, on = await both_ways(sim, [f.pcm() + TRAILING for f in FIXTURES])
    finally:
        await sim.runner.cleanup()
    for fixture, plain, early in zip(FIXTURES, off, on, strict=True):
        assert early.text == plain.text, fixture.text
        assert early.answered_at is not None
        assert early.stop_sent_at is not None
        assert early.answered_at < early.stop_sent_at, fixture.text
        # The client kept uploading after the answer (as Home Assistant 2025.4 does): the
        # bridge read on and never closed first, and said nothing more.
        assert early.write_failed_at is None
        kinds = [e.type for _, e in early.events]
        assert "error" not in kinds
        assert kinds[-2:] == ["transcript", "transcript-stop"]


async def test_home_assistant_2025_4_is_not_endpointed(sim: Sim) -> None:
    """wyoming 1.5.4 (every header says so) reads only after audio-stop: an early end would
    gain it nothing, so the bridge answers at audio-stop; a newer client is answered early."""
    bridge = await start_bridge(sim, endpointing=True)
    try:
        pcm = FIXTURES[0].pcm() + TRAILING
        old, new = await asyncio.gather(
            watch_utterance(bridge.port, pcm, version="1.5.4"),
            watch_utterance(bridge.port, pcm, version="1.10.2"),
        )
        assert old.text == new.text == FIXTURES[0].text
        assert old.answered_at is not None
        assert old.stop_sent_at is not None
        assert old.answered_at > old.stop_sent_at
        assert new.answered_at is not None
        assert new.stop_sent_at is not None
        assert new.answered_at < new.stop_sent_at
        metrics = bridge.ctx.metrics.render().decode()
        assert 'wyoming_truebar_utterance_endings_total{ending="audio_stop"} 1.0' in metrics
    finally:
        await bridge.close()


@on_virtual_time
async def test_words_a_final_drops_are_answered_when_the_bridge_ended_the_command() -> None:
    """A recogniser that needs far more audio after a word than endpoint_tail_ms to commit it
    drops the last words of its final (the find that issue 25 made). When the bridge ended
    the command on an interim that had those words, it answers them (issue 37): the final is
    a strict prefix of the evidence."""
    sim = await start_sim(sim_settings(final_lookahead_ms=900))
    bridge = await start_bridge(sim, endpointing=True)
    # The test home's names: "turn on the kitchen light" is whole and nothing would change
    # it, so the bridge ends it after the short silence, long before Truebar commits "light"
    bridge.ctx.completeness.set_names(home_names("en"))
    handler = logging.getLogger("wyoming_truebar.server.handler")
    with captured(handler) as lines:
        try:
            fixture = FIXTURES[0]
            watched = await watch_utterance(bridge.port, fixture.pcm() + TRAILING)
            metrics = bridge.ctx.metrics.render().decode()
        finally:
            await bridge.close()
            await sim.runner.cleanup()
    assert watched.text == fixture.text
    assert "wyoming_truebar_words_restored_total 1.0" in metrics
    assert "wyoming_truebar_words_lost_at_finalisation_total 0.0" in metrics
    assert any("dropped" in line and "answered with them" in line for line in lines), lines


@on_virtual_time
async def test_when_the_client_ends_the_command_truebars_final_stands() -> None:
    """audio-stop 200 ms after the speech, before the bridge's own end: the final that dropped
    words is answered as it is, and the loss is counted and logged."""
    sim = await start_sim(sim_settings(final_lookahead_ms=900))
    bridge = await start_bridge(sim, endpointing=True)
    # The test home's names: "turn on the kitchen light" is whole and nothing would change
    # it, so the bridge ends it after the short silence, long before Truebar commits "light"
    bridge.ctx.completeness.set_names(home_names("en"))
    handler = logging.getLogger("wyoming_truebar.server.handler")
    with captured(handler) as lines:
        try:
            fixture = FIXTURES[0]
            spoken = int(speech_end_seconds(fixture.pcm()) * 16000) * 2
            watched = await watch_utterance(bridge.port, fixture.pcm()[:spoken] + bytes(6400))
            metrics = bridge.ctx.metrics.render().decode()
        finally:
            await bridge.close()
            await sim.runner.cleanup()
    assert watched.text is not None
    assert len(watched.text.split()) < len(fixture.text.split())
    assert 'ending="audio_stop"} 1.0' in metrics
    assert "wyoming_truebar_words_lost_at_finalisation_total 1.0" in metrics
    assert "wyoming_truebar_words_restored_total 0.0" in metrics
    assert any("fewer than its interim that covered the speech" in ln for ln in lines), lines


async def test_without_word_times_the_bridge_ends_on_the_long_silence(
    byte_sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    """The byte-counting simulator stamps every token with one span: no word times. The
    bridge then never ends on the short silence; it says so once per process."""
    bridge = await start_bridge(byte_sim, endpointing=True)
    try:
        caplog.set_level(logging.INFO, logger="wyoming_truebar")
        pcm = FIXTURES[0].pcm() + TRAILING
        for _ in range(2):
            watched = await watch_utterance(bridge.port, pcm)
            assert watched.text is not None
            assert watched.text.endswith(" bytes")
        metrics = bridge.ctx.metrics.render().decode()
        assert 'wyoming_truebar_utterance_endings_total{ending="long_silence"} 2.0' in metrics
        assert caplog.text.count("carry no usable word times") == 1
    finally:
        await bridge.close()


async def test_home_assistant_2026_closing_after_the_early_answer_is_no_failure(
    sim: Sim, http: aiohttp.ClientSession
) -> None:
    bridge = await start_bridge(sim, endpointing=True)
    try:
        fixture = FIXTURES[0]
        watched = await watch_utterance(bridge.port, fixture.pcm() + TRAILING, stop_on_answer=True)
        assert watched.text == fixture.text
        assert watched.stop_sent_at is None  # no audio-stop: the client closed on the answer
        for _ in range(50):  # the bridge notices the close and ends the utterance
            if bridge.ctx.active == 0:
                break
            await asyncio.sleep(0.02)
        assert bridge.ctx.active == 0
        metrics = bridge.ctx.metrics.render().decode()
        assert 'wyoming_truebar_utterances_total{code="",outcome="ok"} 1.0' in metrics
        assert 'outcome="error"' not in metrics
        assert 'wyoming_truebar_utterance_endings_total{ending="audio_stop"}' not in metrics
        session = (await sim.counters(http))["sessions"][-1]
        assert session["finished"]  # Truebar's session was finished, then closed
        assert (await sim.counters(http))["active_sessions"] == 0
    finally:
        await bridge.close()


async def test_a_recording_sent_faster_than_real_time_gets_its_whole_text(
    byte_sim: Sim,
) -> None:
    bridge = await start_bridge(byte_sim, endpointing=True)
    try:
        fixture = FIXTURES[1]
        pcm = fixture.pcm() + TRAILING + fixture.pcm()  # a pause the endpointer would end on
        reply = await transcribe(bridge.port, pcm, samples_per_chunk=160)
        assert reply.text == f"{len(pcm)} bytes"  # the byte-counting simulator: all of it
    finally:
        await bridge.close()


async def test_a_client_may_turn_endpointing_off_per_request(sim: Sim) -> None:
    bridge = await start_bridge(sim, endpointing=True)
    try:
        fixture = FIXTURES[3]
        pcm = fixture.pcm() + TRAILING
        watched = await watch_utterance(bridge.port, pcm, context={"endpointing": False})
        assert watched.text == fixture.text
        assert watched.answered_at is not None
        assert watched.stop_sent_at is not None
        assert watched.answered_at >= watched.stop_sent_at
    finally:
        await bridge.close()


@on_virtual_time
async def test_an_utterance_answered_early_does_not_hold_a_shutdown() -> None:
    """After the bridge's early answer the client may keep the connection open with no
    audio-stop (it reads late, or it went quiet): a graceful stop must not wait for it, nor
    fail an utterance that was answered (seen: ten seconds of shutdown_grace, then
    'failed with service_unavailable' for a command answered 10 ms before SIGTERM)."""
    sim = await start_sim(sim_settings())
    bridge = await start_bridge(sim, endpointing=True, shutdown_grace=10)
    handler = logging.getLogger("wyoming_truebar.server.handler")
    loop = asyncio.get_running_loop()
    fixture = FIXTURES[0]
    reader, writer = await asyncio.open_connection("127.0.0.1", bridge.port)
    parser = EventParser(1 << 20)
    fmt = {"rate": 16000, "width": 2, "channels": 1}
    with captured(handler) as lines:
        try:
            writer.write(encode_event(Event("transcribe", {"language": "en"})))
            writer.write(encode_event(Event("audio-start", fmt)))
            pcm, answered = fixture.pcm() + TRAILING, False
            for offset in range(0, len(pcm), 320):
                chunk = Event("audio-chunk", fmt, pcm[offset : offset + 320])
                writer.write(encode_event(chunk))
                await asyncio.sleep(0.01)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0):
                        data = await reader.read(65536)
                        answered = any(e.type == "transcript" for e in parser.feed(data))
                if answered:
                    break  # ... and the client says nothing more, and stays connected
            assert answered
            stopping = loop.time()
            await bridge.server.stop(bridge.ctx.settings.shutdown_grace)
            assert loop.time() - stopping < 1.0
        finally:
            writer.close()
            await bridge.close()
            await sim.runner.cleanup()
    assert not [line for line in lines if "failed with" in line], lines
