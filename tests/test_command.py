"""The installed `wyoming-truebar` command, run as a subprocess against the simulator."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from wyoming.client import AsyncTcpClient
from wyoming.info import Describe

from tests.conftest import Sim
from tests.wyoming_client import transcribe
from truebar_sim.demo import free_port, wait_until
from truebar_sim.fixtures import load_fixtures


def command() -> str:
    found = shutil.which("wyoming-truebar", path=str(Path(sys.executable).parent))
    assert found, "the console script is not installed"
    return found


async def test_installed_command_serves_and_stops_on_sigterm(sim: Sim) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TRUEBAR_USERNAME": "demo",
        "TRUEBAR_PASSWORD": "demo",
        "TRUEBAR_AUTH_URL": sim.url + "/realms/truebar/protocol/openid-connect/token",
        "TRUEBAR_API_BASE_URL": sim.url,
        "TRUEBAR_STT_WS_URL": sim.url.replace("http", "ws") + "/api/pipelines/stream",
    }
    proc = subprocess.Popen(
        [command(), "--uri", f"tcp://127.0.0.1:{port}"], env=env, stderr=subprocess.PIPE
    )
    try:

        async def up() -> None:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Describe().event())
                async with asyncio.timeout(1):
                    assert await client.read_event() is not None

        await wait_until(up, "the bridge")
        fixture = load_fixtures()[0]
        reply = await transcribe(port, fixture.pcm())
        assert reply.text == fixture.text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(proc.communicate, timeout=15)
    assert proc.returncode == 0, err.decode()
    assert b"transcript in" in err


def test_bad_setting_stops_startup_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUEBAR_")}
    done = subprocess.run(
        [command(), "--finish-timeout", "x"],
        env={**env, "TRUEBAR_USERNAME": "u", "TRUEBAR_PASSWORD": "p"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "wyoming-truebar: error: setting 'finish_timeout' (--finish-timeout, "
        "env TRUEBAR_FINISH_TIMEOUT): expected float"
    ]


async def test_sigterm_lets_the_utterance_in_flight_finish(sim: Sim) -> None:
    from tests.procs import bridge_process  # noqa: PLC0415

    fixture = load_fixtures()[2]
    async with bridge_process(sim.url) as proc:
        utterance = asyncio.create_task(transcribe(proc.port, fixture.pcm(), realtime=True))
        await asyncio.sleep(1.0)
        proc.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        # No new connections are accepted once stopping...
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", proc.port)
            writer.close()
            refused = False
        except ConnectionError:
            refused = True
        # ...but the utterance in flight still gets its transcript, and the exit is clean.
        reply = await utterance
        code = await asyncio.to_thread(proc.proc.wait, 20)
    assert refused
    assert reply.text == fixture.text
    assert code == 0
