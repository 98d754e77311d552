"""The demo: start the simulator and the bridge, transcribe the bundled fixtures through Wyoming."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from typing import IO

import aiohttp
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe

from .fixtures import Fixture, load_fixtures, load_slovenian_fixtures, speech_end_of

STARTUP_TIMEOUT = 30.0
REPLY_TIMEOUT = 20.0
ROOM_SILENCE = 2.0
"""Seconds of silence after each command in real time (a room, before the client's own VAD)."""


def free_port() -> int:
    """Return a loopback port that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until(check: object, what: str) -> None:
    """Poll an async check until it succeeds (bounded by STARTUP_TIMEOUT)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            await check()  # type: ignore[operator]
        except (OSError, aiohttp.ClientError, TimeoutError):
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"demo: {what} did not start within {STARTUP_TIMEOUT:g} s"
                ) from None
            await asyncio.sleep(0.1)
        else:
            return


async def wait_http(url: str, what: str) -> None:
    """Poll a GET of `url` until it answers 2xx (bounded by STARTUP_TIMEOUT)."""
    async with aiohttp.ClientSession() as http:

        async def up() -> None:
            async with http.get(url) as resp:
                resp.raise_for_status()

        await wait_until(up, what)


def bridge_env(sim_url: str, inherit_settings: bool = True) -> dict[str, str]:
    """The environment for a bridge pointed at a simulator, with the demo account (the
    password goes in the environment, never on a command line). Without `inherit_settings`,
    TRUEBAR_* variables of this process are dropped, so only defaults apply."""
    env = {k: v for k, v in os.environ.items() if inherit_settings or not k.startswith("TRUEBAR_")}
    env.update(
        TRUEBAR_USERNAME="demo",
        TRUEBAR_PASSWORD="demo",  # noqa: S106 - the simulator's demo account
        TRUEBAR_AUTH_URL=sim_url + "/realms/truebar/protocol/openid-connect/token",
        TRUEBAR_API_BASE_URL=sim_url,
        TRUEBAR_STT_WS_URL=sim_url.replace("http", "ws", 1) + "/api/pipelines/stream",
    )
    return env


@contextlib.asynccontextmanager
async def running(
    args: list[str], env: dict[str, str], log: IO[bytes]
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """Run a command for the duration of the block, then stop it with SIGTERM."""
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)  # noqa: ASYNC220, S603
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _answer(client: AsyncTcpClient) -> Event | None:
    """The transcript or error (streaming servers send transcript-start/-chunk first)."""
    while (event := await client.read_event()) is not None:
        if event.type in ("transcript", "error"):
            return event
    return None


async def utterance(
    port: int, fixture: Fixture, realtime: bool, language: str = "en"
) -> tuple[str, float]:
    """Send one fixture like Home Assistant 2026 does; return the transcript and its latency.

    In real time the client reads while it speaks, with ROOM_SILENCE of silence after the
    command, and stops at the answer (as Home Assistant does); the latency counts from the end
    of the speech. As fast as possible, it counts from audio-stop."""
    pcm = fixture.pcm() + (bytes(int(ROOM_SILENCE * 32000)) if realtime else b"")
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language=language).event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        reading = asyncio.create_task(_answer(client))
        began = time.perf_counter()
        for offset in range(0, len(pcm), 320 if realtime else 2048):
            if reading.done():
                break
            chunk = pcm[offset : offset + (320 if realtime else 2048)]
            await client.write_event(AudioChunk(16000, 2, 1, chunk).event())
            if realtime:
                await asyncio.sleep(max(0.0, began + (offset + 320) / 32000 - time.perf_counter()))
        if not reading.done():
            await client.write_event(AudioStop().event())
        stopped = time.perf_counter()
        async with asyncio.timeout(REPLY_TIMEOUT):
            event = await reading
        answered = time.perf_counter()
    latency = answered - (began + speech_end_of(fixture) if realtime else stopped)
    if event is None:
        return "<connection closed>", latency
    if event.type == "error":
        return f"<error {event.data.get('code')}: {event.data.get('text')}>", latency
    return str(event.data.get("text")), latency


async def demo(realtime: bool, language: str = "en") -> int:
    """Run the whole demo; return the process exit code."""
    sim_port, bridge_port = free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    env = bridge_env(sim_url)
    # The simulator hears the Slovenian fixtures by their known words (it has no Slovenian
    # model): the demo tells it about them openly, with --scripts.
    sim_cmd = [sys.executable, "-m", "truebar_sim", "--port", str(sim_port), "--scripts", "bundled"]
    bridge_cmd = [
        sys.executable,
        "-m",
        "wyoming_truebar",
        "--uri",
        f"tcp://127.0.0.1:{bridge_port}",
    ]
    log = tempfile.NamedTemporaryFile(prefix="truebar-demo-", suffix=".log", delete=False)  # noqa: SIM115
    print(f"Logs of the simulator and the bridge: {log.name}")
    async with running(sim_cmd, env, log), running(bridge_cmd, env, log):

        async def bridge_up() -> None:
            async with AsyncTcpClient("127.0.0.1", bridge_port) as client:
                await client.write_event(Describe().event())
                async with asyncio.timeout(1):
                    await client.read_event()

        await wait_http(sim_url + "/api/info", "the simulator")
        await wait_until(bridge_up, "the bridge")
        print(
            f"Simulator on {sim_url}, bridge on tcp://127.0.0.1:{bridge_port}"
            f" ({'real-time' if realtime else 'as fast as possible'} audio)\n"
        )
        right = 0
        fixtures: list[Fixture] = [*load_slovenian_fixtures()] if language == "sl" else []
        fixtures = fixtures or load_fixtures()
        for fixture in fixtures:
            text, latency = await utterance(bridge_port, fixture, realtime, language)
            ok = text == fixture.text
            right += ok
            mark = "ok  " if ok else "MISS"
            print(
                f"{mark} {latency * 1000:6.1f} ms  {text!r}"
                + ("" if ok else f"  (said: {fixture.text!r})"),
                flush=True,
            )
        print(
            f"\n{right} of {len(fixtures)} transcripts match what was said; latency is "
            + (
                "end of speech -> transcript (Home Assistant's own silence timer alone would "
                "answer about 1300 ms after the end of speech)."
                if realtime
                else "audio-stop -> transcript."
            )
        )
        return 0 if right >= len(fixtures) // 2 else 1


def run() -> None:
    """Entry point of `truebar-demo`."""
    parser = argparse.ArgumentParser(prog="truebar-demo", description=__doc__)
    parser.add_argument(
        "--fast", action="store_true", help="send audio as fast as possible instead of in real time"
    )
    parser.add_argument(
        "--language",
        choices=["en", "sl"],
        default="en",
        help="en: the English commands (recognised by pocketsphinx); sl: the Slovenian ones "
        "(the simulator hears them by their known words) (default: %(default)s)",
    )
    args = parser.parse_args()
    sys.exit(asyncio.run(demo(realtime=not args.fast, language=args.language)))


if __name__ == "__main__":
    run()
