"""Speech recognition for the simulator: pocketsphinx on a phrase grammar, or a byte counter."""

from __future__ import annotations

import asyncio
import functools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

_WORD = re.compile(r"[a-z']+")
CMN_START = "40.71,-3.90,-7.16,15.84,-10.24,0.75,-3.28,-17.01,0.72,-11.91,7.04,-4.71,-4.16"
"""Cepstral means measured on the bundled fixtures; every segment is decoded from these."""


class Recognizer(Protocol):
    """One utterance's recogniser: fed 16 kHz mono s16le audio, asked for text."""

    def feed(self, pcm: bytes) -> str | None:
        """Take the next audio frame; return a final text when a pause in speech ends one."""

    def partial(self) -> str:
        """Return the current best guess (for interims)."""

    def finish(self) -> str:
        """End the utterance and return the final text."""

    def close(self) -> None:
        """Release what the recogniser holds (safe to call twice, or after finish)."""


@dataclass(slots=True)
class ByteCounter:
    """The cheap mode: the final text reports how many audio bytes arrived."""

    received: int = 0

    def feed(self, pcm: bytes) -> str | None:
        """Count the bytes (no pauses in this mode)."""
        self.received += len(pcm)
        return None

    def partial(self) -> str:
        """Report the bytes so far."""
        return f"{self.received} bytes"

    def finish(self) -> str:
        """Report the exact byte total."""
        return f"{self.received} bytes"

    def close(self) -> None:
        """Nothing to release."""


def build_grammar(phrases: Sequence[str]) -> str:
    """Return a JSGF grammar that accepts exactly one of the phrases."""
    alternatives = []
    for phrase in phrases:
        words = _WORD.findall(phrase.lower())
        if words:
            alternatives.append("( " + " ".join(words) + " )")
    if not alternatives:
        raise ValueError("the phrase list has no words")
    return "#JSGF V1.0;\ngrammar commands;\npublic <command> = " + " | ".join(alternatives) + ";\n"


@dataclass
class DecoderPool:
    """Pocketsphinx decoders are slow to build (~0.3 s), so finished ones are reused."""

    phrases: Sequence[str]
    _idle: list[Any] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _build(self) -> Any:
        from pocketsphinx import Config, Decoder  # noqa: PLC0415 - optional extra

        config = Config()
        config["logfn"] = "/dev/null"
        decoder = Decoder(config)
        decoder.add_jsgf_string("commands", build_grammar(self.phrases))
        decoder.activate_search("commands")
        return decoder

    def take(self) -> Any:
        """Return an idle decoder, building one if none is free (blocking)."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._build()

    def give_back(self, decoder: Any) -> None:
        """Return a decoder for the next utterance."""
        with self._lock:
            self._idle.append(decoder)

    async def warm(self) -> None:
        """Build one decoder ahead of the first session, off the event loop."""
        decoder = await asyncio.to_thread(self._build)
        self.give_back(decoder)


@dataclass(slots=True)
class PauseDetector:
    """Finds pauses in 16 kHz s16le speech by energy in 10 ms frames (as a streaming ASR
    endpoints a segment). pocketsphinx 5's own get_in_speech() no longer works."""

    threshold: float = 300.0
    """RMS (of 32768) below which a frame counts as silence."""
    pause_frames: int = 30
    """Silent frames after speech that make a pause (300 ms)."""
    _carry: bytes = b""
    _heard: bool = False
    _silent: int = 0

    def feed(self, pcm: bytes) -> bool:
        """Return True when this audio completes a pause after speech."""
        data = self._carry + pcm
        usable = len(data) - len(data) % 320
        self._carry = data[usable:]
        if not usable:
            return False
        frames = np.frombuffer(data[:usable], "<i2").astype(np.float32).reshape(-1, 160)
        paused = False
        for loud in np.sqrt(np.mean(frames * frames, axis=1)) >= self.threshold:
            if loud:
                self._heard, self._silent = True, 0
            elif self._heard:
                self._silent += 1
                if self._silent >= self.pause_frames:
                    self._heard, self._silent, paused = False, 0, True
        return paused


class SphinxRecognizer:
    """Real recognition with a pooled pocketsphinx decoder; a pause in speech ends a segment
    (a final), as Truebar's streaming ASR does.

    Each segment is decoded in one batch (pocketsphinx's full-utterance mode) from fixed
    cepstral means: decoding incrementally made results depend on how the audio was framed,
    how much silence followed, and what the pooled decoder had heard before.
    """

    def __init__(self, pool: DecoderPool, decoder: Any) -> None:
        self._pool = pool
        self._decoder: Any = decoder
        self._pauses = PauseDetector()
        self._segment = bytearray()

    def _decode(self) -> str:
        if self._decoder is None or not any(self._segment):
            return ""
        self._decoder.set_cmn(CMN_START)
        self._decoder.start_utt()
        self._decoder.process_raw(bytes(self._segment), False, True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return str(hyp.hypstr) if hyp is not None else ""

    def feed(self, pcm: bytes) -> str | None:
        """Take the next frame; at a pause, return the segment's final text."""
        self._segment += pcm
        if not self._pauses.feed(pcm):
            return None
        text = self._decode()
        self._segment.clear()
        return text

    def partial(self) -> str:
        """Return the current segment's best guess so far."""
        return self._decode()

    def finish(self) -> str:
        """Decode what is left, return the decoder to the pool and give the text."""
        text = self._decode()
        self.close()
        return text

    def close(self) -> None:
        """Return the decoder to the pool (safe to call twice)."""
        decoder, self._decoder = self._decoder, None
        self._segment.clear()
        if decoder is not None:
            self._pool.give_back(decoder)


@functools.cache
def shared_pool(phrases: tuple[str, ...]) -> DecoderPool:
    """Return the process-wide decoder pool for a phrase list."""
    return DecoderPool(phrases)
