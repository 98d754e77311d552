"""Speech recognition for the simulator: pocketsphinx on a phrase grammar, or a byte counter."""

from __future__ import annotations

import asyncio
import functools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

_WORD = re.compile(r"[a-z']+")
CMN_START = "40.71,-3.90,-7.16,15.84,-10.24,0.75,-3.28,-17.01,0.72,-11.91,7.04,-4.71,-4.16"
"""Cepstral means measured on the bundled fixtures. Every utterance starts from these, so a
result never depends on what a pooled decoder heard before, nor on how audio was framed."""


class Recognizer(Protocol):
    """One utterance's recogniser: fed 16 kHz mono s16le audio, asked for text."""

    def feed(self, pcm: bytes) -> None:
        """Take the next audio frame."""

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

    def feed(self, pcm: bytes) -> None:
        """Count the bytes."""
        self.received += len(pcm)

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


class SphinxRecognizer:
    """Real recognition of one utterance with a pooled pocketsphinx decoder."""

    def __init__(self, pool: DecoderPool, decoder: Any) -> None:
        self._pool = pool
        self._decoder: Any = decoder
        self._decoder.set_cmn(CMN_START)
        self._decoder.start_utt()

    def feed(self, pcm: bytes) -> None:
        """Decode the next frame."""
        if pcm:
            self._decoder.process_raw(pcm, False, False)

    def partial(self) -> str:
        """Return the decoder's current hypothesis."""
        hyp = self._decoder.hyp()
        return str(hyp.hypstr) if hyp is not None else ""

    def finish(self) -> str:
        """End the utterance, return the decoder to the pool and give the text."""
        decoder, self._decoder = self._decoder, None
        if decoder is None:
            return ""
        try:
            decoder.end_utt()
            hyp = decoder.hyp()
            return str(hyp.hypstr) if hyp is not None else ""
        finally:
            self._pool.give_back(decoder)

    def close(self) -> None:
        """Abandon the utterance (if still open) and return the decoder."""
        self.finish()


@functools.cache
def shared_pool(phrases: tuple[str, ...]) -> DecoderPool:
    """Return the process-wide decoder pool for a phrase list."""
    return DecoderPool(phrases)
