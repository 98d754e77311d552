"""Home Assistant in the loop: HA's own `wyoming` integration against the bridge and simulator.

This suite runs once per supported Home Assistant release (2025.4.4 on Python 3.13, 2026.10.4
on Python 3.14), each in its own venv created by `script/test-ha`, because Home Assistant pins
its own `wyoming` (1.5.4, 1.10.2) and its own Python. The bridge and
the simulator therefore run as real processes from the main venv (`WYOMING_TRUEBAR_BIN`), and
Home Assistant talks to them over loopback exactly as it would in a home.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
import pytest
import pytest_socket
from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
from homeassistant.components import stt
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_mock_service
from wyoming.event import (  # type: ignore[import-untyped, unused-ignore]
    Event,
    async_read_event,
    async_write_event,
)

from tests.home import ENGLISH_AREAS, ENGLISH_HOME
from tests.procs import Proc, bridge_env, command, launch, wait_listening
from truebar_sim.demo import free_port

collect_ignore = (
    []
    if (MAJOR_VERSION, MINOR_VERSION) >= (2026, 1)
    else ["test_home_assistant_2026.py", "test_names_reader_2026.py"]
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
    """Start `truebar-sim` (real recognition) from the main venv and wait until it listens;
    it decodes on its event loop unless `args` give it decoder processes (it starts sooner)."""
    with sockets_allowed():
        port = free_port()
        env = dict(os.environ)
        cmd = [command("truebar-sim"), "--port", str(port), "--decoders", "0", *args]
        proc = launch(cmd, env, port)
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
    """Processes a test starts for itself; stopped (and their logs kept) at its end. A test
    that serves Home Assistant's API (home_api) asks for this after it, so that its bridges
    stop first: a bridge still connected to the API holds the test server's shutdown (30 s)."""
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


async def add_wyoming(hass: HomeAssistant, port: int) -> str:
    """Add a bridge through the Wyoming integration's config flow (again, for a second one);
    the entity id of its STT entity."""
    before = {e.entry_id for e in hass.config_entries.async_entries("wyoming")}
    await set_up_wyoming(hass, port)
    (entry,) = {e.entry_id for e in hass.config_entries.async_entries("wyoming")} - before
    found = er.async_entries_for_config_entry(er.async_get(hass), entry)
    return next(e.entity_id for e in found if e.domain == "stt")


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


@dataclass(frozen=True)
class HomeApi:
    """Home Assistant's own http and websocket_api on a loopback port, and a long-lived access
    token of an administrator, as a user makes one in their profile."""

    url: str
    token: str
    client: Any = field(repr=False, compare=False)
    """aiohttp's test client of Home Assistant's app (closing it stops the server)."""
    refresh: Any = field(default=None, repr=False, compare=False)
    """The token's refresh token in Home Assistant's auth (removing it revokes the token)."""

    def env(self) -> dict[str, str]:
        """The bridge's settings for it (the token in the environment, never on a command
        line)."""
        return {"TRUEBAR_HASS_URL": self.url, "TRUEBAR_HASS_TOKEN": self.token}


@pytest.fixture
async def home_api(
    hass: HomeAssistant, hass_admin_user: Any, aiohttp_client: Any, socket_enabled: None
) -> HomeApi:
    """Home Assistant's API as its own tests serve it (aiohttp's test server on 127.0.0.1)."""
    return await serve_home_api(hass, hass_admin_user, aiohttp_client)


async def serve_home_api(hass: HomeAssistant, admin: Any, aiohttp_client: Any) -> HomeApi:
    """Home Assistant's http and websocket API on a loopback port, and a long-lived access
    token of an administrator (what `home_api` serves)."""
    # What every Home Assistant loads: the websocket API, the registries' commands (config),
    # exposure to assistants (homeassistant).
    for component in ("websocket_api", "config", "homeassistant"):
        assert await async_setup_component(hass, component, {})
    # As Home Assistant's own server start does: components set up later (intent,
    # conversation) still add their views to the app the server already serves.
    hass.http.app._router.freeze = lambda: None  # type: ignore[method-assign]
    client = await aiohttp_client(hass.http.app)
    refresh = await hass.auth.async_create_refresh_token(
        admin,
        client_name="wyoming-truebar",
        token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=timedelta(days=365),
    )
    token = hass.auth.async_create_access_token(refresh)
    return HomeApi(f"http://127.0.0.1:{client.server.port}", token, client, refresh)


async def set_up_english_home(hass: HomeAssistant) -> None:
    """The English commands' entities, in their areas, exposed to Assist."""
    assert await async_setup_component(hass, "homeassistant", {})
    areas = ar.async_get(hass)
    area_ids: dict[str, str] = {}
    for name in ENGLISH_AREAS:
        found = areas.async_get_area_by_name(name) or areas.async_create(name)
        area_ids[name] = found.id
    entities = er.async_get(hass)
    for entity_id, name, area, attributes in ENGLISH_HOME:
        domain, object_id = entity_id.split(".")
        entities.async_get_or_create(domain, "test", object_id, suggested_object_id=object_id)
        entities.async_update_entity(entity_id, name=name, area_id=area_ids.get(area or ""))
        hass.states.async_set(entity_id, "off", {"friendly_name": name, **attributes})
        async_expose_entity(hass, "conversation", entity_id, True)
    for domain, services in HOME_SERVICES.items():  # the intents' calls, recorded only
        for service in services:
            async_mock_service(hass, domain, service)


SENSITIVITY_SELECT = "select.satellite_finished_speaking_detection"


def set_satellite_sensitivity(hass: HomeAssistant, sensitivity: str) -> None:
    """A satellite's "finished speaking detection" select (Home Assistant's assist_pipeline
    makes one per satellite: translation key vad_sensitivity) at `sensitivity`."""
    registry = er.async_get(hass)
    registry.async_get_or_create(
        "select",
        "test",
        "satellite-vad_sensitivity",
        suggested_object_id="satellite_finished_speaking_detection",
        translation_key="vad_sensitivity",
    )
    hass.states.async_set(SENSITIVITY_SELECT, sensitivity, {"options": SENSITIVITIES})


SENSITIVITIES = ["default", "aggressive", "relaxed"]
SILENCE_SECONDS = {"default": 0.7, "relaxed": 1.25, "aggressive": 0.25}
"""Home Assistant's own finished-speaking silence at each setting (VadSensitivity)."""


HOME_SERVICES = {
    "light": ("turn_on", "turn_off"),
    "fan": ("turn_on", "turn_off"),
    "cover": ("open_cover", "close_cover", "set_cover_position"),
    "lock": ("lock", "unlock"),
    "climate": ("set_temperature",),
    "media_player": ("media_play", "media_pause", "media_stop", "play_media", "search_media"),
    "vacuum": ("start", "clean_area"),
}


async def speak_live(port: int, pcm: bytes, language: str = "en-US") -> str | None:
    """One utterance straight to the bridge, as a satellite that reads while it speaks: 10 ms
    pieces in real time, the transcribe event's context asking for endpointing (whatever
    this venv's wyoming says of itself), the upload ended by the answer; the transcript."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer: list[str | None] = []

    async def read() -> None:
        while (event := await async_read_event(reader)) is not None:
            if event.type == "transcript":
                answer.append(str(event.data.get("text")))
                return

    reading = asyncio.create_task(read())
    try:
        context = {"endpointing": True}
        start = {"language": language, "context": context}
        await async_write_event(Event(type="transcribe", data=start), writer)
        fmt = {"rate": 16000, "width": 2, "channels": 1}
        await async_write_event(Event(type="audio-start", data=fmt), writer)
        async for piece in Microphone(pcm).stream():
            if reading.done():
                break
            await async_write_event(Event(type="audio-chunk", data=fmt, payload=piece), writer)
        async with asyncio.timeout(RESULT_BOUND):
            await reading
    finally:
        reading.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return answer[0] if answer else None
