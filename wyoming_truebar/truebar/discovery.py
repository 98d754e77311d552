"""Stage discovery: which streaming ASR tags and NLP stages Truebar offers, per language.

`parse_stages` is pure; `Discovery` fetches `GET /api/pipelines/stages` in the background at
start-up and periodically, so Describe never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..config.errors import BridgeError, ProtocolError, ServiceUnavailableError
from ..config.settings import Settings
from .credentials import CredentialsCache
from .network import proxy_for, untrusted, via

_LOGGER = logging.getLogger(__name__)
RETRY_AFTER_FAILURE = 60.0
"""Seconds before discovery is tried again after a failure."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """What discovery found: streaming ASR tags and NLP tags, each per task, in order."""

    asr: tuple[str, ...] = ()
    nlp: dict[str, tuple[str, ...]] = field(default_factory=dict)
    asr_parameters: frozenset[str] = frozenset()
    """Parameter names any streaming ASR option lists (for vocabulary boosting, if offered)."""


def _options(stage: dict[str, Any]) -> list[dict[str, Any]]:
    raw = stage.get("configOptions", stage.get("config"))
    return [o for o in raw if isinstance(o, dict)] if isinstance(raw, list) else []


def parse_stages(data: Any) -> Catalog:
    """Read the stages answer; keep ASR options with the `onlineAsr` feature and NLP stages."""
    if not isinstance(data, list):
        raise ProtocolError("Truebar's stage discovery did not return a list")
    asr: list[str] = []
    nlp: dict[str, list[str]] = {}
    parameters: set[str] = set()
    for stage in data:
        if not isinstance(stage, dict):
            continue
        task = str(stage.get("task", ""))
        for option in _options(stage):
            tag = str(option.get("tag", ""))
            if len(tag.split(":")) != 4:
                continue
            features = option.get("features") or []
            if task == "ASR" and "onlineAsr" in features:
                asr.append(tag)
                parameters.update(str(p) for p in option.get("parameters") or [])
            elif task.startswith("NLP"):
                nlp.setdefault(task, []).append(tag)
    return Catalog(tuple(asr), {k: tuple(v) for k, v in nlp.items()}, frozenset(parameters))


class Discovery:
    """Keeps the catalog fresh in the background; calls `on_change` with each new catalog."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        credentials: CredentialsCache,
        settings: Settings,
        on_change: Callable[[Catalog], None],
    ) -> None:
        self._http = http
        self._credentials = credentials
        self._settings = settings
        self._on_change = on_change
        self.catalog: Catalog | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin discovering in the background (never blocks the caller)."""
        if self._settings.discovery_interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="truebar discovery")

    async def stop(self) -> None:
        """Stop the background task."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                catalog = await self.fetch()
            except BridgeError as err:
                _LOGGER.warning(
                    "Stage discovery failed (%s: %s); using %s",
                    err.code,
                    err,
                    "the last discovered tags"
                    if self.catalog
                    else "the configured tags (asr_tags)",
                )
                await asyncio.sleep(RETRY_AFTER_FAILURE)
                continue
            if catalog != self.catalog:
                _LOGGER.info(
                    "Discovered %d streaming ASR tag(s): %s",
                    len(catalog.asr),
                    ", ".join(catalog.asr),
                )
                self.catalog = catalog
                self._on_change(catalog)
            await asyncio.sleep(self._settings.discovery_interval)

    async def fetch(self) -> Catalog:
        """Fetch and parse the stages once (bounded by token_timeout)."""
        s = self._settings
        url = s.api_base_url.rstrip("/") + "/api/pipelines/stages"
        proxy = proxy_for(url)  # once per fetch, every discovery_interval: not worth a cache
        token = await self._credentials.access_token()
        try:
            async with (
                asyncio.timeout(s.token_timeout),
                self._http.get(
                    url, headers={"Authorization": f"Bearer {token}"}, **via(proxy)
                ) as resp,
            ):
                if resp.status == 401:
                    self._credentials.invalidate(token)
                if resp.status != 200:
                    raise ServiceUnavailableError(f"Stage discovery answered HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except TimeoutError as err:
            raise ServiceUnavailableError("Stage discovery timed out") from err
        except (aiohttp.ClientError, OSError, ValueError) as err:
            untrusted_cert = untrusted(err, "Truebar")
            if untrusted_cert is not None:
                raise untrusted_cert from err
            raise ServiceUnavailableError(
                "Stage discovery failed", detail=type(err).__name__
            ) from err
        catalog = parse_stages(data)
        if not catalog.asr:
            raise ProtocolError("Stage discovery lists no streaming (onlineAsr) ASR tag")
        return catalog
