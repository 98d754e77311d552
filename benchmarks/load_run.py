"""Run the load generator against a server and turn its output into one row of figures."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .procs import Proc

LOAD_TIMEOUT = 900.0
HA_CHUNK_MS = 10.0
"""Home Assistant's chunks: the default traffic of every benchmark."""


@dataclass(frozen=True)
class Load:
    """One load: satellites, utterance length and count, audio format and chunking."""

    satellites: int
    seconds: float
    utterances: int
    rate: int = 16000
    channels: int = 1
    first_id: int = 0
    chunk_ms: float = HA_CHUNK_MS
    processes: int = 1
    """Load generator processes the satellites are split over (so it is never the limit)."""

    def args(self, port: int, index: int) -> list[str]:
        """The command line of load generator process `index`."""
        first, count = self.slice(index)
        return [
            sys.executable,
            "-m",
            "benchmarks.load",
            "--port",
            str(port),
            "--satellites",
            str(count),
            "--total-satellites",
            str(self.satellites),
            "--first-index",
            str(first),
            "--seconds",
            str(self.seconds),
            "--utterances",
            str(self.utterances),
            "--rate",
            str(self.rate),
            "--channels",
            str(self.channels),
            "--chunk-ms",
            str(self.chunk_ms),
            "--first-id",
            str(self.first_id),
        ]

    def slice(self, index: int) -> tuple[int, int]:
        """(first satellite, satellites) of load generator process `index`."""
        per, extra = divmod(self.satellites, self.processes)
        return index * per + min(index, extra), per + (index < extra)

    def expected_bytes(self, uid: int) -> int:
        """Bytes of 16 kHz mono audio the backend should receive for utterance `uid`."""
        return 2 * (round(self.seconds * 16000) + uid)

    @property
    def label(self) -> str:
        """The audio format and chunking, for tables."""
        channels = "stereo" if self.channels == 2 else "mono"
        return f"{self.rate} Hz {channels}, {self.chunk_ms:g} ms chunks"


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max (nearest rank), None when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "max": None}

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": ordered[-1]}


BackendTimes = Callable[[], Awaitable[dict[int, float]]]


async def _generate(load: Load, port: int) -> dict[str, Any]:
    """Run the load generator processes; merge their outputs."""
    runs = [
        asyncio.to_thread(
            subprocess.run,
            load.args(port, index),
            capture_output=True,
            text=True,
            check=False,
            timeout=LOAD_TIMEOUT,
        )
        for index in range(load.processes)
    ]
    merged: dict[str, Any] = {"results": [], "cpu_seconds": 0.0, "wall_seconds": 0.0}
    for done in await asyncio.gather(*runs):
        if done.returncode:
            raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
        data = json.loads(done.stdout)
        merged["results"] += data["results"]
        merged["cpu_seconds"] += data["cpu_seconds"]
        merged["wall_seconds"] = max(merged["wall_seconds"], data["wall_seconds"])
    return merged


async def run_load(
    load: Load, server: Proc, backend: Proc, backend_times: BackendTimes
) -> dict[str, Any]:
    """Drive `server` with `load`; return outcomes, overhead and latency percentiles, CPU, memory.

    Overhead is the client's audio-stop -> transcript minus the backend's own finishing time
    for the same utterance (paired by its byte count).
    """
    cpu0 = (server.cpu(), backend.cpu(), server.cpu_split())
    data = await _generate(load, server.port)
    cpu1 = (server.cpu(), backend.cpu(), server.cpu_split())
    own = await backend_times()
    overhead: list[float] = []
    latency: list[float] = []
    backend_ms: list[float] = []
    failures: dict[str, int] = {}
    exact = load.rate == 16000 and load.channels == 1
    for uid, ms, reply, text in data["results"]:
        size = load.expected_bytes(uid)
        wrong = reply == "ok" and exact and text != f"{size} bytes"
        outcome = "wrong_audio_length" if wrong else reply
        if outcome != "ok":
            failures[outcome] = failures.get(outcome, 0) + 1
            continue
        latency.append(ms)
        count = text.partition(" ")[0]
        reported = int(count) if count.isdigit() else -1
        if reported in own:
            backend_ms.append(own[reported])
            overhead.append(ms - own[reported])
    audio_seconds = sum(load.expected_bytes(r[0]) for r in data["results"]) / 32000
    server_cpu = cpu1[0] - cpu0[0]
    user, system = (cpu1[2][i] - cpu0[2][i] for i in (0, 1))
    per_audio_s = 1000 * server_cpu / audio_seconds
    return {
        "satellites": load.satellites,
        "seconds": load.seconds,
        "format": load.label,
        "chunk_ms": load.chunk_ms,
        "load_processes": load.processes,
        "utterances": len(data["results"]),
        "ok": len(latency),
        "failures": failures,
        "paired": len(overhead),
        "overhead_ms": percentiles(overhead),
        "latency_ms": percentiles(latency),
        "backend_ms": percentiles(backend_ms),
        "audio_seconds": audio_seconds,
        "wall_seconds": data["wall_seconds"],
        "server_cpu_ms_per_audio_s": per_audio_s,
        "server_user_ms_per_audio_s": 1000 * user / audio_seconds,
        "server_system_ms_per_audio_s": 1000 * system / audio_seconds,
        "streams_per_core": 1000 / per_audio_s if per_audio_s else None,
        "backend_cpu_ms_per_audio_s": 1000 * (cpu1[1] - cpu0[1]) / audio_seconds,
        "load_cpu_ms_per_audio_s": 1000 * data["cpu_seconds"] / audio_seconds,
        "server_peak_mb": server.peak_kib() * 1024 / 1e6,
        "server_cpu_percent": 100 * server_cpu / data["wall_seconds"],
    }
