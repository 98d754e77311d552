"""A stand-in between the bridge and Home Assistant's own websocket API: it relays every message
both ways, and can act as the network and Home Assistant do at their worst: close a
connection during sign-in, stop and come back on the same port (a restart), answer a command
in a wrong shape, pad an answer to any size, or hold it while the test changes the home."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from truebar_sim.demo import free_port

Upstream = aiohttp.ClientWebSocketResponse


@dataclass
class Relay:
    """The relay's behaviour, and its site (see the module)."""

    upstream: str
    """Home Assistant's websocket URL."""
    close_at_sign_in: int = 0
    replace: dict[str, Any] = field(default_factory=dict)
    """Command → the result answered instead (once each)."""
    pad: dict[str, int] = field(default_factory=dict)
    """Command → bytes of padding added to its answer (once each)."""
    hold: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    """Command → awaited before its answer is passed on (once each)."""
    port: int = field(default_factory=free_port)
    signed_in: int = 0
    _runner: web.AppRunner | None = None
    _open: set[web.WebSocketResponse] = field(default_factory=set)

    @property
    def url(self) -> str:
        """What the bridge's hass_url is."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (again, on the same port)."""
        app = web.Application()
        app.router.add_get("/api/websocket", self._connection)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Close every connection and stop listening (Home Assistant going down)."""
        for ws in list(self._open):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _connection(self, request: web.Request) -> web.WebSocketResponse:
        down = web.WebSocketResponse(max_msg_size=0)
        await down.prepare(request)
        self._open.add(down)
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(self.upstream, max_msg_size=0) as up,
            ):
                await down.send_str((await up.receive()).data)  # auth_required
                if self.close_at_sign_in > 0:
                    self.close_at_sign_in -= 1
                    return down
                await up.send_str((await down.receive()).data)  # auth
                answer = (await up.receive()).data
                await down.send_str(answer)
                self.signed_in += '"auth_ok"' in answer
                asked: dict[int, str] = {}
                await asyncio.wait(
                    [
                        asyncio.create_task(self._commands(down, up, asked)),
                        asyncio.create_task(self._answers(up, down, asked)),
                    ],
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            self._open.discard(down)
            await down.close()
        return down

    async def _commands(
        self,
        down: web.WebSocketResponse,
        up: aiohttp.ClientWebSocketResponse,
        asked: dict[int, str],
    ) -> None:
        async for msg in down:
            if msg.type is WSMsgType.TEXT:
                command = json.loads(msg.data)
                asked[command.get("id", 0)] = command.get("type", "")
                await up.send_str(msg.data)

    async def _answers(
        self,
        up: aiohttp.ClientWebSocketResponse,
        down: web.WebSocketResponse,
        asked: dict[int, str],
    ) -> None:
        async for msg in up:
            if msg.type is not WSMsgType.TEXT:
                continue
            message = json.loads(msg.data)
            kind = asked.get(message.get("id", 0), "") if message.get("type") == "result" else ""
            if (wait := self.hold.pop(kind, None)) is not None:
                await wait()
            if kind in self.replace:
                message["result"] = self.replace.pop(kind)
            if kind in self.pad:
                message["padding"] = "x" * self.pad.pop(kind)
            with contextlib.suppress(ConnectionError):
                await down.send_str(json.dumps(message))
