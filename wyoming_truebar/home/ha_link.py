"""One signed-in websocket connection to Home Assistant: the only module that touches it.

Sign-in, commands and their results, subscriptions and their events. Every message's shape
is checked (`ha_answers.ShapeError`), every wait is bounded, and a close at any step, sign-in
included (Home Assistant restarting), is a `LinkClosedError`, never a crash. A refused token is
`RefusedError`, apart: Home Assistant counts every refused sign-in as a failed login (a
notification, and an IP ban past `http: login_attempts_threshold`), so the caller must not try
it again on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from .ha_answers import ShapeError, mapping

REQUEST_SECONDS = 10.0
"""Bound on the connection, the sign-in and every request."""
MESSAGE_BYTES = 16 * 1024 * 1024
"""The largest message the bridge reads from Home Assistant (aiohttp's default is 4 MiB, which
a big home's answers can pass); it asks in pieces (home_names.py), so that every answer is far
smaller and parsing one holds the event loop only briefly."""
HEARTBEAT_SECONDS = 30.0

OnEvent = Callable[[Any], None]


class LinkClosedError(ConnectionError):
    """Home Assistant closed the connection, or it was lost."""


class RefusedError(Exception):
    """Home Assistant refused the access token."""


class AnswerError(Exception):
    """Home Assistant answered a command with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@contextlib.asynccontextmanager
async def connect(
    http: aiohttp.ClientSession, url: str, token: str, tls: ssl.SSLContext
) -> AsyncIterator[Link]:
    """A signed-in connection (closed on leaving); `tls`: the certificates a wss:// URL is
    verified against (Home Assistant's own, whatever the session does for Truebar)."""
    async with asyncio.timeout(REQUEST_SECONDS):
        ws = await http.ws_connect(
            url, heartbeat=HEARTBEAT_SECONDS, max_msg_size=MESSAGE_BYTES, ssl=tls
        )
    try:
        async with asyncio.timeout(REQUEST_SECONDS):
            await _sign_in(ws, token)
        link = Link(ws)
        try:
            yield link
        finally:
            await link.close()
    finally:
        await ws.close()


async def _sign_in(ws: aiohttp.ClientWebSocketResponse, token: str) -> None:
    first = await _receive(ws)
    if first.get("type") != "auth_required":
        raise ShapeError(f"it did not ask to sign in ({first.get('type')!r})")
    await ws.send_json({"type": "auth", "access_token": token})
    answer = await _receive(ws)
    if answer.get("type") == "auth_invalid":
        raise RefusedError("it refused the access token")
    if answer.get("type") != "auth_ok":
        raise ShapeError(f"it answered the sign-in with {answer.get('type')!r}")


async def _receive(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next text message, parsed; a close (or a lost connection) is LinkClosedError."""
    while True:
        msg = await ws.receive()
        if msg.type is aiohttp.WSMsgType.TEXT:
            return dict(mapping(json.loads(msg.data), "a message"))
        if msg.type is aiohttp.WSMsgType.ERROR:
            raise LinkClosedError(_why(msg.data))
        if msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
        ):
            raise LinkClosedError("Home Assistant closed the connection")


def _why(error: object) -> str:
    if (
        isinstance(error, aiohttp.WebSocketError)
        and error.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    ):
        return f"an answer above {MESSAGE_BYTES // 1024 // 1024} MiB (MESSAGE_BYTES)"
    return f"the connection failed ({type(error).__name__})"


class Link:
    """A signed-in connection: requests and subscriptions (see the module)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._results: dict[int, asyncio.Future[Any]] = {}
        self._events: dict[int, OnEvent] = {}
        self._reader = asyncio.create_task(self._listen(), name="home assistant link")

    @property
    def ended(self) -> asyncio.Task[None]:
        """The reader: done once the connection has ended (its exception says why)."""
        return self._reader

    async def close(self) -> None:
        """Stop reading."""
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    async def request(self, body: dict[str, Any]) -> Any:
        """One command; its result (bounded); an error answer is AnswerError."""
        ident = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._results[ident] = future
        try:
            await self._ws.send_json({"id": ident, **body})
            async with asyncio.timeout(REQUEST_SECONDS):
                await asyncio.wait([future, self._reader], return_when=asyncio.FIRST_COMPLETED)
            if not future.done():
                self._raise_ended()
            return future.result()
        finally:
            self._results.pop(ident, None)

    async def optional(self, body: dict[str, Any]) -> Any:
        """A command an older Home Assistant may not know (None if so)."""
        try:
            return await self.request(body)
        except AnswerError as err:
            if err.code != "unknown_command":
                raise
            return None

    async def subscribe(self, body: dict[str, Any], on_event: OnEvent) -> int:
        """Subscribe; every event of it goes to `on_event`; the subscription's id."""
        ident = next(self._ids)
        self._events[ident] = on_event
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._results[ident] = future
        try:
            await self._ws.send_json({"id": ident, **body})
            async with asyncio.timeout(REQUEST_SECONDS):
                await asyncio.wait([future, self._reader], return_when=asyncio.FIRST_COMPLETED)
            if not future.done():
                self._raise_ended()
            future.result()
        except BaseException:
            self._events.pop(ident, None)
            raise
        finally:
            self._results.pop(ident, None)
        return ident

    async def unsubscribe(self, ident: int) -> None:
        """End a subscription."""
        self._events.pop(ident, None)
        await self.request({"type": "unsubscribe_events", "subscription": ident})

    async def first_event(self, body: dict[str, Any]) -> Any:
        """Subscribe, take the first event (bounded), unsubscribe: what `subscribe_entities`
        says of some entities now, without following them."""
        first: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def take(event: Any) -> None:
            if not first.done():
                first.set_result(event)

        ident = await self.subscribe(body, take)
        try:
            async with asyncio.timeout(REQUEST_SECONDS):
                await asyncio.wait([first, self._reader], return_when=asyncio.FIRST_COMPLETED)
            if not first.done():
                self._raise_ended()
            return first.result()
        finally:
            if not self._reader.done():
                await self.unsubscribe(ident)

    def _raise_ended(self) -> None:
        if self._reader.done() and not self._reader.cancelled():
            self._reader.result()  # its error
        raise LinkClosedError("Home Assistant closed the connection")

    async def _listen(self) -> None:
        """Route results to their requests and events to their subscriptions."""
        while True:
            message = await _receive(self._ws)
            ident = message.get("id")
            if not isinstance(ident, int) or isinstance(ident, bool):
                raise ShapeError(f"a message's id is {type(ident).__name__}, not a number")
            kind = message.get("type")
            if kind == "event" and ident in self._events:
                self._events[ident](message.get("event"))
            elif kind == "result":
                self._settle(ident, message)

    def _settle(self, ident: int, message: dict[str, Any]) -> None:
        future = self._results.get(ident)
        if future is None or future.done():
            return
        if message.get("success") is True:
            future.set_result(message.get("result"))
            return
        error = message.get("error")
        error = error if isinstance(error, dict) else {}
        future.set_exception(AnswerError(str(error.get("code")), str(error.get("message"))))
