"""Streaming transcripts: committed text goes out as append-only transcript-chunk events."""

from __future__ import annotations

from collections.abc import Callable

from wyoming.asr import Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.event import Event

from .wyoming_io import encode_event


class TranscriptStream:
    """transcript-start → transcript-chunk (n times, while audio arrives) → transcript → -stop.

    Only final (committed) text is streamed, since chunks can never be retracted. If a replay
    after a reconnect commits text that differs from what was already streamed, no further
    chunks are sent; the closing `transcript` always carries the full, true text.
    """

    def __init__(self, write: Callable[[bytes], bool], language: str) -> None:
        self._write = write
        self._language = language
        self._started = False
        self._sent = ""
        self._diverged = False
        self.chunks = 0

    def _events(self, text: str) -> list[Event]:
        """The events that stream `text` (all committed text so far): what is new of it."""
        if self._diverged or len(text) <= len(self._sent):
            return []
        if not text.startswith(self._sent):
            self._diverged = True
            return []
        events = [TranscriptChunk(text=text[len(self._sent) :]).event()]
        self._sent = text
        self.chunks += 1
        return [*self._start(), *events]

    def _start(self) -> list[Event]:
        if self._started:
            return []
        self._started = True
        return [TranscriptStart(language=self._language).event()]

    def _send(self, events: list[Event]) -> bool:
        """Write events in one write (one system call, one packet)."""
        return self._write(b"".join(map(encode_event, events))) if events else True

    def committed(self, text: str) -> None:
        """Take all text committed so far; stream what is new."""
        self._send(self._events(text))

    def finish(self, text: str) -> bool:
        """Stream the rest, then send the full transcript and transcript-stop."""
        events = self._events(text)
        events += self._start()
        events += [Transcript(text=text, language=self._language).event(), TranscriptStop().event()]
        return self._send(events)
