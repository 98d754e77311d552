"""The installed `wyoming-truebar` command, run as a subprocess against the simulator."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncUnixClient
from wyoming.info import Describe

from tests.conftest import Sim, start_bridge
from tests.procs import bridge_process, command
from tests.wyoming_client import transcribe
from truebar_sim.fixtures import load_fixtures


async def test_installed_command_serves_and_stops_on_sigterm(sim: Sim) -> None:
    fixture = load_fixtures()[0]
    async with bridge_process(sim.url) as proc:
        reply = await transcribe(proc.port, fixture.pcm())
        code = await proc.stop()
    assert reply.text == fixture.text
    assert code == 0, proc.output()
    assert "ended by audio_stop, transcript" in proc.output()


async def test_unix_socket_uri(sim: Sim, tmp_path: Path) -> None:
    path = tmp_path / "bridge.sock"
    running = await start_bridge(sim, uri=f"unix://{path}")
    try:
        async with AsyncUnixClient(str(path)) as client:
            await client.write_event(Describe().event())
            event = await asyncio.wait_for(client.read_event(), 1)
    finally:
        await running.close()
    assert event is not None
    assert event.type == "info"


def test_bad_setting_stops_startup_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUEBAR_")}
    done = subprocess.run(
        [command("wyoming-truebar"), "--finish-timeout", "x"],
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


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_demo_command_transcribes_the_fixtures() -> None:
    """The README's first command (script/demo runs truebar-demo) works end to end."""
    done = await asyncio.to_thread(
        subprocess.run,
        [command("truebar-demo"), "--fast"],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = re.search(r"(\d+) of (\d+) transcripts match", done.stdout)
    assert summary, done.stdout
    assert int(summary.group(1)) >= int(summary.group(2)) - 2


async def test_stdio_uri_serves_one_client_over_pipes(sim: Sim) -> None:
    from tests.procs import bridge_env  # noqa: PLC0415
    from wyoming_truebar.server.wyoming_io import EventParser, encode_event  # noqa: PLC0415

    fixture = load_fixtures()[0]
    pcm = fixture.pcm()
    wire = b"".join(
        encode_event(e)
        for e in [
            Describe().event(),
            Transcribe(language="en").event(),
            AudioStart(16000, 2, 1).event(),
            *(AudioChunk(16000, 2, 1, pcm[i : i + 320]).event() for i in range(0, len(pcm), 320)),
            AudioStop().event(),
        ]
    )
    proc = await asyncio.create_subprocess_exec(
        command("wyoming-truebar"),
        "--uri",
        "stdio://",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=bridge_env(sim.url),
    )
    # The whole utterance, then the end of stdin (as `cat utterance | wyoming-truebar`): the
    # transcript still comes, then the server exits.
    out, _ = await asyncio.wait_for(proc.communicate(wire), 30)
    assert proc.returncode == 0
    events = EventParser(1 << 20).feed(out)
    assert [e.type for e in events] == [
        "info",
        "transcript-start",
        "transcript-chunk",
        "transcript",
        "transcript-stop",
    ]
    assert events[3].data["text"] == fixture.text
