"""The simulator's settings, injectable faults and counters (shared by all its handlers)."""

from __future__ import annotations

import copy
import dataclasses
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .auth import TokenStore
from .conventions import Conventions
from .recognizer import DecoderPool, SharedDecoder, decoder_pool, shared_decoder
from .script import Script


class RecognitionMode(StrEnum):
    """How the simulator turns audio into text."""

    SPHINX = "sphinx"
    BYTES = "bytes"


@dataclass
class Faults:
    """Faults to inject; counts mean "the next N" and go down as they are used."""

    unauthorized_upgrades: int = 0
    """Refuse the next N WebSocket upgrades with HTTP 401."""
    unavailable_upgrades: int = 0
    """Refuse the next N WebSocket upgrades with HTTP 503 (the service is down)."""
    error_after_config: int = 0
    """Answer the next N CONFIGs with ERROR (then close) instead of CONFIGURED."""
    drop_after_bytes: int | None = None
    """Drop the TCP connection abruptly once a session has received this many audio bytes."""
    drop_sessions: int = 0
    """How many sessions (the next N) drop_after_bytes applies to."""
    finished_delay: float = 0.0
    """Seconds to wait after EOS before the final segments and FINISHED."""
    never_finish: int = 0
    """The next N sessions never send FINISHED after EOS (and never close)."""
    token_endpoint_down: bool = False
    """The token endpoint answers HTTP 503."""
    message_type_key: str = "type"
    """The discriminator key of outgoing messages: "type" or "messageType"."""
    split_finals: bool = False
    """Send the final text as one final segment per word."""
    warning: bool = False
    """Send a WARNING right after CONFIGURED."""
    latency: float = 0.0
    """Seconds every server message arrives late, and the upgrade too (a WAN: messages sent
    back to back still arrive back to back)."""

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update (from the control endpoint or the CLI)."""
        names = {f.name: f for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise KeyError(key)
            setattr(self, key, value)

    @staticmethod
    def take(counter: int) -> tuple[bool, int]:
        """Consume one use of a "next N" fault: (applies now, the count left)."""
        if counter > 0:
            return True, counter - 1
        return False, counter


@dataclass
class Counters:
    """What happened, readable over HTTP so tests can assert on it."""

    grants: dict[str, int] = field(default_factory=lambda: {"password": 0, "refresh_token": 0})
    rejected_grants: int = 0
    token_endpoint_errors: int = 0
    ws_connects: int = 0
    ws_rejections: int = 0
    upgrade_auth: dict[str, int] = field(default_factory=dict)
    """Accepted upgrades by where their token was: "header" or "query"."""
    active_sessions: int = 0
    peak_sessions: int = 0
    sessions_finished: int = 0
    protocol_violations: int = 0
    discovery_requests: int = 0
    pipelines: deque[Any] = field(default_factory=lambda: deque(maxlen=200))
    sessions: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=500))
    finish_times: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=100_000))
    """(audio bytes received, ms from EOS received to FINISHED sent) per finished session:
    the service's own finishing time, which benchmarks subtract from what clients measure."""

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready snapshot."""
        data = dataclasses.asdict(self)
        data["pipelines"] = list(self.pipelines)
        data["sessions"] = list(self.sessions)
        data["finish_times"] = list(self.finish_times)
        return data


@dataclass(frozen=True)
class SimSettings:
    """How the simulator was started."""

    host: str = "127.0.0.1"
    port: int = 8780
    users: dict[str, str] = field(default_factory=lambda: {"demo": "demo"})
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Users with fewer than every role (see auth.ROLES)."""
    client_id: str = "truebar-client"
    access_lifetime: int = 900
    refresh_lifetime: int = 1800
    mode: RecognitionMode = RecognitionMode.SPHINX
    phrases: tuple[str, ...] = ()
    conventions: Conventions = field(default_factory=Conventions)
    """The stream conventions at start (interim cadence, mid-stream finals, token times ...;
    switchable at run time over the control endpoint)."""
    final_max_ms: int = 20000
    """A final at least every this much audio of one segment, pause or not (0: never)."""
    decoders: int = 0
    """Decoder processes for real recognition (0: decode on the event loop, one at a time;
    see recognizer.SharedDecoder)."""
    final_lookahead_ms: int = 150
    """The final at EOS commits only words that end at least this long before the end of the
    audio received: a streaming recogniser needs audio after a word to commit it (its right
    context), so an EOS too soon after the last word loses that word from the final, though
    an interim showed it."""


@dataclass
class SimState:
    """Everything the handlers share: settings, faults, counters, tokens, the decoder."""

    settings: SimSettings
    faults: Faults = field(default_factory=Faults)
    counters: Counters = field(default_factory=Counters)
    tokens: TokenStore = field(init=False)
    decoder: SharedDecoder = field(init=False)
    scripts: dict[tuple[str, ...], Script] = field(default_factory=dict)
    """Scripted recordings by their blocks (languages without a model; see script.py)."""
    conventions: Conventions = field(init=False)
    """The stream conventions in force (the settings' at start and after a reset)."""
    pool: DecoderPool | None = field(init=False)
    """Decoder processes (settings.decoders), or None: decodes run on the event loop."""

    def __post_init__(self) -> None:
        s = self.settings
        self.conventions = copy.copy(s.conventions)
        self.tokens = TokenStore(
            s.users, s.client_id, s.access_lifetime, s.refresh_lifetime, roles=dict(s.roles)
        )
        self.decoder = shared_decoder(s.phrases)
        sphinx = s.mode is RecognitionMode.SPHINX
        self.pool = decoder_pool(s.phrases, s.decoders) if sphinx and s.decoders else None
