"""Languages from discovery, overrides, NLP stages and streaming transcripts, end to end."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import wyoming.asr
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info

from tests.conftest import Sim, start_bridge
from tests.truebar_client import password_grant, stream_pcm
from tests.wyoming_client import transcribe
from truebar_sim.fixtures import load_fixtures
from wyoming_truebar.truebar.discovery import parse_stages

FIXTURES = load_fixtures()
SL_TAG = "KALDI:sl-SI:COL:20221208-0800"
EN_TAG = "KALDI:en-US:COL:20230315-1200"


async def info_languages(port: int) -> set[str]:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        event = await asyncio.wait_for(client.read_event(), 1)
    assert event is not None
    program = Info.from_event(event).asr[0]
    return {lang for m in program.models if m.installed for lang in m.languages}


async def wait_for_discovery(bridge: object) -> None:
    async with asyncio.timeout(5):
        while bridge.ctx.catalog is None:  # type: ignore[attr-defined]
            await asyncio.sleep(0.02)


async def test_discovery_drives_languages_and_tags(sim: Sim, http: aiohttp.ClientSession) -> None:
    running = await start_bridge(sim, discovery_interval=60)
    try:
        await wait_for_discovery(running)
        assert {"en-US", "sl-SI", "de-DE"} <= await info_languages(running.port)
        for asked, tag in (("sl", SL_TAG), ("en-GB", EN_TAG), ("de_DE", "KALDI:de-DE:")):
            await transcribe(running.port, FIXTURES[0].pcm(), language=asked)
            pipeline = (await sim.counters(http))["pipelines"][-1]
            assert pipeline[0]["config"]["tag"].startswith(tag)
    finally:
        await running.close()
    # The offline-only tag is never offered.
    assert all("WHISPER" not in tag for tag in running.ctx.languages.tags)


async def test_discovery_failure_falls_back_to_configured_tags(
    sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    running = await start_bridge(sim, discovery_interval=60, api_base_url="http://127.0.0.1:9")
    try:
        async with asyncio.timeout(5):
            while "Stage discovery failed" not in caplog.text:
                await asyncio.sleep(0.02)
        assert "configured tags" in caplog.text
        assert await info_languages(running.port) == {"en-US", "en", "sl-SI", "sl", "de-DE", "de"}
        assert (await transcribe(running.port, FIXTURES[0].pcm())).text == FIXTURES[0].text
    finally:
        await running.close()


async def test_overrides_win_over_discovery(sim: Sim, http: aiohttp.ClientSession) -> None:
    running = await start_bridge(sim, discovery_interval=60, asr_tag_overrides="sl=KALDI:sl-SI:*:*")
    try:
        await wait_for_discovery(running)
        await transcribe(running.port, FIXTURES[0].pcm(), language="sl-SI")
        assert (await sim.counters(http))["pipelines"][-1][0]["config"]["tag"] == "KALDI:sl-SI:*:*"
    finally:
        await running.close()


async def test_forced_tag_and_strict_language(sim: Sim, http: aiohttp.ClientSession) -> None:
    running = await start_bridge(sim, asr_tag="KALDI:de-DE:*:*", strict_language=True)
    try:
        assert await info_languages(running.port) == {"de-DE", "de"}
        reply = await transcribe(running.port, FIXTURES[0].pcm(), language="fr")
        assert reply.error_code == "unsupported_language"
        assert reply.closed
        assert (await transcribe(running.port, FIXTURES[0].pcm(), language="de")).text
    finally:
        await running.close()


async def test_model_chosen_by_name(sim: Sim, http: aiohttp.ClientSession) -> None:
    running = await start_bridge(sim)
    try:
        async with AsyncTcpClient("127.0.0.1", running.port) as client:
            await client.write_event(Event("select-program", {"name": "truebar"}))
            await client.write_event(Transcribe(name="KALDI:sl-SI:*:*", language="en").event())
            await client.write_event(AudioStart(16000, 2, 1).event())
            await client.write_event(AudioChunk(16000, 2, 1, bytes(3200)).event())
            await client.write_event(AudioStop().event())
            while (event := await asyncio.wait_for(client.read_event(), 5)) is not None:
                if event.type == "transcript":
                    break
        assert (await sim.counters(http))["pipelines"][-1][0]["config"]["tag"] == "KALDI:sl-SI:*:*"
    finally:
        await running.close()


async def test_punctuation_stage(sim: Sim, http: aiohttp.ClientSession) -> None:
    running = await start_bridge(sim, discovery_interval=60, nlp_tasks="NLP_pc")
    try:
        await wait_for_discovery(running)
        reply = await transcribe(running.port, FIXTURES[0].pcm(), language="en")
        pipeline = (await sim.counters(http))["pipelines"][-1]
    finally:
        await running.close()
    text = FIXTURES[0].text
    assert reply.text == text[0].upper() + text[1:] + "."
    assert pipeline[1] == {
        "task": "NLP_pc",
        "exceptionHandlingPolicy": "SKIP",
        "config": {"tag": "NEMO_PUNCTUATOR:en-US:*:*", "parameters": {}},
    }


async def test_nlp_stage_scoped_to_a_language(sim: Sim, http: aiohttp.ClientSession) -> None:
    running = await start_bridge(sim, discovery_interval=60, nlp_tasks="sl:NLP_pc")
    try:
        await wait_for_discovery(running)
        assert (await transcribe(running.port, FIXTURES[0].pcm(), language="en")).text == (
            FIXTURES[0].text
        )
        assert len((await sim.counters(http))["pipelines"][-1]) == 1
        await transcribe(running.port, FIXTURES[0].pcm(), language="sl")
        assert (await sim.counters(http))["pipelines"][-1][1]["task"] == "NLP_pc"
    finally:
        await running.close()


async def stream_events(port: int, pcm: bytes) -> tuple[list[tuple[float, Event]], float]:
    """Send real-time audio; return (arrival time, event) pairs and the audio-stop time."""
    loop = asyncio.get_running_loop()
    events: list[tuple[float, Event]] = []
    async with AsyncTcpClient("127.0.0.1", port) as client:

        async def read() -> None:
            while (event := await client.read_event()) is not None:
                events.append((loop.time(), event))
                streamed = events[0][1].type == "transcript-start"
                if event.type in ("transcript-stop", "error") or (
                    event.type == "transcript" and not streamed
                ):
                    return

        reader = asyncio.create_task(read())
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(16000, 2, 1).event())
        for offset in range(0, len(pcm), 2048):
            await client.write_event(AudioChunk(16000, 2, 1, pcm[offset : offset + 2048]).event())
            await asyncio.sleep(2048 / 32000)
        stopped = loop.time()
        await client.write_event(AudioStop().event())
        await asyncio.wait_for(reader, 10)
    return events, stopped


async def test_streaming_transcript_events(sim: Sim) -> None:
    """The newest wyoming client (this venv's `AsyncTcpClient`, >= 1.7) reads the streaming
    events; tests_ha/ holds Home Assistant's older one (wyoming 1.5.4), which skips them."""
    assert hasattr(wyoming.asr, "TranscriptChunk")
    running = await start_bridge(sim)
    try:
        pcm = FIXTURES[0].pcm() + bytes(16000) + FIXTURES[6].pcm()
        events, stopped = await stream_events(running.port, pcm)
    finally:
        await running.close()
    kinds = [e.type for _, e in events]
    assert kinds[0] == "transcript-start"
    assert kinds[-2:] == ["transcript", "transcript-stop"]
    assert set(kinds[1:-2]) == {"transcript-chunk"}
    chunks = [e.data["text"] for _, e in events if e.type == "transcript-chunk"]
    transcript = next(e.data["text"] for _, e in events if e.type == "transcript")
    assert "".join(chunks) == transcript == f"{FIXTURES[0].text} {FIXTURES[6].text}"
    # The first phrase was streamed while the user was still speaking.
    first_chunk = next(t for t, e in events if e.type == "transcript-chunk")
    assert first_chunk < stopped


async def test_streaming_off(sim: Sim) -> None:
    running = await start_bridge(sim, streaming=False)
    try:
        events, _ = await stream_events(running.port, FIXTURES[0].pcm())
    finally:
        await running.close()
    assert [e.type for _, e in events] == ["transcript"]


def test_parse_stages_reads_both_shapes() -> None:
    catalog = parse_stages(
        [
            {
                "task": "ASR",
                "configOptions": [
                    {
                        "tag": "KALDI:sl-SI:COL:1",
                        "features": ["onlineAsr"],
                        "parameters": ["boost"],
                    },
                    {"tag": "WHISPER:sl-SI:L:1", "features": ["offlineAsr"]},
                    {"tag": "bad"},
                ],
            },
            {"task": "ASR", "config": [{"tag": "KALDI:hr-HR:*:*", "features": ["onlineAsr"]}]},
            {"task": "NLP_tn", "configOptions": [{"tag": "TN:sl-SI:*:*", "features": []}]},
            "junk",
        ]
    )
    assert catalog.asr == ("KALDI:sl-SI:COL:1", "KALDI:hr-HR:*:*")
    assert catalog.nlp == {"NLP_tn": ("TN:sl-SI:*:*",)}
    assert catalog.asr_parameters == {"boost"}


@pytest.mark.timeout(180)
async def test_wyoming_bench_streaming(
    sim: Sim, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    bench = shutil.which("wyoming-bench", path=str(Path(sys.executable).parent))
    assert bench, "wyoming-bench (test extra) is not installed"
    for index, fixture in enumerate(FIXTURES):
        shutil.copy(fixture.path, tmp_path / f"f{index:02d}.wav")
        (tmp_path / f"f{index:02d}.txt").write_text(fixture.text)
    token = (await password_grant(http, sim.url))["access_token"]
    direct = []
    for fixture in FIXTURES:
        result = await stream_pcm(http, sim.url, token, fixture.pcm())
        assert fixture.text.startswith(result.text)  # the simulator's misses are deletions
        direct.append((fixture, result.text))
    running = await start_bridge(sim)
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            [
                bench,
                "stt",
                "--corpus",
                str(tmp_path),
                "--mode",
                "streaming",
                "--rounds",
                "1",
                "--warmup",
                "0",
                "--config",
                '{"language": "en"}',
                f"127.0.0.1:{running.port}",
            ],
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
    finally:
        await running.close()
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "truebar - non-streaming, streaming" in out
    ok = re.search(r"\[streaming\] ok=(\d+) fail=(\d+)", out)
    assert ok, out
    assert (int(ok.group(1)), int(ok.group(2))) == (len(FIXTURES), 0)
    # The bridge must add no error of its own: wyoming-bench's edits are exactly the words the
    # simulator itself misses when the same audio is streamed to it directly.
    edits = re.search(r"edits S=(\d+) I=(\d+) D=(\d+)", out)
    assert edits, out
    expected_deletions = sum(len(f.text.split()) - len(t.split()) for f, t in direct)
    assert (int(edits.group(1)), int(edits.group(2))) == (0, 0)
    assert int(edits.group(3)) == expected_deletions
