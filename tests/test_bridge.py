"""The bridge end to end over real sockets: wyoming client → bridge → simulator."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math

import aiohttp
import pytest
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

from tests.conftest import Bridge, Sim, sim_settings, start_bridge, start_sim
from tests.truebar_client import password_grant, stream_pcm
from tests.virtual_time import on_virtual_time
from tests.wyoming_client import to_format, transcribe
from truebar_sim.fixtures import load_fixtures
from truebar_sim.state import RecognitionMode

FIXTURES = load_fixtures()


async def describe(port: int) -> tuple[Info, float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        event = await asyncio.wait_for(client.read_event(), 1.0)
    assert event is not None
    return Info.from_event(event), loop.time() - start


async def test_describe_lists_languages_from_the_tags(bridge: Bridge) -> None:
    info, _ = await describe(bridge.port)
    program = info.asr[0]
    assert program.name == "truebar"
    assert program.installed
    languages = {lang for model in program.models if model.installed for lang in model.languages}
    assert {"en-US", "sl-SI", "de-DE", "en", "sl", "de"} == languages


async def test_describe_is_fast_while_token_endpoint_unreachable() -> None:
    # Every Truebar URL points at a closed port; tries go on for reconnect_deadline.
    running = await start_bridge(None, reconnect_deadline=1.0)
    try:
        for _ in range(3):
            info, elapsed = await describe(running.port)
            assert info.asr
            assert elapsed < 1.0
        # Meanwhile an utterance fails cleanly, and Describe still answers.
        reply = await transcribe(running.port, FIXTURES[0].pcm()[:3200])
        assert reply.error_code == "service_unavailable"
        assert reply.closed
        assert (await describe(running.port))[0].asr
    finally:
        await running.close()


async def test_every_fixture_matches_direct_recognition(
    sim: Sim, bridge: Bridge, http: aiohttp.ClientSession
) -> None:
    token = (await password_grant(http, sim.url))["access_token"]
    for fixture in FIXTURES:
        pcm = fixture.pcm()
        direct = await stream_pcm(http, sim.url, token, pcm)
        reply = await transcribe(bridge.port, pcm)
        assert reply.text == direct.text, fixture.text
        # At 16 kHz mono 16-bit the bytes Truebar receives are the bytes the client sent.
        session = (await sim.counters(http))["sessions"][-1]
        assert session["bytes"] == len(pcm)
        assert session["sha256"] == hashlib.sha256(pcm).hexdigest()


async def test_language_reported_and_tag_configured(
    sim: Sim, bridge: Bridge, http: aiohttp.ClientSession
) -> None:
    for asked, tag, reported in (
        ("en", "KALDI:en-US:*:*", "en-US"),
        ("sl_SI", "KALDI:sl-SI:*:*", "sl-SI"),
        ("de-AT", "KALDI:de-DE:*:*", "de-DE"),
        ("xx", "KALDI:en-US:*:*", "en-US"),
    ):
        reply = await transcribe(bridge.port, FIXTURES[0].pcm(), language=asked)
        assert reply.events[0].data["language"] == reported
        pipeline = (await sim.counters(http))["pipelines"][-1]
        assert pipeline[0]["config"]["tag"] == tag


@pytest.mark.parametrize(
    ("rate", "width", "channels"),
    [(48000, 2, 2), (44100, 2, 1), (22050, 2, 1), (48000, 4, 1), (48000, 3, 2)],
)
async def test_other_formats_transcribe_correctly(
    sim: Sim, bridge: Bridge, http: aiohttp.ClientSession, rate: int, width: int, channels: int
) -> None:
    token = (await password_grant(http, sim.url))["access_token"]
    for fixture in FIXTURES:
        direct = await stream_pcm(http, sim.url, token, fixture.pcm())
        audio = to_format(fixture.pcm(), rate, width, channels)
        reply = await transcribe(bridge.port, audio, rate=rate, width=width, channels=channels)
        assert reply.text == direct.text, (fixture.text, rate, width, channels)


async def test_real_time_utterance_streams_while_speaking(
    sim: Sim, bridge: Bridge, http: aiohttp.ClientSession
) -> None:
    fixture = FIXTURES[2]
    task = asyncio.create_task(transcribe(bridge.port, fixture.pcm(), realtime=True))
    await asyncio.sleep(1.0)
    # Well before audio-stop, the Truebar session is open and audio is flowing.
    assert sim.state.counters.active_sessions == 1
    assert sim.state.counters.sessions[-1].get("recordingId")
    reply = await task
    assert reply.text == fixture.text
    assert not reply.closed


async def test_silence_gives_an_empty_transcript(bridge: Bridge) -> None:
    reply = await transcribe(bridge.port, bytes(32000))
    assert reply.text == ""


async def test_two_utterances_on_one_connection(byte_bridge: Bridge) -> None:
    from wyoming.asr import Transcribe  # noqa: PLC0415
    from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: PLC0415

    from tests.wyoming_client import read_reply  # noqa: PLC0415

    async with AsyncTcpClient("127.0.0.1", byte_bridge.port) as client:
        for size in (3200, 6400):
            await client.write_event(Transcribe(language="en").event())
            await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
            await client.write_event(AudioChunk(16000, 2, 1, bytes(size)).event())
            await client.write_event(AudioStop().event())
            assert (await read_reply(client)).text == f"{size} bytes"


async def test_fifty_concurrent_sessions_cost_one_grant(
    byte_sim: Sim, byte_bridge: Bridge, http: aiohttp.ClientSession
) -> None:
    pcm = FIXTURES[0].pcm()
    replies = await asyncio.gather(*(transcribe(byte_bridge.port, pcm) for _ in range(50)))
    assert all(r.text == f"{len(pcm)} bytes" for r in replies)
    counters = await byte_sim.counters(http)
    assert counters["grants"] == {"password": 1, "refresh_token": 0}
    assert counters["peak_sessions"] > 1


@on_virtual_time
async def test_short_lived_tokens_for_a_minute() -> None:
    """A minute of utterances back to back with three-second tokens, on the virtual clock (the
    bridge's and the simulator's token lifetimes run on the event loop's clock): every token
    is renewed ahead of expiry, by refresh grants, one grant per lifetime."""
    byte_sim = await start_sim(sim_settings(mode=RecognitionMode.BYTES))
    byte_sim.state.tokens.access_lifetime = 3
    byte_sim.state.tokens.refresh_lifetime = 30
    running = await start_bridge(byte_sim)
    loop = asyncio.get_running_loop()
    try:
        pcm = FIXTURES[0].pcm()[:16000]
        start = loop.time()
        count = 0
        while loop.time() - start < 60:
            reply = await transcribe(running.port, pcm, realtime=True)
            assert reply.text == f"{len(pcm)} bytes"
            count += 1
            await asyncio.sleep(0.05)
        elapsed = loop.time() - start
        counters = byte_sim.state.counters
    finally:
        await running.close()
        await byte_sim.runner.cleanup()
    grants = counters.grants
    # Tokens are renewed 5 % ahead of expiry, so each is used for 95 % of its life: over the
    # minute that is one grant per lifetime, plus the first, plus the renewal of the last.
    expiries = math.ceil(elapsed / 3)
    assert grants["password"] == 1
    assert grants["refresh_token"] > 0
    assert grants["password"] + grants["refresh_token"] <= expiries + 2
    assert counters.ws_rejections == 0
    assert count > 100


@pytest.mark.parametrize("frame_ms", [100, 40])
async def test_home_assistant_chunks_reach_truebar_in_frames_of_frame_ms(
    sim: Sim, http: aiohttp.ClientSession, frame_ms: int
) -> None:
    running = await start_bridge(sim, frame_ms=frame_ms)
    fixture = FIXTURES[2]
    pcm = fixture.pcm()
    pcm = pcm[: len(pcm) - len(pcm) % 320]  # whole 10 ms pieces, as Home Assistant sends
    try:
        reply = await transcribe(running.port, pcm, samples_per_chunk=160, realtime=True)
    finally:
        await running.close()
    assert reply.text == fixture.text
    session = (await sim.counters(http))["sessions"][-1]
    # Byte for byte what the client sent, in different frame boundaries.
    assert session["bytes"] == len(pcm)
    assert session["sha256"] == hashlib.sha256(pcm).hexdigest()
    times = [t for t, _ in session["frames"]]
    sizes = [size for _, size in session["frames"]]
    frame = frame_ms * 32
    assert max(sizes) <= frame  # never larger than the limit
    assert sizes[:-1] == [frame] * (len(sizes) - 1)  # whole frames while the user speaks
    assert len(sizes) == math.ceil(len(pcm) / frame)
    # Frames leave as the audio arrives, about frame_ms apart (the ones buffered before
    # CONFIGURED go at once; the median ignores them)...
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    assert 0.5 * frame_ms / 1000 < gaps[len(gaps) // 2] < 2 * frame_ms / 1000
    # ...and the rest leaves at audio-stop, directly before EOS.
    assert 0 <= session["eos_at"] - times[-1] < 0.05
    assert times[-1] - times[-2] < frame_ms / 1000 + 0.05
