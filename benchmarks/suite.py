"""The benchmark sections: each starts what it measures, runs it, and returns its figures.

Home Assistant's traffic is the default everywhere: 10 ms chunks, 100 events per second per
stream, paced in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from truebar_sim.demo import bridge_env, free_port

from . import conversion, peer
from .load_run import BackendTimes, Load, run_load
from .procs import (
    Proc,
    bridge,
    describe,
    memory_kib,
    naive_bridge,
    sim_finish_times,
    sim_url,
    simulator,
    spawn,
)

BRIDGE_ARGS = ("--max-sessions", "600", "--no-endpointing")
"""500 streams need more than the default 200 sessions. These loads measure the audio-stop
path and prove every byte arrives, so the bridge does not end their commands itself; the
endpointing section (benchmarks/endpointing.py) measures endpointing on real speech."""
IDLE_SETTLE = 2.0
FIRST_INFO_POLL = 0.005
STREAMS_PER_LOAD_PROCESS = 100
"""Satellites one load generator process drives (its event loop must never be the limit)."""
WARMUP = Load(2, 1.0, 1)
"""Run first on every fresh server and not reported (first token grant, cold code paths), the
same for both servers of the side by side."""


@dataclass(frozen=True)
class Sizes:
    """How much of everything to run (the full run, or a smoke run of seconds)."""

    length_streams: int = 100
    lengths: tuple[tuple[float, int], ...] = ((1, 4), (3, 3), (8, 2), (15, 2))
    wan_latency: float = 0.040
    capacity_seconds: float = 3.0
    capacity: tuple[tuple[int, int], ...] = (
        (1, 10),
        (10, 5),
        (100, 3),
        (200, 3),
        (300, 3),
        (500, 3),
    )
    capacity_repeats: int = 2
    variant_streams: int = 100
    """Streams of the 64 ms, 48 kHz stereo and frame_ms rows."""
    frame_ms: tuple[int, ...] = (10, 40, 100, 200)
    peer_streams: int = 10
    peer_lengths: tuple[tuple[float, int], ...] = ((1, 3), (3, 3), (8, 2), (15, 2))
    startup_runs: int = 5
    conversion_seconds: float = 10.0
    conversion_repeats: int = 7
    profile_streams: int = 100
    endpointing_clips: int | None = None
    """How many of the fixtures the endpointing section sends (None: all)."""
    endpointing_rounds: int = 1
    endpointing_parallel: int = 2
    endpointing_delays: tuple[float, ...] = (0.0,)
    endpointing_configs: int | None = None
    """How many of its configurations it runs (None: all)."""
    endpointing_cpu_streams: tuple[int, ...] = (10, 100)


SMOKE = Sizes(
    length_streams=2,
    lengths=((1, 1),),
    capacity_seconds=0.5,
    capacity=((3, 1),),
    capacity_repeats=1,
    variant_streams=2,
    frame_ms=(100,),
    peer_streams=1,
    peer_lengths=((1, 1),),
    startup_runs=1,
    conversion_seconds=1.0,
    conversion_repeats=1,
    profile_streams=2,
    endpointing_clips=2,
    endpointing_rounds=1,
    endpointing_delays=(0.0,),
    endpointing_configs=2,
    endpointing_cpu_streams=(2,),
)


def ha_load(streams: int, seconds: float, utterances: int, **changes: Any) -> Load:
    """Home Assistant-shaped load, split over enough load generator processes."""
    processes = max(1, math.ceil(streams / STREAMS_PER_LOAD_PROCESS))
    return Load(streams, seconds, utterances, processes=processes, **changes)


def numbered(loads: list[Load]) -> list[Load]:
    """Give each load ids that no earlier load on the same backend used (so the byte counts,
    which pair the client's and the backend's view of an utterance, stay unique)."""
    out, first = [], 0
    for load in loads:
        out.append(replace(load, first_id=first))
        first += load.satellites * load.utterances
    return out


@contextlib.asynccontextmanager
async def bridge_stack(
    latency: float = 0.0, extra: tuple[str, ...] = ()
) -> AsyncIterator[tuple[Proc, Proc]]:
    """The simulator (byte mode) and a bridge in front of it."""
    async with simulator(latency) as sim, bridge(sim.port, *BRIDGE_ARGS, *extra) as server:
        yield server, sim


async def measured(
    loads: list[Load], server: Proc, backend: Proc, times: BackendTimes
) -> list[dict[str, Any]]:
    """A warm-up load, then each load in turn; the rows of the latter."""
    warmup, *numbered_loads = numbered([WARMUP, *loads])
    await run_load(warmup, server, backend, times)
    return [await run_load(load, server, backend, times) for load in numbered_loads]


async def bridge_rows(
    loads: list[Load], latency: float = 0.0, extra: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Run loads one after another against one bridge."""
    async with bridge_stack(latency, extra) as (server, sim):
        rows = await measured(loads, server, sim, lambda: sim_finish_times(sim.port))
    return [{**row, "wan_latency_ms": latency * 1000} for row in rows]


async def lengths(sizes: Sizes, latency: float) -> list[dict[str, Any]]:
    """Overhead by utterance length at many concurrent Home Assistant streams."""
    loads = [ha_load(sizes.length_streams, s, n) for s, n in sizes.lengths]
    return await bridge_rows(loads, latency)


async def capacity(sizes: Sizes) -> list[dict[str, Any]]:
    """Concurrent Home Assistant streams; a fresh bridge per level (peak memory is the
    level's own), each level repeated to show how noisy the figures are."""
    rows = []
    for repeat in range(sizes.capacity_repeats):
        for streams, utterances in sizes.capacity:
            load = ha_load(streams, sizes.capacity_seconds, utterances)
            rows += [{**r, "repeat": repeat + 1} for r in await bridge_rows([load])]
    return rows


async def variants(sizes: Sizes) -> list[dict[str, Any]]:
    """Other traffic at the same scale: satellites' 64 ms chunks, 48 kHz stereo."""
    n, seconds = sizes.variant_streams, sizes.capacity_seconds
    rows = await bridge_rows([ha_load(n, seconds, 3, chunk_ms=64.0)])
    rows += await bridge_rows([ha_load(n, seconds, 3, rate=48000, channels=2)])
    return rows


async def frame_sizes(sizes: Sizes) -> list[dict[str, Any]]:
    """What `frame_ms` trades: the same Home Assistant load with each frame length."""
    rows = []
    for frame_ms in sizes.frame_ms:
        load = ha_load(sizes.variant_streams, sizes.capacity_seconds, 3)
        for row in await bridge_rows([load], extra=("--frame-ms", str(frame_ms))):
            rows.append({**row, "frame_ms": frame_ms})
    return rows


ENDPOINTING_NEVER_ENDS = (
    "--endpointing",
    "--endpoint-silence-ms",
    "5000",
    "--endpoint-modifier-silence-ms",
    "5000",
    "--endpoint-incomplete-silence-ms",
    "5000",
    "--endpoint-max-silence-ms",
    "6000",
)
"""Endpointing on, with silences longer than the load's utterances: the detector hears speech
in the load's noise now and then, and would end commands early (their byte count, the
simulator's text, would then be short of what was sent)."""


CPU_VARIANTS: dict[str, tuple[str, ...]] = {
    "off": ("--no-endpointing",),
    "off, interims": ("--no-endpointing", "--enable-interims"),
    "on": ENDPOINTING_NEVER_ENDS,
}
"""The bridges of the endpointing CPU section, by name (and the naive bridge, "naive")."""
CPU_PAIRS = (("off", "on"), ("off", "off, interims"), ("naive", "on"))
"""What runs side by side, at the same time, under the same load: what endpointing adds;
what the interims it reads add (the rest is the detector and its bookkeeping); how it stands
against the naive bridge."""


@contextlib.asynccontextmanager
async def cpu_server(variant: str) -> AsyncIterator[tuple[Proc, Proc]]:
    """One server of the CPU section and its own simulator."""
    if variant == "naive":
        async with simulator() as sim, naive_bridge(sim.port) as server:
            yield server, sim
    else:
        async with bridge_stack(extra=CPU_VARIANTS[variant]) as stack:
            yield stack


async def endpointing_cpu(sizes: Sizes) -> list[dict[str, Any]]:
    """The bridge's CPU with endpointing off and on, at Home Assistant load (the byte-counting
    simulator, which sends interims when asked; noise as audio; the detector runs on every
    frame, and no command ends early: the per-chunk cost, not the early answers').

    The two servers of a pair run at the same time, each with its own simulator and the same
    load, so both see the same machine: this shared machine's load moves a server's figure
    by ±0.5 ms per audio s from one run to the next, far more than what is measured here;
    the two of a pair move together. The order of each pair swaps from run to run."""
    rows = []
    for repeat in range(sizes.capacity_repeats):
        for streams in sizes.endpointing_cpu_streams:
            load = ha_load(streams, sizes.capacity_seconds, 3)
            for pair_index, pair in enumerate(CPU_PAIRS, 1):
                order = pair if repeat % 2 == 0 else pair[::-1]
                async with contextlib.AsyncExitStack() as stack:
                    servers = [await stack.enter_async_context(cpu_server(v)) for v in order]
                    measured_rows = await asyncio.gather(
                        *(
                            measured([load], server, sim, _finish_times(sim))
                            for server, sim in servers
                        )
                    )
                for variant, (row,) in zip(order, measured_rows, strict=True):
                    rows.append(
                        {
                            **row,
                            "server": "naive" if variant == "naive" else "bridge",
                            "variant": variant,
                            "endpointing": variant == "on",
                            "pair": pair_index,
                            "repeat": repeat + 1,
                        }
                    )
    return rows


def _finish_times(sim: Proc) -> BackendTimes:
    return lambda: sim_finish_times(sim.port)


async def side_by_side(sizes: Sizes, latencies: tuple[float, ...]) -> dict[str, Any]:
    """This bridge and wyoming-openai, same client and utterances, with and without latency."""
    python = await asyncio.to_thread(peer.ensure_peer)
    if python is None:
        return {"skipped": "no Python >= 3.12 for wyoming-openai"}
    loads = [ha_load(sizes.peer_streams, s, n) for s, n in sizes.peer_lengths]
    rows: list[dict[str, Any]] = []
    for latency in latencies:
        for row in await bridge_rows(loads, latency):
            rows.append({**row, "server": "wyoming-truebar"})
        async with peer.stub(latency) as backend, peer.peer(python, backend.port) as server:
            times = lambda: peer.stub_times(backend.port)  # noqa: E731
            for row in await measured(loads, server, backend, times):
                rows.append({**row, "server": "wyoming-openai", "wan_latency_ms": latency * 1000})
    return {"peer_version": peer.peer_version(python), "rows": rows}


async def startup(sizes: Sizes) -> dict[str, Any]:
    """Start-up time to the first Info answer, and idle memory."""
    first_info, idle = [], []
    async with simulator() as sim:
        for _ in range(sizes.startup_runs):
            port = free_port()
            args = [sys.executable, "-m", "wyoming_truebar", "--uri", f"tcp://127.0.0.1:{port}"]
            env = bridge_env(sim_url(sim.port), inherit_settings=False)
            async with spawn(args, env, port) as proc:
                while True:
                    try:
                        await describe(port, timeout=1.0)
                        break
                    except (OSError, TimeoutError):
                        await asyncio.sleep(FIRST_INFO_POLL)
                first_info.append((time.perf_counter() - proc.started) * 1000)
                await asyncio.sleep(IDLE_SETTLE)
                idle.append(memory_kib(proc.proc.pid) * 1024 / 1e6)
    return {"first_info_ms": sorted(first_info), "idle_rss_mb": sorted(idle)}


def conversion_rows(sizes: Sizes) -> list[dict[str, Any]]:
    """Audio conversion throughput and SNR."""
    return conversion.measure(sizes.conversion_seconds, sizes.conversion_repeats)


async def profile(sizes: Sizes, out: Path | None, top: int = 20) -> dict[str, Any]:
    """Sample the bridge with py-spy under Home Assistant-shaped load; the functions with the
    most own time. The collapsed stacks are kept in `out` (committed with the results)."""
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        return {"skipped": "py-spy is not installed"}
    load = ha_load(sizes.profile_streams, 3.0, 2)
    async with bridge_stack() as (server, sim):
        record = subprocess.Popen(
            [
                found,
                "record",
                "--pid",
                str(server.proc.pid),
                "--format",
                "raw",
                "--output",
                "/dev/stdout",
                "--rate",
                "250",
                "--duration",
                str(int(load.seconds * 2 + 2)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        row = await run_load(load, server, sim, lambda: sim_finish_times(sim.port))
        raw, _ = await asyncio.to_thread(record.communicate)
    if out is not None:
        out.write_text(raw)
    return {
        "streams": load.satellites,
        "chunk_ms": load.chunk_ms,
        "server_cpu_ms_per_audio_s": row["server_cpu_ms_per_audio_s"],
        "stacks_file": out.name if out is not None else None,
        "top": _top_functions(raw, top),
    }


def _top_functions(raw: str, top: int) -> list[dict[str, Any]]:
    own: dict[str, int] = {}
    total = idle = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frame = stack.rsplit(";", 1)[-1]
        total += int(count)
        if "select (selectors.py" in frame:
            idle += int(count)
            continue
        own[frame] = own.get(frame, 0) + int(count)
    busy = max(1, total - idle)
    ranked = sorted(own.items(), key=lambda item: -item[1])[:top]
    return [{"function": f, "busy_percent": 100 * n / busy} for f, n in ranked]
