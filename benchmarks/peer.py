"""The peer: wyoming-openai (buffers the utterance, uploads it after audio-stop) in front of the
minimal OpenAI-compatible stub. It needs Python >= 3.12, so it gets its own venv."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from truebar_sim.demo import free_port, wait_until

from .procs import Proc, describe, served, spawn

PEER_REQUIREMENT = "wyoming_openai==0.8.0"
PEER_VENV = Path(__file__).resolve().parent.parent / ".venv-peer"
PYTHONS = ("python3.13", "python3.12")


def find_python() -> str | None:
    """A working Python >= 3.12 (pyenv's versions or PATH), or None."""
    pyenv = sorted((Path.home() / ".pyenv" / "versions").glob("3.1[2-9]*/bin/python3"))
    candidates = [str(path) for path in reversed(pyenv)]
    candidates += [found for name in PYTHONS if (found := shutil.which(name))]
    check = "import sys; sys.exit(sys.version_info < (3, 12))"
    for candidate in candidates:
        ran = subprocess.run([candidate, "-c", check], check=False, capture_output=True)
        if ran.returncode == 0:
            return candidate
    return None


def ensure_peer() -> Path | None:
    """Install the peer into .venv-peer (once); return its python, or None if impossible."""
    python = PEER_VENV / "bin" / "python"
    if python.exists():
        check = subprocess.run([python, "-c", "import wyoming_openai"], check=False)
        if check.returncode == 0:
            return python
    base = find_python()
    if base is None:
        return None
    subprocess.run([base, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", PEER_REQUIREMENT]
    subprocess.run(pip, check=True, stdout=subprocess.DEVNULL)
    return python


def peer_version(python: Path) -> str:
    """The installed wyoming-openai version."""
    code = "import importlib.metadata as m; print(m.version('wyoming_openai'))"
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True)
    return out.stdout.strip()


@contextlib.asynccontextmanager
async def stub(latency: float) -> AsyncIterator[Proc]:
    """The OpenAI-compatible stub on loopback."""
    args = ["--latency", str(latency)]
    async with served("benchmarks.openai_stub", args, "/_stub/times", "the OpenAI stub") as proc:
        yield proc


@contextlib.asynccontextmanager
async def peer(python: Path, stub_port: int) -> AsyncIterator[Proc]:
    """wyoming-openai in its buffering (non-streaming) mode, pointed at the stub."""
    port = free_port()
    args = [
        str(python),
        "-m",
        "wyoming_openai",
        "--uri",
        f"tcp://127.0.0.1:{port}",
        "--stt-openai-url",
        f"http://127.0.0.1:{stub_port}/v1",
        "--stt-openai-key",
        "local-stub-needs-no-key",
        "--stt-models",
        "whisper-1",
        "--stt-backend",
        "OPENAI",
        "--languages",
        "en",
        "--log-level",
        "WARNING",
    ]
    async with spawn(args, dict(os.environ), port) as proc:
        await wait_until(lambda: describe(port), "wyoming-openai")
        yield proc


async def stub_times(stub_port: int) -> dict[int, float]:
    """The stub's own time per request in ms, by PCM bytes."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{stub_port}/_stub/times") as resp,
    ):
        return {int(size): float(ms) for size, ms in await resp.json()}
