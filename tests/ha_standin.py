"""A stand-in for Home Assistant's websocket API, on a real loopback socket: the commands the
bridge's names reader uses, answered from a small home, with the failures a real home has
(a close during sign-in, a refused token that counts failed logins as Home Assistant does,
malformed and oversized answers, a slow answer, registry events, a restart)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

HOME: web.AppKey[StandIn] = web.AppKey("home")
Entity = dict[str, Any]
"""entity_id, name, area, state, attributes, aliases."""


@dataclass
class StandIn:
    """The home, what the stand-in does, and what it saw."""

    token: str = "the-long-lived-token"
    entities: list[Entity] = field(default_factory=list)
    areas: list[dict[str, Any]] = field(default_factory=list)
    floors: list[dict[str, Any]] = field(default_factory=list)
    selects: dict[str, str] = field(default_factory=dict)
    """A satellite's finished-speaking select → its state."""
    close_at_sign_in: int = 0
    """Connections to close right after auth_required (a restart at that step)."""
    replace: dict[str, Any] = field(default_factory=dict)
    """Command → the result sent instead, once each."""
    pad: dict[str, int] = field(default_factory=dict)
    """Command → bytes of padding added to its answer, once each."""
    slow: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    """Command → awaited before it is answered, once each."""
    sign_ins: int = 0
    failed_logins: int = 0
    """Refused sign-ins, as Home Assistant's process_wrong_login counts them."""
    connections: list[web.WebSocketResponse] = field(default_factory=list)
    subscribers: dict[tuple[int, int], tuple[web.WebSocketResponse, str]] = field(
        default_factory=dict
    )

    def entity(self, entity_id: str) -> Entity:
        """One of the home's entities."""
        return next(e for e in self.entities if e["entity_id"] == entity_id)

    async def fire(self, event_type: str, data: dict[str, Any] | None = None) -> None:
        """A registry event to every connection subscribed to it."""
        for (_, ident), (ws, kind) in list(self.subscribers.items()):
            if kind == event_type and not ws.closed:
                event = {"event_type": event_type, "data": data or {}}
                await ws.send_json({"id": ident, "type": "event", "event": event})

    async def drop_all(self) -> None:
        """Close every connection (Home Assistant stopping)."""
        for ws in list(self.connections):
            await ws.close()


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    home = request.app[HOME]
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    home.connections.append(ws)
    try:
        await ws.send_json({"type": "auth_required", "ha_version": "2026.10.4"})
        if home.close_at_sign_in > 0:
            home.close_at_sign_in -= 1
            await ws.close()
            return ws
        auth = await ws.receive_json()
        home.sign_ins += 1
        if auth.get("access_token") != home.token:
            home.failed_logins += 1
            await ws.send_json({"type": "auth_invalid", "message": "Invalid access token"})
            await ws.close()
            return ws
        await ws.send_json({"type": "auth_ok", "ha_version": "2026.10.4"})
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await _command(home, ws, json.loads(msg.data))
    finally:
        home.connections.remove(ws)
        for key in [k for k, (w, _) in home.subscribers.items() if w is ws]:
            del home.subscribers[key]
    return ws


async def _command(home: StandIn, ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
    kind, ident = message["type"], message["id"]
    if (wait := home.slow.pop(kind, None)) is not None:
        await wait()
    if kind in home.replace:
        await _result(ws, ident, home.replace.pop(kind), home.pad.pop(kind, 0))
        return
    if kind == "subscribe_events":
        home.subscribers[(id(ws), ident)] = (ws, message["event_type"])
        await _result(ws, ident, None)
    elif kind == "subscribe_entities":
        await _result(ws, ident, None)
        states = _states(home, message.get("entity_ids", []))
        await ws.send_json({"id": ident, "type": "event", "event": {"a": states}})
    elif kind == "unsubscribe_events":
        home.subscribers.pop((id(ws), message["subscription"]), None)
        await _result(ws, ident, None)
    else:
        await _result(ws, ident, _answer(home, kind, message), home.pad.pop(kind, 0))


def _answer(home: StandIn, kind: str, message: dict[str, Any]) -> Any:
    if kind == "homeassistant/expose_entity/list":
        return {"exposed_entities": {e["entity_id"]: {"conversation": True} for e in home.entities}}
    if kind == "config/entity_registry/get_entries":
        wanted = set(message["entity_ids"])
        return {
            e["entity_id"]: {"name": e["name"], "aliases": e.get("aliases", [])}
            for e in home.entities
            if e["entity_id"] in wanted
        }
    if kind == "config/area_registry/list":
        return home.areas
    if kind == "config/floor_registry/list":
        return home.floors
    if kind == "config/entity_registry/list_for_display":
        listed = [{"ei": e["entity_id"], "pl": "test"} for e in home.entities]
        listed += [{"ei": s, "pl": "esphome", "tk": "vad_sensitivity"} for s in home.selects]
        return {"entity_categories": {}, "entities": listed}
    return {"unknown": kind}


def _states(home: StandIn, wanted: list[str]) -> dict[str, Any]:
    states = {
        e["entity_id"]: {"s": e["state"], "a": _attributes(e)}
        for e in home.entities
        if e["entity_id"] in wanted and e.get("state") is not None
    }
    states.update({s: {"s": v, "a": {}} for s, v in home.selects.items() if s in wanted})
    return states


async def _up(_: web.Request) -> web.Response:
    return web.json_response({"up": True})


async def _fire(request: web.Request) -> web.Response:
    """A registry event, from another process (benchmarks: a change of the big home)."""
    body = await request.json()
    await request.app[HOME].fire(body["event_type"], body.get("data"))
    return web.json_response({"fired": True})


def _attributes(entity: Entity) -> Any:
    given = entity.get("attributes", {})
    return {"friendly_name": entity["name"], **given} if isinstance(given, dict) else given


async def _result(ws: web.WebSocketResponse, ident: int, result: Any, pad: int = 0) -> None:
    message: dict[str, Any] = {"id": ident, "type": "result", "success": True, "result": result}
    if pad:
        message["padding"] = "x" * pad
    with contextlib.suppress(ConnectionError):
        await ws.send_str(json.dumps(message))


async def serve(home: StandIn, port: int = 0) -> tuple[web.AppRunner, int]:
    """Serve the stand-in on loopback; its runner and port."""
    app = web.Application()
    app[HOME] = home
    app.router.add_get("/api/websocket", _websocket)
    app.router.add_post("/_fire", _fire)
    app.router.add_get("/_up", _up)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    assert runner.addresses
    return runner, int(runner.addresses[0][1])


def small_home() -> StandIn:
    """A home of a few entities in two areas, and one satellite."""
    return StandIn(
        entities=[
            {"entity_id": "light.desk", "name": "Desk", "state": "off"},
            {"entity_id": "fan.desk_fan", "name": "Desk fan", "state": "off"},
            {"entity_id": "lock.front_door", "name": "Front door", "aliases": ["main door"]},
        ],
        areas=[{"name": "Office", "aliases": []}, {"name": "Kitchen", "aliases": ["cuisine"]}],
        selects={"select.satellite_finished_speaking_detection": "default"},
    )
