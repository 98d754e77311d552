"""The home's names from Home Assistant's own API (issue 37): the bridge reads the names of the
entities exposed to Assist, the areas and the floors as a user's install does (hass_url and a
long-lived token), through the Supervisor's proxy as the add-on does, follows their changes,
keeps the last ones when Home Assistant stops answering, and works without any access."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from tests.home import ENGLISH_HOME
from tests.procs import Proc
from tests_ha.conftest import (
    HomeApi,
    Sim,
    set_up_english_home,
    speak_live,
    start_bridge,
)
from tests_ha.test_home_assistant import names_read
from truebar_sim.demo import free_port
from truebar_sim.fixtures import load_fixtures

SUPERVISOR_TOKEN = "supervisor-token-of-the-add-on"
ENTITIES = len(ENGLISH_HOME)
"""The test home's entities exposed to Assist (each of its own name: as many names)."""
LOCK = next(f for f in load_fixtures() if f.text == "lock the front door")
"""A command whole only with the home's names: the lock's sentences need a lock's name."""


async def metric(port: int, name: str) -> float | None:
    """One value from the bridge's /metrics (None: absent)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        text = await resp.text()
    found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


async def after_speech_ms(bridge: Proc, port: int) -> int:
    """Say 'lock the front door' live; how long after the end of speech the bridge answered."""
    assert await speak_live(port, LOCK.pcm() + bytes(64000)) == LOCK.text
    said = re.findall(r"(\d+) ms after the end of speech", bridge.output())
    return int(said[-1])


@pytest.mark.timeout(120)
async def test_names_are_read_followed_and_kept_when_home_assistant_stops(
    hass: HomeAssistant, sim: Sim, home_api: HomeApi, processes: list[Proc]
) -> None:
    await set_up_english_home(hass)
    http_port = free_port()
    env = {"TRUEBAR_ENDPOINTING": "true", "TRUEBAR_HASS_NAMES_REFRESH": "5", **home_api.env()}
    bridge = start_bridge(sim, "--http-port", str(http_port), **env)
    processes.append(bridge)
    await names_read(bridge, ENTITIES)
    assert await metric(http_port, 'wyoming_truebar_home_names{kind="entities"}') == ENTITIES
    assert await metric(http_port, 'wyoming_truebar_home_names{kind="areas"}') == 4
    assert await metric(http_port, "wyoming_truebar_home_assistant_reachable") == 1
    # A new alias is a registry change: read at once.
    # (a list since Home Assistant 2026, where the aliases keep their order; a set before)
    aliases: Any = ["main door"] if (MAJOR_VERSION, MINOR_VERSION) >= (2026, 1) else {"main door"}
    er.async_get(hass).async_update_entity("lock.front_door", aliases=aliases)
    for _ in range(100):
        if await metric(http_port, 'wyoming_truebar_home_names{kind="names"}') == ENTITIES + 1:
            break
        await asyncio.sleep(0.05)
    assert await metric(http_port, 'wyoming_truebar_home_names{kind="names"}') == ENTITIES + 1
    assert await metric(http_port, 'wyoming_truebar_home_names{kind="entities"}') == ENTITIES
    # With the names, the lock command is whole: the short silence ends it.
    assert await after_speech_ms(bridge, bridge.port) < 700
    # Home Assistant stops answering: one clear line, the last names kept, nothing breaks.
    await home_api.client.close()
    for _ in range(100):
        if "Home Assistant's names (hass_url" in bridge.output() and "WARNING" in bridge.output():
            break
        await asyncio.sleep(0.05)
    log = bridge.output()
    assert "keeping the last names read, trying again" in log
    assert home_api.token not in log
    assert await metric(http_port, "wyoming_truebar_home_assistant_reachable") == 0
    assert await after_speech_ms(bridge, bridge.port) < 700  # the names are still known


@pytest.mark.timeout(60)
async def test_without_home_assistant_names_are_wildcards(sim: Sim, processes: list[Proc]) -> None:
    """No hass_url, no Supervisor: the sentences take names as wildcards, so 'lock the front
    door' (whose sentences need a lock's name) waits the longer silence; it is still whole."""
    http_port = free_port()
    bridge = start_bridge(sim, "--http-port", str(http_port), TRUEBAR_ENDPOINTING="true")
    processes.append(bridge)
    assert await after_speech_ms(bridge, bridge.port) >= 800
    assert "names as wildcards (no hass_url)" in bridge.output()
    assert await metric(http_port, 'wyoming_truebar_home_names{kind="entities"}') == 0
    assert await metric(http_port, "wyoming_truebar_home_assistant_reachable") is None


@contextlib.asynccontextmanager
async def supervisor(home: HomeApi) -> AsyncIterator[str]:
    """A stand-in for the Supervisor: its discovery API, and its proxy to Home Assistant's
    websocket API, which takes the add-on's SUPERVISOR_TOKEN and signs in to Home Assistant
    with its own (here: the test's long-lived token)."""

    async def discovery(request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == f"Bearer {SUPERVISOR_TOKEN}"
        return web.json_response({"result": "ok", "data": {"uuid": "x"}})

    async def proxy(request: web.Request) -> web.WebSocketResponse:
        down = web.WebSocketResponse()
        await down.prepare(request)
        await down.send_json({"type": "auth_required", "ha_version": "supervisor"})
        auth = await down.receive_json()
        if auth.get("access_token") != SUPERVISOR_TOKEN:
            await down.send_json({"type": "auth_invalid", "message": "Invalid access"})
            await down.close()
            return down
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(home.url.replace("http", "ws", 1) + "/api/websocket") as up,
        ):
            await up.receive_json()
            await up.send_json({"type": "auth", "access_token": home.token})
            await down.send_json(await up.receive_json())

            async def relay(src: object, dst: object) -> None:
                async for msg in src:  # type: ignore[attr-defined]
                    await dst.send_str(msg.data)  # type: ignore[attr-defined]

            await asyncio.wait(
                [asyncio.create_task(relay(down, up)), asyncio.create_task(relay(up, down))],
                return_when=asyncio.FIRST_COMPLETED,
            )
        await down.close()
        return down

    app = web.Application()
    app.router.add_post("/discovery", discovery)
    app.router.add_get("/core/websocket", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.timeout(60)
async def test_the_add_on_reads_the_names_through_the_supervisor(
    hass: HomeAssistant, sim: Sim, home_api: HomeApi, processes: list[Proc]
) -> None:
    await set_up_english_home(hass)
    async with supervisor(home_api) as url:
        env = {"SUPERVISOR_TOKEN": SUPERVISOR_TOKEN, "TRUEBAR_SUPERVISOR_URL": url}
        bridge = start_bridge(sim, TRUEBAR_ENDPOINTING="true", **env)
        processes.append(bridge)
        said = f"Home Assistant's names (the add-on's Supervisor): {ENTITIES} entities"
        for _ in range(100):
            if said in bridge.output():
                break
            await asyncio.sleep(0.05)
        assert said in bridge.output(), bridge.output()[-2000:]
        assert await after_speech_ms(bridge, bridge.port) < 700
        assert SUPERVISOR_TOKEN not in bridge.output()
        bridge.stop_now()
