"""Drives the bridge with the real `wyoming` client, the way Home Assistant does."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field

import numpy as np
import soxr
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event


@dataclass
class Reply:
    """What the server answered to one utterance."""

    events: list[Event] = field(default_factory=list)
    closed: bool = False
    """Whether the server closed the connection after its answer."""

    @property
    def text(self) -> str | None:
        """The transcript text, or None if there was none."""
        for event in self.events:
            if event.type == "transcript":
                return str(event.data["text"])
        return None

    @property
    def error_code(self) -> str | None:
        """The error code, or None if there was no error."""
        for event in self.events:
            if event.type == "error":
                return str(event.data.get("code"))
        return None


def to_format(pcm16k: bytes, rate: int, width: int, channels: int) -> bytes:
    """Re-encode 16 kHz mono s16le at another rate, width and channel count (soxr VHQ)."""
    samples = np.frombuffer(pcm16k, "<i2").astype(np.float64) / 32768
    if rate != 16000:
        samples = soxr.resample(samples, 16000, rate, quality="VHQ")
    frames = np.repeat(samples[:, None], channels, axis=1).reshape(-1)
    if width == 1:
        return bytes(np.clip(np.rint(frames * 128 + 128), 0, 255).astype(np.uint8).tobytes())
    scale = float(1 << (8 * width - 1))
    ints = np.clip(np.rint(frames * scale), -scale, scale - 1).astype("<i4")
    if width == 2:
        return bytes(ints.astype("<i2").tobytes())
    if width == 4:
        return bytes(ints.tobytes())
    raw = ints.tobytes()
    return b"".join(raw[i : i + 3] for i in range(0, len(raw), 4))


async def read_reply(client: AsyncTcpClient, timeout: float = 15) -> Reply:
    """Read until transcript, error, or the server closing (bounded)."""
    reply = Reply()
    async with asyncio.timeout(timeout):
        while True:
            try:
                event = await client.read_event()
            except ConnectionError:
                event = None
            if event is None:
                reply.closed = True
                return reply
            reply.events.append(event)
            if event.type == "transcript":
                return reply
            if event.type == "error":
                try:
                    reply.closed = await client.read_event() is None
                except ConnectionError:
                    reply.closed = True
                return reply


async def transcribe(
    port: int,
    pcm: bytes,
    language: str | None = "en",
    rate: int = 16000,
    width: int = 2,
    channels: int = 1,
    samples_per_chunk: int = 1024,
    realtime: bool = False,
    timeout: float = 15,
    speed: float = 1.0,
    transcript_names: list[str] | None = None,
    fast_bytes: int = 0,
) -> Reply:
    """Send one utterance on a new connection, as Home Assistant does, and read the answer
    (`realtime`: paced as spoken, or `speed` times faster; the first `fast_bytes` at once, as
    a satellite sends the audio it buffered). `transcript_names`: wyoming 1.10's.

    A server that fails early closes while audio is still being written: like Home Assistant,
    stop writing then and read what the server said before it closed.
    """
    client = AsyncTcpClient("127.0.0.1", port)
    await client.connect()
    try:
        with contextlib.suppress(ConnectionError):
            asked = Transcribe(language=language, transcript_names=transcript_names)
            await client.write_event(asked.event())
            await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
            step = samples_per_chunk * width * channels
            for offset in range(0, len(pcm), step):
                chunk = pcm[offset : offset + step]
                event = AudioChunk(rate=rate, width=width, channels=channels, audio=chunk).event()
                await client.write_event(event)
                if realtime and offset >= fast_bytes:
                    await asyncio.sleep(len(chunk) / (rate * width * channels) / speed)
            await client.write_event(AudioStop().event())
        return await read_reply(client, timeout)
    finally:
        with contextlib.suppress(ConnectionError):
            await client.disconnect()


@dataclass
class Watched:
    """An utterance streamed in real time while the answer was read: what came, and when
    (seconds after audio-start)."""

    events: list[tuple[float, Event]] = field(default_factory=list)
    closed_at: float | None = None
    """When the server closed the connection."""
    write_failed_at: float | None = None
    """When writing audio failed (the server had closed), as Home Assistant would notice."""
    stop_sent_at: float | None = None
    """When audio-stop was written (None: the upload ended before it)."""

    @property
    def answered_at(self) -> float | None:
        """When the transcript came."""
        return next((t for t, e in self.events if e.type == "transcript"), None)

    @property
    def text(self) -> str | None:
        """The transcript text, or None."""
        return next((str(e.data["text"]) for _, e in self.events if e.type == "transcript"), None)

    @property
    def error(self) -> tuple[float, str] | None:
        """(when, code) of the error event, or None."""
        return next(
            ((t, str(e.data.get("code"))) for t, e in self.events if e.type == "error"), None
        )


async def watch_utterance(
    port: int,
    pcm: bytes,
    language: str = "en",
    piece: int = 320,
    timeout: float = 30,
    stop_on_answer: bool = False,
    context: dict[str, object] | None = None,
    version: str | None = None,
    vad_sensitivity: str | None = None,
) -> Watched:
    """Stream 16 kHz mono audio in real time in Home Assistant's 10 ms pieces while reading the
        server's answer; stop writing when writing fails, and read until the server closes. With
        `stop_on_answer`, do what Home Assistant 2026 does: a transcript ends the upload at once
        (no audio-stop) and the client closes. `version` is the Wyoming version every header
        carries (Home Assistant 2025.4: "1.5.4"); None: this venv's wyoming. `vad_sensitivity`: what
    a wyoming 1.10 client may ask of the end of the command."""
    from wyoming_truebar.server.wyoming_io import EventParser  # noqa: PLC0415
    from wyoming_truebar.server.wyoming_io import encode_event as encode_current  # noqa: PLC0415

    def encode_event(event: Event) -> bytes:
        wire = encode_current(event)
        if version is None:
            return wire
        line, _, rest = wire.partition(b"\n")
        header = json.loads(line)
        header["version"] = version
        return json.dumps(header).encode() + b"\n" + rest

    loop = asyncio.get_running_loop()
    watched = Watched()
    answered = asyncio.Event()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    began = loop.time()

    async def read() -> None:
        parser = EventParser(1 << 20)
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                watched.events += [(loop.time() - began, e) for e in parser.feed(data)]
                if watched.text is not None:
                    answered.set()  # success: Home Assistant would close now
        watched.closed_at = loop.time() - began
        answered.set()

    reading = asyncio.create_task(read())
    try:
        asked = Transcribe(language=language, context=context, vad_sensitivity=vad_sensitivity)
        writer.write(encode_event(asked.event()))
        writer.write(encode_event(AudioStart(rate=16000, width=2, channels=1).event()))
        began = loop.time()
        # Every whole piece has the same header and data: encoded once, then only the audio.
        whole = AudioChunk(rate=16000, width=2, channels=1, audio=bytes(piece)).event()
        head = encode_event(whole)[:-piece]
        for index, offset in enumerate(range(0, len(pcm), piece)):
            await asyncio.sleep(max(0.0, began + (index + 1) * piece / 32000 - loop.time()))
            if stop_on_answer and watched.text is not None:
                break
            audio = pcm[offset : offset + piece]
            if len(audio) == piece:
                writer.write(head + audio)
            else:
                chunk = AudioChunk(rate=16000, width=2, channels=1, audio=audio)
                writer.write(encode_event(chunk.event()))
            await writer.drain()
        else:
            writer.write(encode_event(AudioStop().event()))
            await writer.drain()
            watched.stop_sent_at = loop.time() - began
    except ConnectionError:
        watched.write_failed_at = loop.time() - began
    try:
        await asyncio.wait_for(answered.wait(), timeout)
    finally:
        reading.cancel()
        writer.close()
    return watched
