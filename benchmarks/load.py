"""Load generator: satellites sending real-time paced utterances to a Wyoming ASR server.

Runs as its own process (so its CPU is measured apart from the server's) and prints one JSON
object: per utterance its id, the audio-stop -> transcript time, the outcome and the text.
Several processes share one load (`--processes` in load_run), each its slice of satellites.

Home Assistant's traffic is the default: 10 ms chunks (320 bytes at 16 kHz mono), one
`audio-chunk` event each, written as wyoming 1.5.4 (Home Assistant's pin) writes them. One
scheduler per process writes every chunk when its last sample has been "spoken" (a heap of due
times, one pre-encoded write per chunk), so hundreds of streams cost little more than the
writes themselves. Satellites start at random moments, so chunks of different streams are not
written in lock step.

Every utterance has a different length (its id in extra samples, the last chunk shorter), so
the byte count that a byte-counting backend reports identifies the utterance; that pairs the
client's time with the backend's own finishing time, and proves that no audio was lost or
duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import json
import random
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from wyoming.asr import Transcribe
from wyoming.audio import AudioStart, AudioStop

from wyoming_truebar.server.wyoming_io import EventParser, encode_event

REPLY_TIMEOUT = 30.0
MAX_EVENT = 1 << 20
HA_WYOMING_VERSION = "1.5.4"


def chunk_event(payload: bytes, rate: int, width: int, channels: int) -> bytes:
    """An `audio-chunk` event exactly as Home Assistant's wyoming 1.5.4 writes it."""
    data = json.dumps({"rate": rate, "width": width, "channels": channels}).encode()
    header = {
        "type": "audio-chunk",
        "version": HA_WYOMING_VERSION,
        "data_length": len(data),
        "payload_length": len(payload),
    }
    return json.dumps(header).encode() + b"\n" + data + payload


@dataclass(frozen=True)
class Plan:
    """What every satellite of this process sends."""

    port: int
    satellites: int
    """Satellites in this process."""
    total_satellites: int
    """Satellites in the whole load (all processes), for unique utterance ids."""
    first_index: int
    """Index of this process's first satellite in the whole load."""
    seconds: float
    utterances: int
    rate: int
    width: int
    channels: int
    samples_per_chunk: int
    first_id: int
    gap: float

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame (all channels)."""
        return self.width * self.channels

    def frames(self, uid: int) -> int:
        """Frames of utterance `uid`: the base length plus `uid` samples at 16 kHz."""
        per_id = max(1, self.rate // 16000)
        return round(self.seconds * self.rate) + uid * per_id

    def uid(self, index: int, round_: int) -> int:
        """The id of satellite `index`'s utterance in round `round_`."""
        return self.first_id + round_ * self.total_satellites + self.first_index + index


def noise(frames: int, plan: Plan, seed: int) -> bytes:
    """Quiet deterministic noise in the plan's format."""
    rng = np.random.default_rng(seed)
    peak = 2 ** (8 * plan.width - 1) // 16
    samples = rng.integers(-peak, peak, size=frames * plan.channels, dtype=np.int64)
    if plan.width == 2:
        return samples.astype("<i2").tobytes()
    if plan.width == 4:
        return samples.astype("<i4").tobytes()
    raw = samples.astype("<i4").tobytes()
    return b"".join(raw[i : i + 3] for i in range(0, len(raw), 4))


@dataclass
class Stream:
    """One utterance being spoken: its connection and where its audio stands."""

    writer: asyncio.StreamWriter
    chunk: bytes
    tail: bytes
    chunks: int
    began: float
    chunk_seconds: float
    sent: int = 0
    stopped: float = 0.0
    done: asyncio.Future[None] = field(default_factory=asyncio.Future)

    def due(self) -> float:
        """When the next chunk's last sample has been spoken."""
        return self.began + (self.sent + 1) * self.chunk_seconds


class Scheduler:
    """Writes every stream's chunks on time: one heap of due times for the whole process."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Stream]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()

    def add(self, stream: Stream) -> None:
        """Start speaking a stream's audio."""
        heapq.heappush(self._heap, (stream.due(), next(self._order), stream))
        self._wake.set()

    async def run(self) -> None:
        """Write chunks as they fall due, for ever (cancelled at the end of the load)."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            due = self._heap[0][0]
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
                continue
            _, _, stream = heapq.heappop(self._heap)
            self._write(stream)
            if not stream.done.done():
                heapq.heappush(self._heap, (stream.due(), next(self._order), stream))

    @staticmethod
    def _write(stream: Stream) -> None:
        if stream.writer.is_closing():
            stream.done.set_result(None)
            return
        if stream.sent < stream.chunks:
            stream.writer.write(stream.chunk)
            stream.sent += 1
            if stream.sent < stream.chunks or stream.tail:
                return
        elif stream.tail:
            stream.writer.write(stream.tail)
        stream.writer.write(encode_event(AudioStop().event()))
        stream.stopped = time.perf_counter()
        stream.done.set_result(None)


class Satellite:
    """One satellite: a fresh connection per utterance, as Home Assistant does."""

    def __init__(self, plan: Plan, index: int, scheduler: Scheduler) -> None:
        self.plan = plan
        self.index = index
        self.scheduler = scheduler
        self.results: list[tuple[int, float, str, str]] = []
        payload = noise(plan.samples_per_chunk, plan, plan.first_index + index)
        self._payload = payload
        self._chunk_event = chunk_event(payload, plan.rate, plan.width, plan.channels)

    async def run(self, start_delay: float) -> None:
        """Send the plan's utterances one after another."""
        await asyncio.sleep(start_delay)
        for round_ in range(self.plan.utterances):
            self.results.append(await self._utterance(self.plan.uid(self.index, round_)))
            await asyncio.sleep(self.plan.gap)

    async def _utterance(self, uid: int) -> tuple[int, float, str, str]:
        p = self.plan
        full, rest = divmod(p.frames(uid), p.samples_per_chunk)
        tail = self._payload[: rest * p.frame_bytes]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
        except OSError as err:
            return uid, 0.0, f"connect:{type(err).__name__}", ""
        try:
            writer.write(encode_event(Transcribe(language="en").event()))
            start = AudioStart(rate=p.rate, width=p.width, channels=p.channels)
            writer.write(encode_event(start.event()))
            stream = Stream(
                writer,
                self._chunk_event,
                chunk_event(tail, p.rate, p.width, p.channels) if tail else b"",
                full,
                asyncio.get_running_loop().time(),
                p.samples_per_chunk / p.rate,
            )
            self.scheduler.add(stream)
            await stream.done
            outcome, text = await self._reply(reader)
            return uid, (time.perf_counter() - stream.stopped) * 1000, outcome, text
        except (OSError, TimeoutError) as err:
            return uid, 0.0, f"io:{type(err).__name__}", ""
        finally:
            writer.close()

    @staticmethod
    async def _reply(reader: asyncio.StreamReader) -> tuple[str, str]:
        parser = EventParser(MAX_EVENT)
        async with asyncio.timeout(REPLY_TIMEOUT):
            while data := await reader.read(65536):
                for event in parser.feed(data):
                    if event.type == "transcript":
                        return "ok", str(event.data.get("text", ""))
                    if event.type == "error":
                        return f"error:{event.data.get('code')}", str(event.data.get("text", ""))
        return "closed", ""


async def run(plan: Plan, seed: int) -> dict[str, object]:
    """Run every satellite; return the results and this process's CPU time."""
    rng = random.Random(seed)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    scheduler = Scheduler()
    clock = asyncio.create_task(scheduler.run())
    satellites = [Satellite(plan, i, scheduler) for i in range(plan.satellites)]
    spread = plan.seconds + plan.gap  # starts spread over one utterance: a steady load
    await asyncio.gather(*(s.run(rng.uniform(0, spread)) for s in satellites))
    clock.cancel()
    return {
        "results": [r for s in satellites for r in s.results],
        "cpu_seconds": time.process_time() - cpu0,
        "wall_seconds": time.perf_counter() - wall0,
    }


def main() -> None:
    """Entry point: `python -m benchmarks.load --port P --satellites N ...`."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--satellites", type=int, default=1)
    p.add_argument("--total-satellites", type=int, help="of the whole load (default: --satellites)")
    p.add_argument("--first-index", type=int, default=0)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--utterances", type=int, default=1)
    p.add_argument("--rate", type=int, default=16000)
    p.add_argument("--width", type=int, default=2)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--chunk-ms", type=float, default=10.0, help="10: Home Assistant's chunks")
    p.add_argument("--first-id", type=int, default=0)
    p.add_argument("--gap", type=float, default=0.1, help="seconds between utterances")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    plan = Plan(
        port=a.port,
        satellites=a.satellites,
        total_satellites=a.total_satellites or a.satellites,
        first_index=a.first_index,
        seconds=a.seconds,
        utterances=a.utterances,
        rate=a.rate,
        width=a.width,
        channels=a.channels,
        samples_per_chunk=round(a.rate * a.chunk_ms / 1000),
        first_id=a.first_id,
        gap=a.gap,
    )
    json.dump(asyncio.run(run(plan, a.seed + a.first_index)), sys.stdout)


if __name__ == "__main__":
    main()
