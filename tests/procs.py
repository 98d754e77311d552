"""Run the installed commands as real processes (for memory, logging and signal tests)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from wyoming.client import AsyncTcpClient
from wyoming.info import Describe

from truebar_sim.demo import bridge_env as demo_bridge_env
from truebar_sim.demo import free_port, wait_http, wait_until


def command(name: str) -> str:
    """Return the path of an installed console script of this project."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is not installed"
    return found


@dataclass
class Proc:
    """A started process with its port and the file collecting its output."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(errors="replace")

    def peak_rss_kib(self) -> int:
        """Peak resident memory (VmHWM) of the process, in KiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")

    async def stop(self) -> int:
        """SIGTERM, then wait (bounded); return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.proc.wait, 20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@asynccontextmanager
async def spawn(args: list[str], env: dict[str, str], port: int) -> AsyncIterator[Proc]:
    """Run a command with its output in a temp file; stop it at the end of the block."""
    with tempfile.NamedTemporaryFile(prefix="proc-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    running = Proc(proc, port, Path(log.name))
    try:
        yield running
    finally:
        await running.stop()


def bridge_env(sim_url: str, **extra: str) -> dict[str, str]:
    """Environment for a bridge process pointed at a simulator (no inherited TRUEBAR_*)."""
    return {**demo_bridge_env(sim_url, inherit_settings=False), **extra}


@asynccontextmanager
async def bridge_process(sim_url: str, *args: str, **env: str) -> AsyncIterator[Proc]:
    """Start `wyoming-truebar` against a simulator and wait until it answers Describe."""
    port = free_port()
    cmd = [command("wyoming-truebar"), "--uri", f"tcp://127.0.0.1:{port}", *args]
    async with spawn(cmd, bridge_env(sim_url, **env), port) as proc:

        async def up() -> None:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Describe().event())
                async with asyncio.timeout(1):
                    assert await client.read_event() is not None

        await wait_until(up, "the bridge")
        yield proc


@asynccontextmanager
async def sim_process(*args: str) -> AsyncIterator[Proc]:
    """Start `truebar-sim` and wait until it answers."""
    port = free_port()
    cmd = [command("truebar-sim"), "--port", str(port), *args]
    async with spawn(cmd, dict(os.environ), port) as proc:
        await wait_http(f"http://127.0.0.1:{port}/api/info", "the simulator")
        yield proc
