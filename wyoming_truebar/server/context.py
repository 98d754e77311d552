"""What all connections share: settings, HTTP session, credentials, and the current offer."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import aiohttp
from wyoming.event import Event

from ..config.settings import Settings
from ..ending.conventions import Conventions
from ..home.completeness import Completeness
from ..home.home_names import HomeAssistantNames
from ..truebar.credentials import CredentialsCache
from ..truebar.discovery import Catalog
from ..truebar.network import Proxy, proxy_for
from ..truebar.protocol import Stage
from .languages import Choice, LanguageMap, build_info, nlp_stages, offered_tags
from .metrics import Metrics
from .wyoming_io import encode_event


@dataclass
class BridgeContext:
    """Shared state; `languages` and `info` are rebuilt whenever discovery changes the offer."""

    settings: Settings
    http: aiohttp.ClientSession
    credentials: CredentialsCache
    catalog: Catalog | None = None
    languages: LanguageMap = field(init=False)
    info: Event = field(init=False)
    """The Info event answered to every Describe, prebuilt (never waits on the network)."""
    info_bytes: bytes = field(init=False)
    """The same, encoded for the wire."""
    active: int = 0
    """Utterances in flight (bounded by max_sessions)."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    metrics: Metrics = field(init=False)
    ws_proxy: Proxy | None = field(init=False)
    """The environment's proxy for the WebSocket URL, looked up once."""
    conventions: Conventions = field(default_factory=Conventions)
    """What the bridge has learned of Truebar's stream conventions (every session adds)."""
    completeness: Completeness = field(init=False)
    """Home Assistant's sentences, for the endpointer (with the home's names, if read)."""
    home: HomeAssistantNames | None = None
    """Reads the home's names from Home Assistant (None: no access configured)."""

    def __post_init__(self) -> None:
        self.ws_proxy = proxy_for(self.settings.stt_ws_url)
        self.apply_catalog(self.catalog)
        s = self.settings
        self.completeness = Completeness(
            s.endpoint_sentences,
            dict(s.endpoint_words),
            dict(s.endpoint_modifier_words),
            process=s.endpoint_sentences_process,
        )
        self.metrics = Metrics(
            self.credentials,
            lambda: self.active,
            self.conventions,
            self.completeness,
            lambda: self.home,
        )
        self.completeness.on_wait = self.metrics.sentence_wait.observe

    def apply_catalog(self, catalog: Catalog | None) -> None:
        """Offer what a (new) discovery found, or the configured tags if none."""
        self.catalog = catalog
        tags = offered_tags(self.settings, catalog)
        self.languages = LanguageMap(tags, self.settings.default_language)
        s = self.settings
        self.info = build_info(
            tags,
            streaming=s.streaming,
            requires_external_vad=s.requires_external_vad,
            prefers_auto_gain_enabled=s.prefers_auto_gain_enabled,
            prefers_noise_reduction_enabled=s.prefers_noise_reduction_enabled,
        ).event()
        self.info_bytes = encode_event(self.info)

    def next_id(self) -> str:
        """Return a session id for log lines."""
        return f"s{next(self._ids):05d}"

    def stages(self, choice: Choice, endpointed: bool = False) -> list[Stage]:
        """Return the CONFIG pipeline for an utterance: ASR, then its NLP stages. An
        endpointed utterance reads the running text, so it asks for interims; one that is not
        (endpointing off, a client that opted out or reads only after audio-stop) does not
        pay for them."""
        interims = self.settings.enable_interims or endpointed
        asr = Stage("ASR", choice.tag, {"enableInterims": interims})
        return [asr, *nlp_stages(self.settings, self.catalog, choice.language)]
