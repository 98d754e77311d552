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

LOAD_TIMEOUT = 600.0


@dataclass(frozen=True)
class Load:
    """One load: satellites, utterance length and count, audio format."""

    satellites: int
    seconds: float
    utterances: int
    rate: int = 16000
    channels: int = 1
    first_id: int = 0

    def args(self, port: int) -> list[str]:
        """The load generator's command line."""
        return [
            sys.executable,
            "-m",
            "benchmarks.load",
            "--port",
            str(port),
            "--satellites",
            str(self.satellites),
            "--seconds",
            str(self.seconds),
            "--utterances",
            str(self.utterances),
            "--rate",
            str(self.rate),
            "--channels",
            str(self.channels),
            "--first-id",
            str(self.first_id),
        ]

    def expected_bytes(self, uid: int) -> int:
        """Bytes of 16 kHz mono audio the backend should receive for utterance `uid`."""
        return 2 * (round(self.seconds * 16000) + uid)


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max (nearest rank), None when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "max": None}

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": ordered[-1]}


BackendTimes = Callable[[], Awaitable[dict[int, float]]]


async def run_load(
    load: Load, server: Proc, backend: Proc, backend_times: BackendTimes
) -> dict[str, Any]:
    """Drive `server` with `load`; return outcomes, overhead and latency percentiles, CPU, memory.

    Overhead is the client's audio-stop -> transcript minus the backend's own finishing time
    for the same utterance (paired by its byte count).
    """
    cpu0 = (server.cpu(), backend.cpu())
    done = await asyncio.to_thread(
        subprocess.run,
        load.args(server.port),
        capture_output=True,
        text=True,
        check=False,
        timeout=LOAD_TIMEOUT,
    )
    cpu1 = (server.cpu(), backend.cpu())
    if done.returncode:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    data = json.loads(done.stdout)
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
    return {
        "satellites": load.satellites,
        "seconds": load.seconds,
        "format": f"{load.rate} Hz {'stereo' if load.channels == 2 else 'mono'}",
        "utterances": len(data["results"]),
        "ok": len(latency),
        "failures": failures,
        "paired": len(overhead),
        "overhead_ms": percentiles(overhead),
        "latency_ms": percentiles(latency),
        "backend_ms": percentiles(backend_ms),
        "audio_seconds": audio_seconds,
        "wall_seconds": data["wall_seconds"],
        "server_cpu_ms_per_audio_s": 1000 * (cpu1[0] - cpu0[0]) / audio_seconds,
        "backend_cpu_ms_per_audio_s": 1000 * (cpu1[1] - cpu0[1]) / audio_seconds,
        "load_cpu_ms_per_audio_s": 1000 * data["cpu_seconds"] / audio_seconds,
        "server_peak_mb": server.peak_kib() * 1024 / 1e6,
        "server_cpu_percent": 100 * (cpu1[0] - cpu0[0]) / data["wall_seconds"],
    }
