"""The home's names from Home Assistant's websocket API (through `ha_link`): the entities
exposed to Assist (their names, aliases, domain and device class), the areas and the floors,
and the satellites' "finished speaking detection"; read at start, again after a registry
changes (a burst of changes read once), and the exposure list every `hass_names_refresh`.

What it reads, and how much: the exposure list; the exposed entities' registry entries, 200 at
a time; their states, and theirs only, 100 at a time (`subscribe_entities`, then
unsubscribed); the areas, the floors; once per connection and after an entity registry change,
the entity list (to find the satellites' selects, whose states it then follows). Each answer
is one message, far below MESSAGE_BYTES, so parsing one holds the event loop briefly.

It survives every failure: anything unexpected is logged once, the last names read are kept
(or none: the sentences then take names as wildcards), and it tries again after RETRY_FIRST,
doubling up to RETRY_MAX, back to RETRY_FIRST after a read that succeeded (Home Assistant
restarting: the names are back within RETRY_MAX of it answering again). A refused token is
never retried on a timer: every refused sign-in is a failed login for Home Assistant (a
notification, and an IP ban past `http: login_attempts_threshold`); it waits REFUSED_PAUSE,
or until `hass_token_file` changes, and says so in the log, `/metrics` and `--check`. The
token is a secret: never logged, never in an error, never on a command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ..config.settings import Settings
from ..ending.live import Sensitivity
from ..truebar.network import redact
from .ha_answers import (
    ShapeError,
    Tally,
    entity_names,
    exposed_ids,
    most_patient,
    places,
    registry_entries,
    sensitivity_selects,
    states_added,
    states_changed,
)
from .ha_link import AnswerError, Link, LinkClosedError, RefusedError, connect
from .names import HomeNames, Name

_LOGGER = logging.getLogger(__name__)

SUPERVISOR_TOKEN = "SUPERVISOR_TOKEN"  # noqa: S105 - the variable's name, not a token
"""The add-on's token for Home Assistant's API (the Supervisor sets it: homeassistant_api)."""
RETRY_FIRST, RETRY_MAX = 2.0, 30.0
"""Pause before trying again after a failure: doubled each time, up to the most."""
REFUSED_PAUSE = 3600.0
"""After Home Assistant refused the token: the pause before one more sign-in."""
TOKEN_FILE_CHECK = 10.0
"""How often hass_token_file is looked at while a refused token waits."""
QUIET, QUIET_MOST = 0.5, 3.0
"""A burst of registry changes is read once: after QUIET s without another, at most
QUIET_MOST s after the first."""
ENTRIES_AT_ONCE, STATES_AT_ONCE = 200, 100
"""Exposed entities per registry request, per states request."""
REGISTRY_EVENTS = (
    "entity_registry_updated",
    "device_registry_updated",
    "area_registry_updated",
    "floor_registry_updated",
)
"""Changes that make the names be read again (exposure has no event: the periodic read of the
exposure list finds it)."""


@dataclass(frozen=True)
class Access:
    """Where Home Assistant's websocket API is, and the token for it."""

    url: str
    token: str = field(repr=False)
    source: str
    """Where the access came from, for the log and --check ("the add-on's Supervisor", ...)."""
    token_file: str | None = None
    """The file the token was read from (hass_token_file): a new token there is tried."""

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
        url = websocket_url(settings.hass_url)
        return Access(url, settings.hass_token, "hass_url", settings.hass_token_file)
    token = environ.get(SUPERVISOR_TOKEN)
    if not settings.hass_url and token:
        parts = urlsplit(settings.supervisor_url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        url = urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/core/websocket", "", ""))
        return Access(url, token, "the add-on's Supervisor")
    return None


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _fingerprint(path: str | None) -> str | None:
    """What the token file holds now (a digest; None: no file, or unreadable)."""
    if path is None:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _read_token(path: str) -> str:
    return Path(path).read_text(encoding="utf-8").strip()


class HomeAssistantNames:
    """Reads the home's names and follows their changes (see the module)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        where: Access,
        on_names: Callable[[HomeNames], None],
        refresh: float,
        tls: ssl.SSLContext,
    ) -> None:
        self._http, self._where, self._on_names = http, where, on_names
        self._refresh, self._tls = refresh, tls
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._read_ok = False
        self._selects: list[str] | None = None
        self._select_states: dict[str, str] = {}
        self._following: int | None = None
        self._exposed: list[str] = []
        self._stateless = False
        self.names: HomeNames | None = None
        """The latest names read (None: none yet)."""
        self.failure: str | None = None
        """Why the latest attempt failed (None: it did not)."""
        self.refused = False
        """Home Assistant refused the token: no sign-in until the pause ends or it changes."""
        self.reads = 0
        self.skipped: dict[str, int] = {}
        """Malformed entries left out of the latest read, by kind."""

    def __repr__(self) -> str:
        return f"HomeAssistantNames({self._where!r}, reads={self.reads})"

    @property
    def sensitivity(self) -> Sensitivity | None:
        """The most patient "finished speaking detection" of the home's satellites."""
        return most_patient(self._select_states.values())

    def start(self) -> None:
        """Begin reading in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="home assistant names")

    async def stop(self) -> None:
        """Stop reading."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def read_once(self) -> HomeNames:
        """Sign in, read the names once, and close (--check)."""
        async with connect(self._http, self._where.url, self._where.token, self._tls) as link:
            await self._read(link)
        return self.names or HomeNames()

    async def _run(self) -> None:
        pause = RETRY_FIRST
        while True:
            self._read_ok = False
            try:
                await self._session()
            except RefusedError:
                await self._refused()
                pause = RETRY_FIRST
                continue
            except Exception as err:
                self._failed(err)
            if self._read_ok:
                pause = RETRY_FIRST
            await asyncio.sleep(pause)
            pause = min(2 * pause, RETRY_MAX)

    def _failed(self, err: BaseException) -> None:
        known = (
            AnswerError,
            LinkClosedError,
            ShapeError,
            aiohttp.ClientError,
            OSError,
            TimeoutError,
        )
        why = str(err) if isinstance(err, AnswerError | LinkClosedError | ShapeError) else None
        why = why or f"{type(err).__name__}" + ("" if isinstance(err, known) else " (unexpected)")
        if why != self.failure:  # once per kind of failure, not once per retry
            kept = "keeping the last names read" if self.names else "names stay wildcards"
            _LOGGER.warning(
                "Home Assistant's names (%s, %s): %s; %s, trying again",
                self._where.source,
                redact(self._where.url),
                why,
                kept,
                exc_info=None if known else err,
            )
        self.failure = why

    async def _refused(self) -> None:
        """Wait REFUSED_PAUSE, or until the token file holds a new token (see the module)."""
        self.refused, self.failure = True, "it refused the access token"
        where = self._where.token_file
        _LOGGER.error(
            "Home Assistant's names (%s, %s): it refused the access token; not signing in "
            "again for %d minutes%s (each refused sign-in is a failed login to Home Assistant, "
            "and can ban this address): make a new long-lived access token",
            self._where.source,
            redact(self._where.url),
            REFUSED_PAUSE // 60,
            f", or until {where} changes" if where else "",
        )
        before = _fingerprint(where)
        loop = asyncio.get_running_loop()
        until = loop.time() + REFUSED_PAUSE
        while loop.time() < until:
            await asyncio.sleep(min(TOKEN_FILE_CHECK, until - loop.time()))
            if before is not None and _fingerprint(where) not in (before, None):
                self._where = replace(self._where, token=_read_token(str(where)))
                _LOGGER.info("Home Assistant's names: %s changed; signing in with it", where)
                break
        self.refused = False

    async def _session(self) -> None:
        """One connection: sign in, read, then read again on every change or refresh."""
        async with connect(self._http, self._where.url, self._where.token, self._tls) as link:
            self._selects, self._following = None, None
            for event_type in REGISTRY_EVENTS:
                body = {"type": "subscribe_events", "event_type": event_type}
                await link.subscribe(body, self._registry_changed)
            await self._read(link)
            while True:
                if await self._wait(link) or await self._exposure_moved(link):
                    await self._read(link)

    def _registry_changed(self, event: Any) -> None:
        if isinstance(event, dict) and event.get("event_type") == "entity_registry_updated":
            self._selects = None  # a satellite may have come or gone
        self._changed.set()

    async def _wait(self, link: Link) -> bool:
        """Until a change (True: after its burst) or the refresh (False); the link's end
        is raised."""
        loop = asyncio.get_running_loop()
        waiting = asyncio.create_task(self._changed.wait())
        try:
            async with asyncio.timeout(self._refresh):
                await asyncio.wait([waiting, link.ended], return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            return False
        finally:
            waiting.cancel()
        if link.ended.done():
            link.ended.result()
            raise LinkClosedError("Home Assistant closed the connection")
        first = loop.time()
        while loop.time() - first < QUIET_MOST:  # the rest of the burst
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(QUIET, first + QUIET_MOST - loop.time())):
                    await self._changed.wait()
            if not self._changed.is_set():
                break
        return True

    async def _exposure_moved(self, link: Link) -> bool:
        """The refresh: whether the exposed entities changed (or some had no state yet)."""
        listed = await link.request({"type": "homeassistant/expose_entity/list"})
        return set(exposed_ids(listed, Tally())) != set(self._exposed) or self._stateless

    async def _read(self, link: Link) -> None:
        """Read the names (see the module); hand them on if they changed. The change flag is
        cleared before: a change during the read is read again."""
        self._changed.clear()
        tally = Tally()
        listed = await link.request({"type": "homeassistant/expose_entity/list"})
        exposed = exposed_ids(listed, tally)
        entries: dict[str, Any] = {}
        for chunk in _chunks(exposed, ENTRIES_AT_ONCE):
            asked = {"type": "config/entity_registry/get_entries", "entity_ids": chunk}
            entries.update(registry_entries(await link.optional(asked) or {}, tally))
        found: list[Name] = []
        stated = 0
        for chunk in _chunks(exposed, STATES_AT_ONCE):  # assembled a piece at a time too
            asked = {"type": "subscribe_entities", "entity_ids": chunk}
            states = states_added(await link.first_event(asked), tally)
            stated += len(states)
            found += entity_names(chunk, entries, states)
        areas = await link.optional({"type": "config/area_registry/list"})
        floors = await link.optional({"type": "config/floor_registry/list"})
        names = HomeNames(
            tuple(found), places(areas or [], "areas", tally), places(floors or [], "floors", tally)
        )
        await self._follow_satellites(link, tally)
        self._exposed, self._stateless = exposed, stated < len(exposed)
        self._took(names, tally)

    async def _follow_satellites(self, link: Link, tally: Tally) -> None:
        """Find the satellites' finished-speaking selects (once per connection, and after an
        entity registry change) and follow their states."""
        if self._selects is not None:
            return
        listed = await link.optional({"type": "config/entity_registry/list_for_display"})
        self._selects = sensitivity_selects(listed or {"entities": []}, tally)
        if self._following is not None:
            await link.unsubscribe(self._following)
            self._following = None
        self._select_states = {}
        if self._selects:
            asked = {"type": "subscribe_entities", "entity_ids": self._selects}
            self._following = await link.subscribe(asked, self._select_changed)

    def _select_changed(self, event: Any) -> None:
        tally = Tally()
        added = {k: v.value for k, v in states_added(event, tally).items()}
        self._select_states.update({**added, **states_changed(event, tally)})

    def _took(self, names: HomeNames, tally: Tally) -> None:
        self.reads += 1
        self._read_ok = True
        if tally.skipped and tally.skipped != self.skipped:
            _LOGGER.warning(
                "Home Assistant's names: left out malformed entries (%s)",
                ", ".join(f"{n} {what}" for what, n in sorted(tally.skipped.items())),
            )
        self.skipped = tally.skipped
        if self.failure is not None or self.names is None:
            _LOGGER.info(
                "Home Assistant's names (%s): %d entities exposed to Assist, %d areas, %d floors",
                self._where.source,
                len({n.entity_id for n in names.entities}),
                len(names.areas),
                len(names.floors),
            )
        self.failure = None
        if names != self.names:
            self.names = names
            self._on_names(names)
