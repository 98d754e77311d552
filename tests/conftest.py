"""Shared fixtures: the Truebar simulator on a real loopback socket."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import pytest
from aiohttp import web

from truebar_sim.app import STATE_KEY, AccessLogger, build_app
from truebar_sim.fixtures import default_phrases
from truebar_sim.state import RecognitionMode, SimSettings, SimState


class HasUrl(Protocol):
    """A simulator, in-process or not: what the bridge's settings need of it."""

    url: str


@dataclass
class Sim:
    """A running simulator: its base URL and its state (faults, counters)."""

    url: str
    state: SimState
    runner: web.AppRunner

    async def counters(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        """Read the counters over HTTP, as an outside test would."""
        async with http.get(self.url + "/_sim/counters") as resp:
            data: dict[str, Any] = await resp.json()
            return data


async def start_sim(settings: SimSettings, port: int = 0, tls: ssl.SSLContext | None = None) -> Sim:
    """Start a simulator on loopback (HTTPS/WSS with `tls`); port 0 picks a free one."""
    app = build_app(settings)
    runner = web.AppRunner(app, shutdown_timeout=1, access_log_class=AccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls)
    await site.start()
    assert runner.addresses
    bound = runner.addresses[0][1]
    scheme = "https" if tls else "http"
    return Sim(f"{scheme}://127.0.0.1:{bound}", app[STATE_KEY], runner)


def sim_settings(**changes: Any) -> SimSettings:
    """Simulator settings for tests: the bundled phrases, the demo user."""
    base: dict[str, Any] = {"phrases": tuple(default_phrases()), "users": {"demo": "demo"}}
    base.update(changes)
    return SimSettings(**base)


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    """A simulator with real recognition, decoding in a process of its own (shared by the
    simulators of this test process): a decode never stalls the test's own event loop, where
    the bridge and the clients run in real time."""
    running = await start_sim(sim_settings(decoders=1))
    yield running
    await running.runner.cleanup()


@pytest.fixture
async def byte_sim() -> AsyncIterator[Sim]:
    """A simulator in the cheap byte-counting mode."""
    running = await start_sim(sim_settings(mode=RecognitionMode.BYTES))
    yield running
    await running.runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client HTTP session."""
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class Bridge:
    """A running bridge: its port and shared context."""

    port: int
    ctx: Any
    server: Any
    http: aiohttp.ClientSession

    discovery: Any = None
    http_runner: Any = None
    http_port: int = 0
    sentences: Any = None
    """The task that loads Home Assistant's sentences (started with the bridge)."""

    async def close(self) -> None:
        """Stop the server and its HTTP session."""
        from wyoming_truebar.__main__ import stop_home  # noqa: PLC0415

        await self.server.stop(1.0)
        if self.http_runner is not None:
            await self.http_runner.cleanup()
        if self.discovery is not None:
            await self.discovery.stop()
        if self.sentences is not None:
            await stop_home(self.ctx, self.sentences)
        await self.http.close()


def bridge_settings(sim: HasUrl | None, **overrides: Any) -> Any:
    """Settings pointing the bridge at a simulator (or nowhere), on a free loopback port."""
    from wyoming_truebar.config.settings import merge  # noqa: PLC0415

    base = sim.url if sim is not None else "http://127.0.0.1:9"
    values: dict[str, Any] = {
        "uri": "tcp://127.0.0.1:0",
        "username": "demo",
        "password": "demo",
        "auth_url": base + "/realms/truebar/protocol/openid-connect/token",
        "api_base_url": base,
        "stt_ws_url": base.replace("http", "ws", 1) + "/api/pipelines/stream",
        "asr_tags": "KALDI:en-US:*:*,KALDI:sl-SI:*:*,KALDI:de-DE:*:*",
        "discovery_interval": 0,  # tests that want discovery turn it on
        # Tests pin what the client gets at audio-stop; endpointing tests turn it on.
        "endpointing": False,
    }
    values.update(overrides)
    return merge({}, {}, values)


async def start_bridge(
    sim: HasUrl | None, environ: dict[str, str] | None = None, **overrides: Any
) -> Bridge:
    """Start the bridge in this process on a real loopback socket (`environ`: what it reads
    of the environment besides its settings, e.g. the add-on's SUPERVISOR_TOKEN)."""
    from wyoming_truebar.__main__ import build_context, build_discovery, start_home  # noqa: PLC0415
    from wyoming_truebar.server.server import BridgeServer  # noqa: PLC0415
    from wyoming_truebar.truebar.network import new_http_session  # noqa: PLC0415

    settings = bridge_settings(sim, **overrides)
    http = new_http_session(settings)
    ctx = build_context(settings, http)
    server = BridgeServer(ctx)
    discovery = build_discovery(ctx)
    discovery.start()
    await server.start(settings.uri)
    port = int(server.address.rsplit(":", 1)[1]) if server.address.startswith("tcp") else 0
    bridge = Bridge(port, ctx, server, http, discovery)
    bridge.sentences = start_home(ctx, environ or {})
    if settings.http_port is not None:
        from wyoming_truebar.app.http_api import start_http  # noqa: PLC0415

        bridge.http_runner, bridge.http_port = await start_http(ctx, settings.http_port)
    return bridge


async def transcribe_with(sim: Sim | None, pcm: bytes, **overrides: Any) -> Any:
    """One utterance through a bridge started for it with these settings; the reply."""
    from tests.wyoming_client import transcribe  # noqa: PLC0415

    return await _one_utterance(sim, transcribe, pcm, overrides)


async def watch_with(sim: Sim | None, pcm: bytes, **overrides: Any) -> Any:
    """The same, watched: what came back and when (`tests.wyoming_client.Watched`)."""
    from tests.wyoming_client import watch_utterance  # noqa: PLC0415

    return await _one_utterance(sim, watch_utterance, pcm, overrides)


async def _one_utterance(
    sim: Sim | None,
    client: Callable[[int, bytes], Awaitable[Any]],
    pcm: bytes,
    overrides: dict[str, Any],
) -> Any:
    running = await start_bridge(sim, **overrides)
    try:
        return await client(running.port, pcm)
    finally:
        await running.close()


@pytest.fixture
async def bridge(sim: Sim) -> AsyncIterator[Bridge]:
    """The bridge in front of the recognising simulator."""
    running = await start_bridge(sim)
    yield running
    await running.close()


@pytest.fixture
async def byte_bridge(byte_sim: Sim) -> AsyncIterator[Bridge]:
    """The bridge in front of the byte-counting simulator."""
    running = await start_bridge(byte_sim)
    yield running
    await running.close()
