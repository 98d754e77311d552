"""The home's names from Home Assistant's websocket API: the entities exposed to Assist (their
names, aliases, domain and device class), the areas and the floors, read at start and again
whenever a registry changes or `hass_names_refresh` seconds pass.

The only module that talks to Home Assistant. Its failures never reach a client: Home
Assistant down or the token refused is one clear log line, the last names read are kept (or
none: the sentences then take names as wildcards), and it tries again with a growing pause.
The token is a secret: never logged, never in an error, never on a command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ..config.settings import Settings
from ..ending.live import Sensitivity, sensitivity_of
from ..truebar.network import redact
from .names import HomeNames, Name

_LOGGER = logging.getLogger(__name__)

SUPERVISOR_TOKEN = "SUPERVISOR_TOKEN"  # noqa: S105 - the variable's name, not a token
"""The add-on's token for Home Assistant's API (the Supervisor sets it: homeassistant_api)."""
REQUEST_SECONDS = 10.0
"""Bound on the connection, the sign-in and every request."""
RETRY_FIRST, RETRY_MAX = 2.0, 60.0
"""Pause before trying again after a failure: doubled each time, up to the most."""
REGISTRY_EVENTS = ("entity_registry_updated", "area_registry_updated", "floor_registry_updated")
"""Changes that make the names be read again at once (exposure has no event: the periodic
read finds it)."""
ASSISTANT = "conversation"
"""Home Assistant's name for Assist among the assistants an entity is exposed to."""


@dataclass(frozen=True)
class Access:
    """Where Home Assistant's websocket API is, and the token for it."""

    url: str
    token: str
    source: str
    """Where the access came from, for the log and --check ("the add-on's Supervisor", ...)."""

    def __repr__(self) -> str:
        return f"Access(url={redact(self.url)!r}, source={self.source!r})"


def websocket_url(url: str) -> str:
    """Home Assistant's websocket URL from its base URL (http://host:8123 → ws://host:8123/
    api/websocket); a ws(s):// URL with a path is taken as it is."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if parts.scheme in ("http", "https") or not path:
        path += "/api/websocket"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def access(settings: Settings, environ: Mapping[str, str]) -> Access | None:
    """Home Assistant's API as configured (hass_url and hass_token), or as the Supervisor
    gives it to the add-on (homeassistant_api: its proxy and SUPERVISOR_TOKEN); None: no
    access (the sentences then take names as wildcards)."""
    if settings.hass_url and settings.hass_token:
        return Access(websocket_url(settings.hass_url), settings.hass_token, "hass_url")
    token = environ.get(SUPERVISOR_TOKEN)
    if not settings.hass_url and token:
        parts = urlsplit(settings.supervisor_url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        url = urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/core/websocket", "", ""))
        return Access(url, token, "the add-on's Supervisor")
    return None


class AccessError(Exception):
    """Home Assistant refused the token, or answered what the bridge cannot use."""


class HomeAssistantNames:
    """Reads the home's names and follows their changes (see the module)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        where: Access,
        on_names: Callable[[HomeNames], None],
        refresh: float,
    ) -> None:
        self._http = http
        self._where = where
        self._on_names = on_names
        self._refresh = refresh
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        """Requests awaiting their result, by id."""
        self.names: HomeNames | None = None
        """The latest names read (None: none yet)."""
        self.failure: str | None = None
        """Why the latest attempt failed (None: it did not)."""
        self.reads = 0
        self.sensitivity: Sensitivity | None = None
        """The most patient "finished speaking detection" of the home's satellites (None:
        none has one, or none read yet)."""

    def __repr__(self) -> str:
        return f"HomeAssistantNames({self._where!r}, reads={self.reads})"

    def start(self) -> None:
        """Begin reading in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="home assistant names")

    async def stop(self) -> None:
        """Stop reading."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        pause = RETRY_FIRST
        while True:
            try:
                await self._session()
            except (AccessError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
                self._failed(err)
            else:
                pause = RETRY_FIRST
            await asyncio.sleep(pause)
            pause = min(2 * pause, RETRY_MAX)

    def _failed(self, err: BaseException) -> None:
        why = str(err) if isinstance(err, AccessError) else type(err).__name__
        if why != self.failure:  # once per kind of failure, not once per retry
            kept = "keeping the last names read" if self.names else "names stay wildcards"
            _LOGGER.warning(
                "Home Assistant's names (%s, %s): %s; %s, trying again",
                self._where.source,
                redact(self._where.url),
                why,
                kept,
            )
        self.failure = why

    async def read_once(self) -> HomeNames:
        """Sign in, read the names once, and close (--check)."""
        async with self._connected() as (ws, reader, _):
            await self._read_all(ws, reader)
        return self.names or HomeNames()

    async def _session(self) -> None:
        """One connection: sign in, read, then read again on every change or refresh."""
        async with self._connected() as (ws, reader, changed):
            for event_type in REGISTRY_EVENTS:
                await self._request(
                    ws, reader, {"type": "subscribe_events", "event_type": event_type}
                )
            while True:
                await self._read_all(ws, reader)
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._refresh):
                        await self._wait(changed, reader)

    @contextlib.asynccontextmanager
    async def _connected(
        self,
    ) -> AsyncIterator[tuple[aiohttp.ClientWebSocketResponse, asyncio.Task[None], asyncio.Event]]:
        """A signed-in connection, its reader (results and events) and the change flag."""
        async with asyncio.timeout(REQUEST_SECONDS):
            ws = await self._http.ws_connect(self._where.url, heartbeat=30)
        try:
            await self._sign_in(ws)
            changed = asyncio.Event()
            reader = asyncio.create_task(self._listen(ws, changed))
            try:
                yield ws, reader, changed
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
        finally:
            await ws.close()

    async def _sign_in(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async with asyncio.timeout(REQUEST_SECONDS):
            first = await ws.receive_json()
            if first.get("type") != "auth_required":
                raise AccessError(f"it did not ask to sign in ({first.get('type')!r})")
            await ws.send_json({"type": "auth", "access_token": self._where.token})
            answer = await ws.receive_json()
        if answer.get("type") != "auth_ok":
            raise AccessError("it refused the access token (check hass_token)")

    async def _listen(self, ws: aiohttp.ClientWebSocketResponse, changed: asyncio.Event) -> None:
        """Route results to their requests; a registry event sets `changed`."""
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.json()
            if data.get("type") == "event":
                changed.set()
                continue
            future = self._pending.pop(int(data.get("id", 0)), None)
            if future is not None and not future.done():
                if data.get("success", True):
                    future.set_result(data.get("result"))
                else:
                    error = data.get("error") or {}
                    future.set_exception(
                        AccessError(f"{error.get('code')}: {error.get('message')}")
                    )
        raise ConnectionResetError("Home Assistant closed the connection")

    async def _wait(self, changed: asyncio.Event, reader: asyncio.Task[None]) -> None:
        """Until a registry changes (or the connection ends: its error is raised)."""
        waiting = asyncio.create_task(changed.wait())
        try:
            await asyncio.wait([waiting, reader], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        if reader.done():
            reader.result()

    async def _request(
        self, ws: aiohttp.ClientWebSocketResponse, reader: asyncio.Task[None], body: dict[str, Any]
    ) -> Any:
        """One command; its result (bounded)."""
        ident = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await ws.send_json({"id": ident, **body})
        async with asyncio.timeout(REQUEST_SECONDS):
            await asyncio.wait([future, reader], return_when=asyncio.FIRST_COMPLETED)
        if not future.done():
            reader.result()  # the connection ended: its error
            raise ConnectionResetError("Home Assistant closed the connection")
        return future.result()

    async def _optional(
        self, ws: aiohttp.ClientWebSocketResponse, reader: asyncio.Task[None], body: dict[str, Any]
    ) -> Any:
        """A command an older Home Assistant may not know (aliases, floors): None if so."""
        try:
            return await self._request(ws, reader, body)
        except AccessError as err:
            if "unknown_command" not in str(err):
                raise
            _LOGGER.debug("Home Assistant does not know %s", body["type"])
            return None

    async def _read_all(
        self, ws: aiohttp.ClientWebSocketResponse, reader: asyncio.Task[None]
    ) -> None:
        """Read the names; hand them on if they changed."""
        exposed = await self._request(ws, reader, {"type": "homeassistant/expose_entity/list"})
        states = await self._request(ws, reader, {"type": "get_states"})
        ids = [
            entity
            for entity, assistants in (exposed or {}).get("exposed_entities", {}).items()
            if isinstance(assistants, dict) and assistants.get(ASSISTANT)
        ]
        entries: dict[str, Any] = {}
        if ids:
            asked = {"type": "config/entity_registry/get_entries", "entity_ids": ids}
            found = await self._optional(ws, reader, asked)
            entries = {k: v for k, v in (found or {}).items() if isinstance(v, dict)}
        areas = await self._optional(ws, reader, {"type": "config/area_registry/list"})
        floors = await self._optional(ws, reader, {"type": "config/floor_registry/list"})
        listed = await self._optional(
            ws, reader, {"type": "config/entity_registry/list_for_display"}
        )
        self.sensitivity = satellites_sensitivity(listed or {}, states or [])
        names = home_names(set(ids), states or [], entries, areas or [], floors or [])
        self.reads += 1
        if self.failure is not None or self.names is None:
            _LOGGER.info(
                "Home Assistant's names (%s): %d entities exposed to Assist, %d areas, %d floors",
                self._where.source,
                len({n.text for n in names.entities}),
                len(names.areas),
                len(names.floors),
            )
        self.failure = None
        if names != self.names:
            self.names = names
            self._on_names(names)


def home_names(
    exposed: set[str],
    states: list[Any],
    entries: Mapping[str, Any],
    areas: list[Any],
    floors: list[Any],
) -> HomeNames:
    """The names as Home Assistant's own agent matches them: each exposed entity's name and
    aliases, with its domain and device class; every area's and floor's name and aliases."""
    entities: list[Name] = []
    for state in states:
        if not isinstance(state, dict) or state.get("entity_id") not in exposed:
            continue
        entity_id = str(state["entity_id"])
        attributes = state.get("attributes") or {}
        domain = entity_id.split(".", 1)[0]
        device_class = attributes.get("device_class")
        spoken = [attributes.get("friendly_name") or entity_id.split(".", 1)[1].replace("_", " ")]
        spoken += [a for a in (entries.get(entity_id) or {}).get("aliases") or [] if a]
        for text in dict.fromkeys(str(s).strip() for s in spoken):
            if text:
                kind = str(device_class) if device_class else None
                entities.append(Name(text, domain, kind, entity_id))
    return HomeNames(tuple(entities), _with_aliases(areas), _with_aliases(floors))


SENSITIVITY_KEY = "vad_sensitivity"
"""The translation key of a satellite's "finished speaking detection" select entity (Home
Assistant's assist_pipeline: one per satellite, whatever its integration)."""
PATIENCE_ORDER = (Sensitivity.AGGRESSIVE, Sensitivity.DEFAULT, Sensitivity.RELAXED)


def satellites_sensitivity(listed: Any, states: list[Any]) -> Sensitivity | None:
    """The most patient "finished speaking detection" any satellite of the home asks for
    (None: no satellite has one). The bridge cannot tell which satellite speaks (Home
    Assistant does not say), so one satellite set to relaxed makes every command wait as long
    as that one needs."""
    entries = listed.get("entities") if isinstance(listed, dict) else None
    selects = {
        entry.get("ei")
        for entry in entries or []
        if isinstance(entry, dict) and entry.get("tk") == SENSITIVITY_KEY
    }
    found = [
        sensitivity_of(state.get("state"))
        for state in states
        if isinstance(state, dict) and state.get("entity_id") in selects
    ]
    chosen = [s for s in found if s is not None]
    return max(chosen, key=PATIENCE_ORDER.index) if chosen else None


def _with_aliases(items: list[Any]) -> tuple[str, ...]:
    found: list[str] = []
    for item in items:
        if isinstance(item, dict):
            found += [str(item.get("name") or ""), *(str(a) for a in item.get("aliases") or [])]
    return tuple(dict.fromkeys(t.strip() for t in found if t.strip()))
