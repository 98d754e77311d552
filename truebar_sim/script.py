"""Recognition of languages the simulator has no model for (no I/O): a fixture whose words and
word times are known from how it was made is "heard" as its audio passes each word.

A test tells the simulator, over its control plane (`POST /_sim/scripts`, or `truebar-sim
--scripts bundled`), which recordings it may play: each script is keyed by a fingerprint of
the recording's audio (16,000 bytes from its first sample that is not silent), so a session
recognises its recording from the audio alone, wherever in the stream it starts and however
many sessions play at once. The bridge has no part in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .recognizer import Recognizer, Word

FINGERPRINT_BYTES = 16000
"""Half a second of audio, from the first sample that is not silent."""
CAUGHT_UP_MS = 80
"""The caught-up interim comes this long into a pause (as the sphinx mode's does)."""


def first_sound(pcm: bytes | bytearray) -> int | None:
    """The byte offset of the first 16-bit sample that is not zero (None: all silent)."""
    for offset in range(0, len(pcm) - 1, 2):
        if pcm[offset] or pcm[offset + 1]:
            return offset
    return None


def fingerprint(pcm: bytes | bytearray) -> tuple[str, int] | None:
    """(key, where it starts in bytes) of audio, once FINGERPRINT_BYTES of sound are in."""
    start = first_sound(pcm)
    if start is None or len(pcm) - start < FINGERPRINT_BYTES:
        return None
    key = hashlib.sha256(bytes(pcm[start : start + FINGERPRINT_BYTES])).hexdigest()
    return key, start


@dataclass(frozen=True, slots=True)
class Script:
    """A recording's words, times from the recording's start (ms), and where its sound
    starts (bytes), so the words can be placed wherever it starts in a stream."""

    words: tuple[Word, ...]
    sound_at: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> tuple[str, Script]:
        """(fingerprint, script) from a control-plane entry."""
        words = tuple(
            Word(str(w["text"]), int(w["start_ms"]), int(w["end_ms"]), w.get("written"))
            for w in data["words"]
        )
        return str(data["fingerprint"]), cls(words, int(data["sound_at"]))


def script_entry(pcm: bytes, words: Sequence[Word]) -> dict[str, Any]:
    """The control-plane entry for a recording and its words (what a test posts)."""
    found = fingerprint(pcm)
    if found is None:
        raise ValueError("the recording has less than half a second of sound")
    key, start = found
    return {
        "fingerprint": key,
        "sound_at": start,
        "words": [
            {"text": w.text, "start_ms": w.start_ms, "end_ms": w.end_ms, "written": w.written}
            for w in words
        ],
    }


@dataclass
class ScriptRecognizer:
    """Hears a scripted recording: a word is heard once the audio has passed its end; a final
    after `pause_ms` of silence after a word (as Kaldi's endpoint rule); at EOS the words heard
    in full at least `lookahead_ms` before the end of the audio."""

    words: list[Word]
    pause_ms: int = 500
    lookahead_ms: int = 150
    received_ms: int = 0
    _committed: int = 0
    _told: int = 0
    """Words already announced by a caught-up interim."""

    def _heard(self, before_ms: int) -> int:
        """How many words end at or before this point of the stream."""
        return sum(1 for word in self.words if word.end_ms <= before_ms)

    def feed(self, pcm: bytes) -> list[Word] | None:
        """Take audio; a final once a pause follows the last word heard."""
        self.received_ms += len(pcm) // 32
        heard = self._heard(self.received_ms)
        if heard <= self._committed or self.pause_ms <= 0:
            return None
        last = self.words[heard - 1]
        next_start = self.words[heard].start_ms if heard < len(self.words) else None
        paused = self.received_ms - last.end_ms >= self.pause_ms
        if paused and (next_start is None or next_start > self.received_ms):
            return self._commit(heard)
        return None

    def _commit(self, upto: int) -> list[Word]:
        new = self.words[self._committed : upto]
        self._committed = max(self._committed, upto)
        return new

    def partial(self) -> list[Word]:
        """The words heard in full and not yet final."""
        return self.words[self._committed : self._heard(self.received_ms)]

    def heard_ms(self) -> int:
        """All the audio received."""
        return self.received_ms

    def caught_up(self) -> bool:
        """Once per word that a pause follows, CAUGHT_UP_MS into the pause."""
        heard = self._heard(self.received_ms - CAUGHT_UP_MS)
        if heard <= self._told:
            return False
        self._told = heard
        return True

    def finish(self) -> list[Word]:
        """The words heard in full, with audio after them, not yet final."""
        return self._commit(self._heard(self.received_ms - self.lookahead_ms))

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class ScriptLookup:
    """A session's recogniser until its audio tells which scripted recording it plays: then
    that recording's ScriptRecognizer, or, for audio no script knows, the fallback."""

    scripts: dict[str, Script]
    fallback: Callable[[], Recognizer]
    pause_ms: int = 500
    lookahead_ms: int = 150
    _audio: bytearray = field(default_factory=bytearray)
    _chosen: Recognizer | None = None

    def _choose(self) -> Recognizer | None:
        found = fingerprint(self._audio)
        if found is None:
            return None
        key, start = found
        script = self.scripts.get(key)
        if script is None:
            chosen = self.fallback()
        else:
            shift = (start - script.sound_at) // 32  # where the recording starts, in ms
            words = [
                Word(w.text, w.start_ms + shift, w.end_ms + shift, w.written) for w in script.words
            ]
            chosen = ScriptRecognizer(words, self.pause_ms, self.lookahead_ms)
        self._chosen = chosen
        return chosen

    def feed(self, pcm: bytes) -> list[Word] | None:
        """Take audio (kept until the recording is known, then given to its recogniser)."""
        if self._chosen is not None:
            return self._chosen.feed(pcm)
        self._audio += pcm
        chosen = self._choose()
        if chosen is None:
            return None
        audio, self._audio = bytes(self._audio), bytearray()
        return chosen.feed(audio)

    def partial(self) -> list[Word]:
        """The chosen recogniser's guess (none before)."""
        return self._chosen.partial() if self._chosen is not None else []

    def heard_ms(self) -> int:
        """How far the chosen recogniser had heard (nothing before)."""
        return self._chosen.heard_ms() if self._chosen is not None else 0

    def caught_up(self) -> bool:
        """As the chosen recogniser says."""
        return self._chosen is not None and self._chosen.caught_up()

    def finish(self) -> list[Word]:
        """The chosen recogniser's final words (a recording shorter than the fingerprint:
        whatever the fallback makes of it)."""
        if self._chosen is None:
            self._chosen = self.fallback()
            self._chosen.feed(bytes(self._audio))
        return self._chosen.finish()

    def close(self) -> None:
        """Release the chosen recogniser."""
        if self._chosen is not None:
            self._chosen.close()
