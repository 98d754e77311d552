"""Wyoming events on the wire, with no I/O: a reader fed bytes (with limits) and the encoder."""

from __future__ import annotations

import json
from typing import Any, NamedTuple, TypeVar

from wyoming.event import Event
from wyoming.version import __version__ as wyoming_version

from ..config.errors import ClientProtocolError

HEADER_LIMIT = 64 * 1024
"""Longest header line accepted."""
CACHE_ENTRIES = 256
"""Most distinct `audio-chunk` header lines (and data objects) whose parses are kept."""
AUDIO_CHUNK = "audio-chunk"


class _Header(NamedTuple):
    type: str
    data_length: int
    payload_length: int
    data: dict[str, Any] | None
    """Data given inside the header line (older clients), if any."""
    version: str | None
    """The client's Wyoming library version, as its header says (None: not said)."""


_HEADERS: dict[bytes, _Header] = {}
_DATA: dict[bytes, dict[str, Any]] = {}


def _length(header: dict[str, Any], key: str) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ClientProtocolError(f"The event header has an invalid {key}")
    return value


def _object(raw: bytes | bytearray, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as err:
        raise ClientProtocolError(f"The event {what} is not JSON") from err
    if not isinstance(value, dict):
        raise ClientProtocolError(f"The event {what} is not an object")
    return value


def _parse_header(line: bytes) -> _Header:
    cached = _HEADERS.get(line)
    if cached is not None:
        return cached
    header = _object(line, "header")
    kind = header.get("type")
    if not isinstance(kind, str):
        raise ClientProtocolError("The event header has no type")
    inline = header.get("data")
    if inline is not None and not isinstance(inline, dict):
        raise ClientProtocolError("The event data is not an object")
    version = header.get("version")
    parsed = _Header(
        kind,
        _length(header, "data_length"),
        _length(header, "payload_length"),
        inline or None,
        version if isinstance(version, str) else None,
    )
    if kind == AUDIO_CHUNK and parsed.data is None:
        _remember(_HEADERS, line, parsed)
    return parsed


def _parse_data(kind: str, raw: bytes) -> dict[str, Any]:
    if kind != AUDIO_CHUNK:
        return _object(raw, "data")
    cached = _DATA.get(raw)
    if cached is None:
        cached = _remember(_DATA, raw, _object(raw, "data"))
    return cached


_T = TypeVar("_T")


def _remember(cache: dict[bytes, _T], key: bytes, value: _T) -> _T:
    if len(cache) >= CACHE_ENTRIES:
        cache.clear()  # a client cycling through formats: start over, still bounded
    cache[key] = value
    return value


class EventParser:
    """Fed the bytes of one connection, hands back every complete event in them (sans-I/O).

    An event whose header announces more than `max_event_bytes` is refused as soon as its
    header line is read, before any of its body is buffered; a header line longer than
    HEADER_LIMIT likewise. Home Assistant sends 100 `audio-chunk` events a second whose header
    line and data are the same bytes every time, so their parses are shared by every
    connection (bounded caches): such an event costs two dictionary lookups and a slice. The
    `data` of an event must therefore never be modified.
    """

    def __init__(self, max_event_bytes: int) -> None:
        self._max = max_event_bytes
        self._buffer = bytearray()
        self._pending: _Header | None = None
        """The header whose data and payload are still awaited."""
        self.version: str | None = None
        """The Wyoming version the client last said in an event other than audio-chunk."""

    def feed(self, data: bytes) -> list[Event]:
        """Take the next bytes; return the events they complete (maybe none)."""
        if self._buffer:
            self._buffer += data
            view: bytes | bytearray = self._buffer
        else:
            view = data  # the usual case: no copy unless an event is left incomplete
        events: list[Event] = []
        pos, end = 0, len(view)
        while True:
            header = self._pending
            if header is None:
                newline = view.find(b"\n", pos, pos + HEADER_LIMIT + 1)
                if newline < 0:
                    if end - pos > HEADER_LIMIT:
                        raise ClientProtocolError("The event header is too long")
                    break
                line = bytes(view[pos:newline])
                header = _parse_header(line)
                if header.type != AUDIO_CHUNK and header.version is not None:
                    self.version = header.version
                body = header.data_length + header.payload_length
                if len(line) + body > self._max:
                    raise ClientProtocolError(
                        f"The event is larger than the limit of {self._max} bytes"
                    )
                pos = newline + 1
            if end - pos < header.data_length + header.payload_length:
                self._pending = header
                break
            self._pending = None
            pos = self._complete(header, view, pos, events)
        if view is self._buffer:
            del self._buffer[:pos]
        elif pos < end:
            self._buffer = bytearray(view[pos:])
        return events

    @staticmethod
    def _complete(header: _Header, view: bytes | bytearray, pos: int, out: list[Event]) -> int:
        """Append the event whose body starts at `pos`; return where the next one starts."""
        data = header.data or {}
        if header.data_length:
            extra = _parse_data(header.type, bytes(view[pos : pos + header.data_length]))
            data = {**data, **extra} if data else extra
            pos += header.data_length
        payload = None
        if header.payload_length:
            payload = bytes(view[pos : pos + header.payload_length])
            pos += header.payload_length
        out.append(Event(type=header.type, data=data, payload=payload))
        return pos


def encode_event(event: Event) -> bytes:
    """Return an event's wire form: header line, then data, then payload."""
    header: dict[str, Any] = {"type": event.type, "version": wyoming_version}
    data = json.dumps(event.data, ensure_ascii=False).encode() if event.data else b""
    if data:
        header["data_length"] = len(data)
    if event.payload:
        header["payload_length"] = len(event.payload)
    return json.dumps(header).encode() + b"\n" + data + (event.payload or b"")
