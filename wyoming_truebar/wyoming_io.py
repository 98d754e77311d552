"""Reading and writing Wyoming events with limits: nothing is allocated past max_event_bytes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from wyoming.event import Event
from wyoming.version import __version__ as wyoming_version

from .errors import ClientProtocolError

HEADER_LIMIT = 64 * 1024
"""Longest header line; the stream reader's buffer limit enforces it."""


def _length(header: dict[str, Any], key: str) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ClientProtocolError(f"The event header has an invalid {key}")
    return value


async def read_event(reader: asyncio.StreamReader, max_bytes: int) -> Event | None:
    """Read one event; None at the end of the stream. Oversized events are refused unread."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        return None  # the client went away (maybe mid-header)
    except asyncio.LimitOverrunError as err:
        raise ClientProtocolError("The event header is too long") from err
    try:
        header = json.loads(line)
    except ValueError as err:
        raise ClientProtocolError("The event header is not JSON") from err
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise ClientProtocolError("The event header has no type")
    data_length = _length(header, "data_length")
    payload_length = _length(header, "payload_length")
    if len(line) + data_length + payload_length > max_bytes:
        raise ClientProtocolError(f"The event is larger than the limit of {max_bytes} bytes")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise ClientProtocolError("The event data is not an object")
    try:
        if data_length:
            extra = json.loads(await reader.readexactly(data_length))
            if not isinstance(extra, dict):
                raise ClientProtocolError("The event data is not an object")
            data.update(extra)
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        return None
    except ValueError as err:
        raise ClientProtocolError("The event data is not JSON") from err
    return Event(type=header["type"], data=data, payload=payload)


def encode_event(event: Event) -> bytes:
    """Return an event's wire form: header line, then data, then payload."""
    header: dict[str, Any] = {"type": event.type, "version": wyoming_version}
    data = json.dumps(event.data, ensure_ascii=False).encode() if event.data else b""
    if data:
        header["data_length"] = len(data)
    if event.payload:
        header["payload_length"] = len(event.payload)
    return json.dumps(header).encode() + b"\n" + data + (event.payload or b"")


def write_event_nowait(event: Event, writer: asyncio.StreamWriter) -> bool:
    """Queue one event for the client without waiting (keeps order with other writes)."""
    if writer.is_closing():
        return False
    writer.write(encode_event(event))
    return True


async def write_event(event: Event, writer: asyncio.StreamWriter) -> bool:
    """Write one event; return False if the client has already gone (never raise for that)."""
    if not write_event_nowait(event, writer):
        return False
    try:
        await writer.drain()
    except (ConnectionError, RuntimeError):
        return False
    return True


LINGER_SECONDS = 0.5
LINGER_BYTES = 1 << 20


async def linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close our side gracefully after an error: half-close, then discard what the client still
    sends (bounded in time and bytes). Closing with unread data would make the kernel send a
    reset, and the client could lose the `error` event before reading it."""
    try:
        if writer.can_write_eof():
            writer.write_eof()
        discarded = 0
        async with asyncio.timeout(LINGER_SECONDS):
            while discarded < LINGER_BYTES:
                data = await reader.read(65536)
                if not data:
                    break
                discarded += len(data)
    except (TimeoutError, ConnectionError, OSError, RuntimeError):
        pass
