"""Load generator: N satellites sending real-time paced utterances to a Wyoming ASR server.

Runs as its own process (so its CPU is measured apart from the server's) and prints one JSON
object: per utterance its id, the audio-stop -> transcript time, the outcome and the text.

Every utterance has a different length (its id in extra samples), so the byte count that a
byte-counting backend reports identifies the utterance; that pairs the client's time with the
backend's own finishing time, and proves that no audio was lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass

import numpy as np
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop

from wyoming_truebar.wyoming_io import encode_event, read_event

REPLY_TIMEOUT = 30.0
MAX_EVENT = 1 << 20


@dataclass(frozen=True)
class Plan:
    """What every satellite sends."""

    port: int
    satellites: int
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


class Satellite:
    """One satellite: a fresh connection per utterance, as Home Assistant does."""

    def __init__(self, plan: Plan, index: int) -> None:
        self.plan = plan
        self.index = index
        self.results: list[tuple[int, float, str, str]] = []
        chunk_frames = plan.samples_per_chunk
        self._payload = noise(chunk_frames, plan, index)
        self._chunk_event = encode_event(self._chunk(self._payload).event())

    def _chunk(self, payload: bytes) -> AudioChunk:
        p = self.plan
        return AudioChunk(rate=p.rate, width=p.width, channels=p.channels, audio=payload)

    def _events(self, uid: int) -> tuple[int, bytes]:
        """(number of full chunks, the event bytes of the last partial chunk)."""
        p = self.plan
        full, rest = divmod(p.frames(uid), p.samples_per_chunk)
        tail = self._payload[: rest * p.frame_bytes]
        return full, encode_event(self._chunk(tail).event()) if tail else b""

    async def run(self, start_delay: float) -> None:
        """Send the plan's utterances one after another."""
        await asyncio.sleep(start_delay)
        for round_ in range(self.plan.utterances):
            uid = self.plan.first_id + round_ * self.plan.satellites + self.index
            self.results.append(await self._utterance(uid))
            await asyncio.sleep(self.plan.gap)

    async def _utterance(self, uid: int) -> tuple[int, float, str, str]:
        p = self.plan
        loop = asyncio.get_running_loop()
        full, tail = self._events(uid)
        chunk_seconds = p.samples_per_chunk / p.rate
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
        except OSError as err:
            return uid, 0.0, f"connect:{type(err).__name__}", ""
        try:
            writer.write(encode_event(Transcribe(language="en").event()))
            start = AudioStart(rate=p.rate, width=p.width, channels=p.channels)
            writer.write(encode_event(start.event()))
            began = loop.time()
            for k in range(full):
                # A chunk leaves when its last sample has been "spoken".
                await asyncio.sleep(max(0.0, began + (k + 1) * chunk_seconds - loop.time()))
                writer.write(self._chunk_event)
            if tail:
                await asyncio.sleep(max(0.0, began + p.frames(uid) / p.rate - loop.time()))
                writer.write(tail)
            writer.write(encode_event(AudioStop().event()))
            stopped = time.perf_counter()
            await writer.drain()
            outcome, text = await self._reply(reader)
            return uid, (time.perf_counter() - stopped) * 1000, outcome, text
        except (OSError, TimeoutError) as err:
            return uid, 0.0, f"io:{type(err).__name__}", ""
        finally:
            writer.close()

    @staticmethod
    async def _reply(reader: asyncio.StreamReader) -> tuple[str, str]:
        async with asyncio.timeout(REPLY_TIMEOUT):
            while (event := await read_event(reader, MAX_EVENT)) is not None:
                if event.type == "transcript":
                    return "ok", str(event.data.get("text", ""))
                if event.type == "error":
                    return f"error:{event.data.get('code')}", str(event.data.get("text", ""))
        return "closed", ""


async def run(plan: Plan, seed: int) -> dict[str, object]:
    """Run every satellite; return the results and this process's CPU time."""
    rng = random.Random(seed)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    satellites = [Satellite(plan, i) for i in range(plan.satellites)]
    spread = plan.seconds + plan.gap  # starts spread over one utterance: a steady load
    await asyncio.gather(*(s.run(rng.uniform(0, spread)) for s in satellites))
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
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--utterances", type=int, default=1)
    p.add_argument("--rate", type=int, default=16000)
    p.add_argument("--width", type=int, default=2)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--samples-per-chunk", type=int, default=1024)
    p.add_argument("--first-id", type=int, default=0)
    p.add_argument("--gap", type=float, default=0.1, help="seconds between utterances")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    plan = Plan(
        a.port,
        a.satellites,
        a.seconds,
        a.utterances,
        a.rate,
        a.width,
        a.channels,
        a.samples_per_chunk,
        a.first_id,
        a.gap,
    )
    json.dump(asyncio.run(run(plan, a.seed)), sys.stdout)


if __name__ == "__main__":
    main()
