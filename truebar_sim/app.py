"""The simulator's HTTP and WebSocket routes, including the /_sim control endpoints."""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import asdict

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .auth import ONLINE_ROLE, GrantError, bearer_token
from .conventions import PRESETS, Conventions
from .recognizer import rehearse
from .script import Script
from .stages import STAGES
from .state import Counters, Faults, RecognitionMode, SimSettings, SimState
from .stream import StreamSession

_LOGGER = logging.getLogger(__name__)
TOKEN_PATH = "/realms/truebar/protocol/openid-connect/token"  # noqa: S105 - a URL path


STATE_KEY = web.AppKey("state", SimState)


async def _latency(state: SimState) -> None:
    delay = state.faults.latency + state.conventions.downlink_ms / 1000
    if delay:
        await asyncio.sleep(delay)


async def token(request: web.Request) -> web.Response:
    """Keycloak's token endpoint: password and refresh_token grants."""
    state = request.app[STATE_KEY]
    await _latency(state)
    if state.faults.token_endpoint_down:
        state.counters.token_endpoint_errors += 1
        return web.Response(status=503, text="Service Unavailable (injected)")
    form = {k: str(v) for k, v in (await request.post()).items()}
    try:
        body = state.tokens.grant(form)
    except GrantError as err:
        state.counters.rejected_grants += 1
        return web.json_response(err.body, status=err.status)
    state.counters.grants[form["grant_type"]] += 1
    return web.json_response(body)


def _user(request: web.Request) -> tuple[str | None, str]:
    """The user of the request's access token (None if it has no valid one), and where the
    token came from (header or query)."""
    token, source = bearer_token(request.headers, request.query)
    return request.app[STATE_KEY].tokens.check(token), source


async def info(request: web.Request) -> web.Response:
    """Version metadata (clients must not depend on its keys)."""
    return web.json_response({"version": "sim-0.1", "build": "truebar-sim"})


async def stages(request: web.Request) -> web.Response:
    """Stage discovery: what pipelines may contain (bearer required)."""
    state = request.app[STATE_KEY]
    await _latency(state)
    if _user(request)[0] is None:
        raise web.HTTPUnauthorized
    state.counters.discovery_requests += 1
    return web.json_response(STAGES)


async def stream(request: web.Request) -> web.StreamResponse:
    """The streaming pipeline WebSocket; a bad token fails the upgrade with 401."""
    state = request.app[STATE_KEY]
    faults, counters = state.faults, state.counters
    await _latency(state)
    refuse, faults.unauthorized_upgrades = faults.take(faults.unauthorized_upgrades)
    down, faults.unavailable_upgrades = faults.take(faults.unavailable_upgrades)
    if down:
        counters.ws_rejections += 1
        raise web.HTTPServiceUnavailable
    user, source = _user(request)
    if refuse or user is None:
        counters.ws_rejections += 1
        raise web.HTTPUnauthorized
    roles = state.tokens.user_roles(user)
    if ONLINE_ROLE not in roles:
        counters.ws_rejections += 1
        raise web.HTTPForbidden(text=f"user lacks the role {ONLINE_ROLE}")
    ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    counters.ws_connects += 1
    counters.upgrade_auth[source] = counters.upgrade_auth.get(source, 0) + 1
    counters.active_sessions += 1
    counters.peak_sessions = max(counters.peak_sessions, counters.active_sessions)
    try:
        await StreamSession(state, request, ws, roles).run()
    finally:
        counters.active_sessions -= 1
    return ws


async def get_counters(request: web.Request) -> web.Response:
    """Control: what happened so far."""
    return web.json_response(request.app[STATE_KEY].counters.as_dict())


async def get_faults(request: web.Request) -> web.Response:
    """Control: the faults now in force."""
    return web.json_response(asdict(request.app[STATE_KEY].faults))


async def set_faults(request: web.Request) -> web.Response:
    """Control: change some faults (a JSON object of Faults fields)."""
    state = request.app[STATE_KEY]
    try:
        state.faults.update(await request.json())
    except (KeyError, ValueError, TypeError) as err:
        return web.json_response({"error": f"bad fault: {err}"}, status=400)
    return web.json_response(asdict(state.faults))


async def reset(request: web.Request) -> web.Response:
    """Control: clear faults and counters."""
    state = request.app[STATE_KEY]
    state.faults = Faults()
    state.counters = Counters()
    state.conventions = copy.copy(state.settings.conventions)
    return web.json_response({"ok": True})


async def get_scripts(request: web.Request) -> web.Response:
    """Control: how many scripted recordings the simulator knows."""
    return web.json_response({"scripts": len(request.app[STATE_KEY].scripts)})


async def set_scripts(request: web.Request) -> web.Response:
    """Control: add scripted recordings ({"scripts": [entry, ...]}, each as
    `truebar_sim.script.script_entry` makes it): sessions then hear them."""
    state = request.app[STATE_KEY]
    try:
        entries = (await request.json())["scripts"]
        found = [Script.from_json(entry) for entry in entries]
    except (KeyError, ValueError, TypeError) as err:
        return web.json_response({"error": f"bad script: {err}"}, status=400)
    state.scripts.update((script.blocks, script) for script in found)
    return web.json_response({"scripts": len(state.scripts)})


async def get_conventions(request: web.Request) -> web.Response:
    """Control: the stream conventions in force."""
    return web.json_response(asdict(request.app[STATE_KEY].conventions))


async def set_conventions(request: web.Request) -> web.Response:
    """Control: switch conventions (a JSON object of Conventions fields; "preset": NAME
    starts from the defaults with that preset's switches, the other fields apply on top).
    Sessions that start afterwards use them."""
    state = request.app[STATE_KEY]
    try:
        changes = dict(await request.json())
        name = changes.pop("preset", None)
        conventions = Conventions() if name is not None else copy.copy(state.conventions)
        if name is not None:
            conventions.update(PRESETS[str(name)])
        conventions.update(changes)
    except (KeyError, ValueError, TypeError) as err:
        return web.json_response({"error": f"bad convention: {err}"}, status=400)
    state.conventions = conventions
    return web.json_response(asdict(conventions))


async def rehearse_audio(request: web.Request) -> web.Response:
    """Control: decode what live sessions of this audio (the body, 16 kHz mono s16le) will
    ask for, ahead of them (`recognizer.rehearse`)."""
    state = request.app[STATE_KEY]
    if state.settings.mode is not RecognitionMode.SPHINX:
        return web.json_response({"decodes": 0})
    pcm = await request.read()
    pause = state.conventions.final_pause_ms
    decodes = await rehearse(state.decoder, pcm[: len(pcm) - len(pcm) % 2], state.pool, pause)
    return web.json_response({"decodes": decodes})


async def issued_tokens(request: web.Request) -> web.Response:
    """Control: every token issued so far (for the secrets-never-logged test)."""
    return web.json_response(request.app[STATE_KEY].tokens.issued)


class AccessLogger(AbstractAccessLogger):
    """The access log, with access tokens in URLs (`?access_token=`) redacted."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """One line per request."""
        query = "&".join(
            f"{k}=***" if k == "access_token" else f"{k}={v}" for k, v in request.query.items()
        )
        path = request.path + (f"?{query}" if query else "")
        self.logger.info(
            "%s %s %s %s (%.1f ms)",
            request.remote,
            request.method,
            path,
            response.status,
            time * 1000,
        )


def build_app(settings: SimSettings, faults: Faults | None = None) -> web.Application:
    """Return the simulator's aiohttp application."""
    app = web.Application(client_max_size=64 << 20)
    state = SimState(settings, faults or Faults())
    app[STATE_KEY] = state
    for prefix in ("", "/auth"):
        app.router.add_post(prefix + TOKEN_PATH, token)
    app.router.add_get("/api/info", info)
    app.router.add_get("/api/pipelines/stages", stages)
    app.router.add_get("/api/pipelines/stream", stream)
    app.router.add_get("/_sim/counters", get_counters)
    app.router.add_get("/_sim/faults", get_faults)
    app.router.add_post("/_sim/faults", set_faults)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_get("/_sim/scripts", get_scripts)
    app.router.add_post("/_sim/scripts", set_scripts)
    app.router.add_get("/_sim/conventions", get_conventions)
    app.router.add_post("/_sim/conventions", set_conventions)
    app.router.add_get("/_sim/tokens", issued_tokens)
    app.router.add_post("/_sim/rehearse", rehearse_audio)

    async def warm(app: web.Application) -> None:
        if settings.mode is RecognitionMode.SPHINX:
            await state.decoder.warm()
            if state.pool is not None:
                await state.pool.warm()

    app.on_startup.append(warm)
    return app
