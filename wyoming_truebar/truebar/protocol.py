"""Truebar stream messages, parsed and encoded with no I/O, and transcript assembly."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.errors import ProtocolError

EOS_MESSAGE = json.dumps({"type": "EOS", "lockSession": False})


@dataclass(frozen=True, slots=True)
class Stage:
    """One pipeline stage of a CONFIG message."""

    task: str
    tag: str
    parameters: dict[str, Any] = field(default_factory=dict)
    policy: str = "THROW"

    def as_dict(self) -> dict[str, Any]:
        """Return the stage as Truebar expects it."""
        return {
            "task": self.task,
            "exceptionHandlingPolicy": self.policy,
            "config": {"tag": self.tag, "parameters": self.parameters},
        }


def encode_config(stages: Sequence[Stage]) -> str:
    """Return the CONFIG message for a pipeline."""
    return json.dumps({"type": "CONFIG", "pipeline": [s.as_dict() for s in stages]})


@dataclass(slots=True)
class Token:
    """One recognised word or punctuation mark."""

    text: str
    left: bool = False
    right: bool = False
    start_ms: int | None = None
    """Where the token starts in the stream (startOffsetMs), if Truebar said."""
    end_ms: int | None = None
    """Where it ends (endOffsetMs): the endpointer's measure of what the text covers."""


@dataclass(frozen=True, slots=True)
class Message:
    """A parsed Truebar message; `kind` is the discriminator, the rest depends on it."""

    kind: str
    status: str | None = None
    final: bool = False
    tokens: tuple[Token, ...] = ()
    text: str = ""
    error_id: str | None = None
    start_ms: int | None = None
    """A text segment's startTimeMs: where its segment begins in the stream."""
    end_ms: int | None = None
    """A text segment's endTimeMs: how far the recogniser had heard."""


def _ms(value: Any) -> int | None:
    """A time in milliseconds, if it is one (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _tokens(raw: Any) -> tuple[Token, ...]:
    if not isinstance(raw, list):
        raise ProtocolError("Truebar sent a malformed text segment")
    return tuple(
        Token(
            str(t.get("text") or ""),
            bool(t.get("isLeftHanded")),
            bool(t.get("isRightHanded")),
            _ms(t.get("startOffsetMs")),
            _ms(t.get("endOffsetMs")),
        )
        for t in raw
        if isinstance(t, dict)
    )


def parse_message(raw: str) -> Message:
    """Parse one text frame; unknown kinds come back as themselves, to be ignored."""
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise ProtocolError("Truebar sent a message that is not JSON") from err
    if not isinstance(data, dict):
        raise ProtocolError("Truebar sent a message that is not a JSON object")
    kind = str(data.get("type") or data.get("messageType") or "")
    if kind == "STATUS":
        return Message(kind, status=str(data.get("status")))
    if kind == "TEXT_SEGMENT":
        segment = data.get("textSegment")
        if not isinstance(segment, dict):
            raise ProtocolError("Truebar sent a text segment without textSegment")
        return Message(
            kind,
            final=bool(segment.get("isFinal")),
            tokens=_tokens(segment.get("tokens")),
            start_ms=_ms(segment.get("startTimeMs")),
            end_ms=_ms(segment.get("endTimeMs")),
        )
    if kind == "ERROR":
        raw_error = data.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        text = error.get("message") or data.get("message") or "unspecified error"
        error_id = error.get("id")
        return Message(kind, text=str(text), error_id=None if error_id is None else str(error_id))
    if kind == "WARNING":
        return Message(kind, text=str(data.get("message") or ""))
    return Message(kind)


@dataclass(slots=True)
class TranscriptAssembler:
    """Joins final segments by the token rules; interims are never part of the text."""

    _parts: list[str] = field(default_factory=list)
    _prev_right: bool = True  # no space before the very first token

    def add_final(self, tokens: Sequence[Token]) -> str:
        """Commit a final segment and return the text it appended (for streaming)."""
        start = len(self._parts)
        for token in tokens:
            if not token.text:
                continue
            if self._parts and not self._prev_right and not token.left:
                self._parts.append(" ")
            self._parts.append(token.text)
            self._prev_right = token.right
        return "".join(self._parts[start:])

    @property
    def text(self) -> str:
        """Return all committed text so far."""
        return "".join(self._parts)
