"""Speech recognition for the simulator: pocketsphinx on a phrase grammar, or a byte counter."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
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
    """Return a JSGF grammar that accepts one of the phrases, or the start of one (what a
    speaker who pauses mid-command has said so far: a final at the pause decodes it)."""
    alternatives: list[str] = []
    for phrase in phrases:
        words = _WORD.findall(phrase.lower())
        for end in range(len(words), 0, -1):
            alternative = "( " + " ".join(words[:end]) + " )"
            if alternative not in alternatives:
                alternatives.append(alternative)
    if not alternatives:
        raise ValueError("the phrase list has no words")
    return "#JSGF V1.0;\ngrammar commands;\npublic <command> = " + " | ".join(alternatives) + ";\n"


@dataclass
class SharedDecoder:
    """One pocketsphinx decoder for every session of the process.

    Building a decoder costs about 0.4 s of CPU with the GIL held, so building one per
    session made a burst of concurrent sessions wait seconds for CONFIGURED (a real service
    answers at once). One decoder is enough: each segment is decoded in one batch from fixed
    cepstral means, so a decode carries no state into the next, and decodes run on the event
    loop's thread, one at a time.
    """

    phrases: Sequence[str]
    _decoder: Any = None

    def get(self) -> Any:
        """Return the decoder, building it on first use (blocking; `warm` does it early)."""
        if self._decoder is None:
            from pocketsphinx import Config, Decoder  # noqa: PLC0415 - optional extra

            config = Config()
            config["logfn"] = "/dev/null"
            decoder = Decoder(config)
            decoder.add_jsgf_string("commands", build_grammar(self.phrases))
            decoder.activate_search("commands")
            self._decoder = decoder
        return self._decoder

    @functools.cached_property
    def complete(self) -> frozenset[str]:
        """The phrases as the decoder spells them (lower case, words joined by one space)."""
        return frozenset(" ".join(_WORD.findall(p.lower())) for p in self.phrases)

    async def warm(self) -> None:
        """Build the decoder ahead of the first session, off the event loop."""
        await asyncio.to_thread(self.get)


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
    """Real recognition with the shared pocketsphinx decoder; a pause in speech ends a
    segment (a final), as Truebar's streaming ASR does.

    Each segment is decoded in one batch (pocketsphinx's full-utterance mode) from fixed
    cepstral means: decoding incrementally made results depend on how the audio was framed,
    how much silence followed, and what the decoder had heard before.
    """

    def __init__(
        self,
        decoder: Any,
        pause_ms: int = 500,
        max_ms: int = 20000,
        complete: frozenset[str] = frozenset(),
    ) -> None:
        self._decoder: Any = decoder
        self._complete = complete
        """Whole phrases: once the committed words make one, the next words start afresh."""
        self._pauses = PauseDetector(pause_frames=pause_ms // 10) if pause_ms > 0 else None
        self._max_bytes = max_ms * 32 if max_ms > 0 else None
        self._audio = bytearray()
        """The current command so far: every decode reads all of it (a phrase grammar can
        only place the words of a part after a pause by what came before)."""
        self._segment_bytes = 0
        self._committed = 0
        """Words already sent as finals."""

    def _decode(self) -> list[str]:
        if self._decoder is None or not any(self._audio):
            return []
        self._decoder.set_cmn(CMN_START)
        self._decoder.start_utt()
        self._decoder.process_raw(bytes(self._audio), False, True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return str(hyp.hypstr).split() if hyp is not None else []

    def _commit(self) -> str:
        """The words of the utterance beyond those already final, now final too."""
        words = self._decode()
        new = words[self._committed :]
        self._committed = max(self._committed, len(words))
        self._segment_bytes = 0
        if " ".join(words) in self._complete:  # a whole command: the next one starts afresh
            self._audio.clear()
            self._committed = 0
        return " ".join(new)

    def feed(self, pcm: bytes) -> str | None:
        """Take the next frame; at a pause, return the segment's final text."""
        self._audio += pcm
        self._segment_bytes += len(pcm)
        paused = self._pauses is not None and self._pauses.feed(pcm)
        forced = self._max_bytes is not None and self._segment_bytes >= self._max_bytes
        return self._commit() if paused or forced else None

    def partial(self) -> str:
        """Return the current segment's best guess so far."""
        return " ".join(self._decode()[self._committed :])

    def finish(self) -> str:
        """Decode what is left and give the text."""
        text = self._commit()
        self.close()
        return text

    def close(self) -> None:
        """Let go of the shared decoder (safe to call twice)."""
        self._decoder = None
        self._audio.clear()


@functools.cache
def shared_decoder(phrases: tuple[str, ...]) -> SharedDecoder:
    """Return the process-wide decoder for a phrase list."""
    return SharedDecoder(phrases)
