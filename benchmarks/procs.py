"""Processes under measurement: start them, wait until they answer, read their CPU and memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from wyoming.info import Describe

from truebar_sim.demo import bridge_env, free_port, wait_http, wait_until
from wyoming_truebar.server.wyoming_io import encode_event

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT = 20.0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process so far, summed over its threads.

    /proc/PID/task/*/sched has nanosecond sums where the kernel offers it; /proc/PID/stat
    (10 ms ticks) is the fallback. Threads that already ended are not counted by the former.
    """
    total, found = 0.0, False
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for line in (task / "sched").read_text().splitlines():
                if line.startswith("se.sum_exec_runtime"):
                    total += float(line.split(":")[1]) / 1000
                    found = True
                    break
    if found:
        return total
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def user_system_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU time of a process so far (/proc/PID/stat, 10 ms ticks; all threads,
    ended ones included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def memory_kib(pid: int, key: str = "VmRSS") -> int:
    """A memory figure of /proc/PID/status in KiB (VmRSS now, VmHWM the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def family(pid: int) -> list[int]:
    """A process and its children (the bridge and its sentences' process), those alive."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in task.read_text().split()]
    return found


def _summed(read: Callable[[int], Any], pid: int) -> Any:
    total: Any = 0
    for member in family(pid):
        with contextlib.suppress(OSError, KeyError, ValueError):
            total += read(member)
    return total


@dataclass
class Proc:
    """A running process under measurement."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    started: float

    def cpu(self) -> float:
        """CPU seconds used so far (its children alive too: the sentences' process)."""
        return float(_summed(cpu_seconds, self.proc.pid))

    def cpu_split(self) -> tuple[float, float]:
        """User and system CPU seconds used so far (children alive too)."""
        user = _summed(lambda pid: user_system_seconds(pid)[0], self.proc.pid)
        return float(user), float(_summed(lambda pid: user_system_seconds(pid)[1], self.proc.pid))

    def rss_kib(self) -> int:
        """Resident memory now (children too: the sentences' process)."""
        return int(_summed(memory_kib, self.proc.pid))

    def peak_kib(self) -> int:
        """Peak resident memory so far (the sum of each one's peak, children alive too)."""
        return int(_summed(lambda pid: memory_kib(pid, "VmHWM"), self.proc.pid))

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit (bounded)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)


@contextlib.asynccontextmanager
async def spawn(args: Sequence[str], env: dict[str, str], port: int) -> AsyncIterator[Proc]:
    """Run a command (output to a temp file) for the duration of the block."""
    log = Path(tempfile.mkstemp(prefix="bench-", suffix=".log")[1])
    with log.open("wb") as out:
        started = time.perf_counter()
        popen = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    proc = Proc(popen, port, log, started)
    try:
        yield proc
    finally:
        await asyncio.to_thread(proc.stop)
        log.unlink(missing_ok=True)


async def describe(port: int, timeout: float = 1.0) -> None:
    """Send Describe and wait for any answer (raises OSError or TimeoutError if none)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(encode_event(Describe().event()))
            await writer.drain()
            if not await reader.readline():
                raise ConnectionResetError("closed without an answer")
        finally:
            writer.close()


def sim_url(port: int) -> str:
    """Base URL of a simulator on loopback."""
    return f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def served(module: str, args: Sequence[str], path: str, what: str) -> AsyncIterator[Proc]:
    """`python -m module --port PORT args` on a free port, once `path` answers over HTTP."""
    port = free_port()
    command = [sys.executable, "-m", module, "--port", str(port), *args]
    async with spawn(command, dict(os.environ), port) as proc:
        await wait_http(f"http://127.0.0.1:{port}{path}", what)
        yield proc


@contextlib.asynccontextmanager
async def simulator(latency: float = 0.0) -> AsyncIterator[Proc]:
    """The Truebar simulator in its cheap byte-counting mode."""
    args = ["--mode", "bytes", *(["--latency", str(latency)] if latency else [])]
    async with served("truebar_sim", args, "/api/info", "the simulator") as proc:
        yield proc


@contextlib.asynccontextmanager
async def bridge(sim_port: int, *extra: str) -> AsyncIterator[Proc]:
    """The bridge (`python -m wyoming_truebar`) in front of a simulator."""
    port = free_port()
    args = [sys.executable, "-m", "wyoming_truebar", "--uri", f"tcp://127.0.0.1:{port}", *extra]
    async with spawn(args, bridge_env(sim_url(sim_port), inherit_settings=False), port) as proc:
        await wait_until(lambda: describe(port), "the bridge")
        yield proc


@contextlib.asynccontextmanager
async def naive_bridge(sim_port: int) -> AsyncIterator[Proc]:
    """The naive reference bridge (benchmarks/naive_bridge.py) in front of a simulator."""
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "benchmarks.naive_bridge",
        "--uri",
        f"tcp://127.0.0.1:{port}",
        "--sim",
        sim_url(sim_port),
    ]
    async with spawn(args, dict(os.environ), port) as proc:
        await wait_until(lambda: describe(port), "the naive bridge")
        yield proc


async def sim_finish_times(sim_port: int) -> dict[int, float]:
    """The simulator's own EOS -> FINISHED times in ms, by the audio bytes of the session."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(sim_url(sim_port) + "/_sim/counters") as resp,
    ):
        counters = await resp.json()
    return {int(size): float(ms) for size, ms in counters["finish_times"]}
