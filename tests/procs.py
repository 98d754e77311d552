"""Run the installed commands as real processes (for memory, logging and signal tests)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from wyoming.client import AsyncTcpClient
from wyoming.info import Describe

from truebar_sim.demo import bridge_env as demo_bridge_env
from truebar_sim.demo import free_port, wait_http, wait_until

BIN_DIR = Path(os.environ.get("WYOMING_TRUEBAR_BIN") or Path(sys.executable).parent)
"""Where the project's commands are installed: this interpreter's venv, or (for the Home
Assistant suite, whose venv cannot hold the project) the main venv named by the environment."""


def command(name: str) -> str:
    """Return the path of an installed console script of this project."""
    found = shutil.which(name, path=str(BIN_DIR))
    assert found, f"{name} is not installed in {BIN_DIR}"
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
        return await asyncio.to_thread(self.stop_now)

    def stop_now(self) -> int:
        """SIGTERM, then wait (bounded, then SIGKILL); return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def launch(args: list[str], env: dict[str, str], port: int) -> Proc:
    """Start a command with its output in a temp file (the caller stops it)."""
    with tempfile.NamedTemporaryFile(prefix="proc-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Proc(proc, port, Path(log.name))


def wait_listening(proc: Proc, timeout: float = 30.0) -> None:
    """Block until the process accepts TCP connections on its port (both commands bind only
    once they are ready to serve); fail with its output if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", proc.port), timeout=1).close()
        except OSError:
            if proc.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"{proc.proc.args!r} did not start:\n{proc.output()}"
                ) from None
            time.sleep(0.05)
        else:
            return


@asynccontextmanager
async def spawn(args: list[str], env: dict[str, str], port: int) -> AsyncIterator[Proc]:
    """Run a command with its output in a temp file; stop it at the end of the block."""
    running = launch(args, env, port)
    try:
        yield running
    finally:
        await running.stop()


def bridge_env(sim_url: str, **extra: str) -> dict[str, str]:
    """Environment for a bridge process pointed at a simulator (no inherited TRUEBAR_*).

    Endpointing is off unless asked for: these tests pin what the client gets at audio-stop
    (every byte at Truebar, the whole text); the endpointing tests turn it on."""
    base = {**demo_bridge_env(sim_url, inherit_settings=False), "TRUEBAR_ENDPOINTING": "false"}
    return {**base, **extra}


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
