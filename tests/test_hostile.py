"""Hostile and broken clients: each gets a clean error (or is ignored), nobody else notices."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conftest import Bridge, Sim, start_bridge
from tests.procs import bridge_process
from tests.wyoming_client import transcribe
from truebar_sim.fixtures import load_fixtures

FIXTURE = load_fixtures()[0]
PCM = FIXTURE.pcm()


async def raw_exchange(port: int, data: bytes, read_timeout: float = 10) -> list[dict[str, Any]]:
    """Send raw bytes; return the events the server answered until it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(read_timeout):
            while line := await reader.readline():
                header = json.loads(line)
                if header.get("data_length"):
                    header["data"] = json.loads(await reader.readexactly(header["data_length"]))
                events.append(header)
        return events
    finally:
        writer.close()


def event(kind: str, data: dict[str, Any] | None = None, payload: bytes = b"") -> bytes:
    header: dict[str, object] = {"type": kind}
    body = json.dumps(data).encode() if data else b""
    if body:
        header["data_length"] = len(body)
    if payload:
        header["payload_length"] = len(payload)
    return json.dumps(header).encode() + b"\n" + body + payload


START = event("audio-start", {"rate": 16000, "width": 2, "channels": 1})

HOSTILE = [
    (b"this is not json\n", "bad_request"),
    (b"\xff\xfe\x00garbage\n", "bad_request"),
    (b"[1, 2, 3]\n", "bad_request"),
    (b'{"data": {}}\n', "bad_request"),
    (b'{"type": "describe", "data_length": -5}\n', "bad_request"),
    (b'{"type": "describe", "payload_length": "many"}\n', "bad_request"),
    (b'{"type": "audio-chunk", "payload_length": 200000000}\n', "bad_request"),
    (b'{"type": "x", "data_length": 3}\n[1]', "bad_request"),
    (b"{" + b" " * 70000 + b"\n", "bad_request"),
    (event("audio-chunk", {"rate": 16000, "width": 2, "channels": 1}, b"\x00\x00"), "bad_request"),
    (event("audio-stop"), "bad_request"),
    (event("audio-start", {"rate": 0, "width": 2, "channels": 1}), "bad_audio"),
    (event("audio-start", {"rate": 16000, "width": 7, "channels": 1}), "bad_audio"),
    (event("audio-start", {"rate": 16000, "width": 2, "channels": 0}), "bad_audio"),
    (event("audio-start", {"rate": 16000}), "bad_request"),
]


@pytest.mark.parametrize(("data", "code"), HOSTILE)
async def test_hostile_input_gets_error_then_close(bridge: Bridge, data: bytes, code: str) -> None:
    events = await raw_exchange(bridge.port, data)
    assert [e["type"] for e in events] == ["error"]
    assert events[0]["data"]["code"] == code


async def test_unknown_events_are_ignored(bridge: Bridge) -> None:
    data = event("ping-of-the-future", {"x": 1}) + event("select-program", {"name": "truebar"})
    reader, writer = await asyncio.open_connection("127.0.0.1", bridge.port)
    writer.write(data + event("describe"))
    line = await asyncio.wait_for(reader.readline(), 2)
    writer.close()
    assert json.loads(line)["type"] == "info"


async def test_odd_byte_counts_are_carried_over(bridge: Bridge) -> None:
    reply = await transcribe(bridge.port, PCM, samples_per_chunk=1001)  # 2002-byte chunks
    assert reply.text == FIXTURE.text
    reader, writer = await asyncio.open_connection("127.0.0.1", bridge.port)
    chunks = [PCM[i : i + 777] for i in range(0, len(PCM), 777)]  # odd sizes: samples split
    fmt = {"rate": 16000, "width": 2, "channels": 1}
    writer.write(
        event("transcribe", {"language": "en"})
        + START
        + b"".join(event("audio-chunk", fmt, c) for c in chunks)
        + event("audio-stop")
    )
    data: dict[str, Any] = {}
    header: dict[str, Any] = {"type": ""}
    async with asyncio.timeout(10):
        while "text" not in data or header["type"] != "transcript":
            header = json.loads(await reader.readline())
            length = header.get("data_length")
            data = json.loads(await reader.readexactly(length)) if length else {}
    writer.close()
    assert data["text"] == FIXTURE.text


async def test_idle_clients_are_timed_out(sim: Sim) -> None:
    running = await start_bridge(sim, idle_timeout=0.5)
    try:
        silent = await raw_exchange(running.port, b"")
        half = await raw_exchange(
            running.port,
            event("transcribe")
            + START
            + event("audio-chunk", {"rate": 16000, "width": 2, "channels": 1}, PCM[:3200]),
        )
    finally:
        await running.close()
    assert [e["data"]["code"] for e in silent] == ["timeout"]
    assert [e["data"]["code"] for e in half] == ["timeout"]
    await asyncio.sleep(0.2)
    assert sim.state.counters.active_sessions == 0  # the Truebar session was closed too


async def send_huge_payload(port: int, size: int) -> list[bytes]:
    """Announce and really send a huge payload; return what the server answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        START + json.dumps({"type": "audio-chunk", "payload_length": size}).encode() + b"\n"
    )
    block = bytes(1 << 20)
    sent = 0
    try:
        while sent < size:
            writer.write(block)
            await asyncio.wait_for(writer.drain(), 5)
            sent += len(block)
    except (ConnectionError, TimeoutError):
        pass
    answered = []
    try:
        while line := await asyncio.wait_for(reader.readline(), 5):
            answered.append(line)
    except (ConnectionError, TimeoutError):
        pass
    writer.close()
    return answered


@pytest.mark.timeout(120)
async def test_hostile_barrage_keeps_server_small_and_serving(sim: Sim) -> None:
    async with bridge_process(sim.url) as proc:
        # A normal real-time utterance runs the whole time on another connection.
        normal = asyncio.create_task(transcribe(proc.port, PCM, realtime=True))
        answers = await send_huge_payload(proc.port, 200_000_000)
        for data, _ in HOSTILE:
            await raw_exchange(proc.port, data)
        assert (await normal).text == FIXTURE.text
        assert (await transcribe(proc.port, PCM)).text == FIXTURE.text
        peak_mib = proc.peak_rss_kib() / 1024
        assert proc.proc.poll() is None
    print(f"server peak memory {peak_mib:.1f} MiB")
    assert peak_mib < 100
    assert any(b'"error"' in line for line in answers) or answers == []
