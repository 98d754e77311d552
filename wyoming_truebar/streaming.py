"""Streaming transcripts: committed text goes out as append-only transcript-chunk events."""

from __future__ import annotations

import asyncio

from wyoming.asr import Transcript, TranscriptChunk, TranscriptStart, TranscriptStop

from .wyoming_io import write_event, write_event_nowait


class TranscriptStream:
    """transcript-start → transcript-chunk (n times, while audio arrives) → transcript → -stop.

    Only final (committed) text is streamed, since chunks can never be retracted. If a replay
    after a reconnect commits text that differs from what was already streamed, no further
    chunks are sent; the closing `transcript` always carries the full, true text.
    """

    def __init__(self, writer: asyncio.StreamWriter, language: str) -> None:
        self._writer = writer
        self._language = language
        self._started = False
        self._sent = ""
        self._diverged = False
        self.chunks = 0

    def _start(self) -> None:
        if not self._started:
            self._started = True
            write_event_nowait(TranscriptStart(language=self._language).event(), self._writer)

    def committed(self, text: str) -> None:
        """Take all text committed so far; stream what is new."""
        if self._diverged or len(text) <= len(self._sent):
            return
        if not text.startswith(self._sent):
            self._diverged = True
            return
        self._start()
        write_event_nowait(TranscriptChunk(text=text[len(self._sent) :]).event(), self._writer)
        self._sent = text
        self.chunks += 1

    async def finish(self, text: str) -> bool:
        """Stream the rest, then send the full transcript and transcript-stop."""
        self.committed(text)
        self._start()
        write_event_nowait(Transcript(text=text, language=self._language).event(), self._writer)
        return await write_event(TranscriptStop().event(), self._writer)
