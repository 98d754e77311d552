"""Home Assistant in the loop: HA's own `wyoming` integration against the bridge and simulator.

This suite runs once per supported Home Assistant release (2025.4.4 on Python 3.13, 2026.10.4
on Python 3.14), each in its own venv created by `script/test-ha`, because Home Assistant pins
its own `wyoming` (1.5.4, 1.10.2) and its own Python. The bridge and
the simulator therefore run as real processes from the main venv (`WYOMING_TRUEBAR_BIN`), and
Home Assistant talks to them over loopback exactly as it would in a home.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import pytest
import pytest_socket
from homeassistant.components import stt
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component

from tests.procs import Proc, bridge_env, command, launch, wait_listening
from truebar_sim.demo import free_port

collect_ignore = (
    [] if (MAJOR_VERSION, MINOR_VERSION) >= (2026, 1) else ["test_home_assistant_2026.py"]
)
"""What only Home Assistant 2026 does is tested only there."""
SAMPLE_BYTES_PER_SECOND = 32000
HA_CHUNK = 320
"""Home Assistant's assist pipeline cuts audio into 10 ms pieces (assist_pipeline.const)."""
RESULT_BOUND = 30.0
"""Seconds any Home Assistant call may take here before the test calls it a hang."""


T = TypeVar("T")


async def gather(jobs: Iterable[Awaitable[T]]) -> list[T]:
    """Every job at once; their results in order."""
    return list(await asyncio.gather(*jobs))


def ha_metadata(language: str = "en-US") -> stt.SpeechMetadata:
    """The metadata Home Assistant's pipeline passes to an STT entity."""
    return stt.SpeechMetadata(
        language=language,
        format=stt.AudioFormats.WAV,
        codec=stt.AudioCodecs.PCM,
        bit_rate=stt.AudioBitRates.BITRATE_16,
        sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
        channel=stt.AudioChannels.CHANNEL_MONO,
    )


def ha_pieces(pcm: bytes) -> bytes:
    """The audio Home Assistant really sends: whole 10 ms pieces (a shorter tail is dropped)."""
    return pcm[: len(pcm) - len(pcm) % HA_CHUNK]


@dataclass
class Microphone:
    """Plays audio as a microphone does: 10 ms pieces, each when its last sample was spoken."""

    pcm: bytes
    on_piece: Callable[[int], None] | None = None
    """Called with the piece's index just before it is handed over (to inject faults)."""
    ended_at: float | None = None
    """Loop time at which the last piece was handed over."""
    began_at: float | None = None
    """Loop time at which the first sample was spoken (the first piece is due 10 ms later)."""

    async def stream(self) -> AsyncIterator[bytes]:
        """The audio stream, paced in real time."""
        loop = asyncio.get_running_loop()
        began = self.began_at = loop.time()
        for index, offset in enumerate(range(0, len(self.pcm) - HA_CHUNK + 1, HA_CHUNK)):
            due = began + (offset + HA_CHUNK) / SAMPLE_BYTES_PER_SECOND
            await asyncio.sleep(max(0.0, due - loop.time()))
            if self.on_piece is not None:
                self.on_piece(index)
            yield self.pcm[offset : offset + HA_CHUNK]
        self.ended_at = loop.time()


@dataclass
class Sim:
    """A simulator process and its control endpoints."""

    proc: Proc
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.proc.port}"

    async def post(self, path: str, body: dict[str, Any] | None = None) -> None:
        """POST to a control endpoint."""
        async with aiohttp.ClientSession() as http, http.post(self.url + path, json=body) as r:
            r.raise_for_status()

    async def rehearse(self, pcm: bytes) -> int:
        """Let the simulator decode ahead what live sessions of this audio will ask for (so
        that many rooms can speak at once without a stream's text waiting for another's
        decodes); how many decodes it took."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url + "/_sim/rehearse", data=pcm) as resp,
        ):
            resp.raise_for_status()
            return int((await resp.json())["decodes"])

    async def faults(self, **faults: Any) -> None:
        """Inject faults (names of the simulator's Faults)."""
        await self.post("/_sim/faults", faults)

    async def counters(self) -> dict[str, Any]:
        """The simulator's counters."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.url + "/_sim/counters") as resp,
        ):
            data: dict[str, Any] = await resp.json()
            return data


@contextmanager
def sockets_allowed() -> Iterator[None]:
    """Allow this process's sockets for a moment (pytest-homeassistant blocks them outside
    tests that ask for `socket_enabled`, e.g. while session fixtures are set up)."""
    blocked = socket.socket is not pytest_socket._true_socket
    pytest_socket.enable_socket()
    try:
        yield
    finally:
        if blocked:
            pytest_socket.disable_socket(allow_unix_socket=True)


def start_sim(*args: str) -> Sim:
    """Start `truebar-sim` (real recognition) from the main venv and wait until it listens."""
    with sockets_allowed():
        port = free_port()
        env = dict(os.environ)
        proc = launch([command("truebar-sim"), "--port", str(port), *args], env, port)
        wait_listening(proc)
    return Sim(proc)


def start_bridge(sim: Sim, *args: str, **env: str) -> Proc:
    """Start `wyoming-truebar` from the main venv against a simulator; wait until it listens."""
    with sockets_allowed():
        port = free_port()
        cmd = [command("wyoming-truebar"), "--uri", f"tcp://127.0.0.1:{port}", *args]
        proc = launch(cmd, bridge_env(sim.url, **env), port)
        wait_listening(proc)
    return proc


@pytest.fixture(scope="session")
def sim() -> Iterator[Sim]:
    """One recognising simulator for the session, with a decoder process per core."""
    running = start_sim("--decoders", "2")
    yield running
    running.proc.stop_now()


@pytest.fixture(scope="session")
def bridge(sim: Sim) -> Iterator[Proc]:
    """One bridge with default settings for the session."""
    running = start_bridge(sim)
    yield running
    running.stop_now()


@pytest.fixture
def processes() -> Iterator[list[Proc]]:
    """Processes a test starts for itself; stopped (and their logs kept) at its end."""
    started: list[Proc] = []
    yield started
    for proc in started:
        if proc.proc.poll() is None:
            proc.stop_now()


@pytest.fixture(autouse=True)
async def _loopback_and_clean_sim(socket_enabled: None, sim: Sim) -> None:
    """Sockets are allowed (pytest-homeassistant allows connections to 127.0.0.1 only), and
    every test starts with a simulator free of faults."""
    await sim.post("/_sim/reset")


async def set_up_wyoming(hass: HomeAssistant, port: int) -> stt.SpeechToTextEntity:
    """Add the bridge through the Wyoming integration's real config flow; return the entity."""
    assert await async_setup_component(hass, "homeassistant", {})
    # No ffmpeg binary on these machines; STT does not use it. `true` answers its version probe.
    assert await async_setup_component(hass, "ffmpeg", {"ffmpeg": {"ffmpeg_bin": "true"}})
    flow = await hass.config_entries.flow.async_init("wyoming", context={"source": SOURCE_USER})
    assert flow["type"] is FlowResultType.FORM
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"host": "127.0.0.1", "port": port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entity = stt.async_get_speech_to_text_entity(hass, "stt.truebar")
    assert entity is not None, hass.states.async_entity_ids()
    return entity


async def own_bridge(
    hass: HomeAssistant, sim: Sim, processes: list[Proc], *args: str, **env: str
) -> tuple[Proc, stt.SpeechToTextEntity]:
    """A bridge of this test's own (stopped at its end), added to Home Assistant."""
    bridge = start_bridge(sim, *args, **env)
    processes.append(bridge)
    return bridge, await set_up_wyoming(hass, bridge.port)


async def process(
    entity: stt.SpeechToTextEntity, mic: Microphone, language: str = "en-US"
) -> tuple[stt.SpeechResult, float]:
    """Run the entity on a microphone stream the way the pipeline does; return the result and
    the seconds from the last piece to the result. A hang fails the test, bounded."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESULT_BOUND + len(mic.pcm) / SAMPLE_BYTES_PER_SECOND):
            result = await entity.async_process_audio_stream(ha_metadata(language), mic.stream())
    except TimeoutError:
        pytest.fail("Home Assistant's STT entity hung: no result, no closed connection")
    return result, loop.time() - (mic.ended_at or loop.time())
