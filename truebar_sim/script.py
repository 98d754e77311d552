"""Recognition of languages the simulator has no model for (no I/O): a fixture whose words and
word times are known from how it was made is "heard" as its audio passes each word.

A test tells the simulator, over its control plane (`POST /_sim/scripts`, or `truebar-sim
--scripts bundled`), which recordings it may play: each script carries a digest of every
100 ms block of its recording, counted from its first sound. A session follows the
recordings whose blocks its own audio has matched so far (many commands begin alike: "ugasni
luč v ..."), hears the words they all agree on, and ends with the one it played, wherever it
starts in the stream and however many sessions play at once. Audio that matches no script
goes to the fallback (the English model). The bridge has no part in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .fixtures import ScriptedFixture
from .recognizer import Recognizer
from .words import Word

BLOCK_BYTES = 3200
"""100 ms of 16 kHz s16le audio: the unit by which a recording is recognised."""
CAUGHT_UP_MS = 80
"""The caught-up interim comes this long into a pause (as the sphinx mode's does)."""


def first_sound(pcm: bytes | bytearray) -> int | None:
    """The byte offset of the first 16-bit sample that is not zero (None: all silent)."""
    samples = np.frombuffer(pcm, "<i2", len(pcm) // 2)
    found = np.flatnonzero(samples)
    return int(found[0]) * 2 if len(found) else None


def block_digest(block: bytes | bytearray) -> str:
    """A block's digest (short: it tells fixtures apart, it guards nothing)."""
    return hashlib.sha256(block).hexdigest()[:16]


SILENT = block_digest(bytes(BLOCK_BYTES))
"""The digest of 100 ms of silence."""


def blocks_of(pcm: bytes | bytearray, start: int) -> list[str]:
    """The digests of the whole blocks of audio from `start`."""
    whole = (len(pcm) - start) // BLOCK_BYTES
    return [
        block_digest(pcm[start + i * BLOCK_BYTES : start + (i + 1) * BLOCK_BYTES])
        for i in range(whole)
    ]


@dataclass(frozen=True, slots=True)
class Script:
    """A recording's words (times from the recording's start, ms), where its sound starts
    (bytes) and the digests of its blocks from there."""

    words: tuple[Word, ...]
    sound_at: int
    blocks: tuple[str, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Script:
        """A script from a control-plane entry."""
        words = tuple(
            Word(str(w["text"]), int(w["start_ms"]), int(w["end_ms"]), w.get("written"))
            for w in data["words"]
        )
        return cls(words, int(data["sound_at"]), tuple(str(b) for b in data["blocks"]))

    def placed(self, sound_at: int) -> list[Word]:
        """The words where the recording lies in a stream whose sound starts at `sound_at`."""
        shift = (sound_at - self.sound_at) // 32
        return [Word(w.text, w.start_ms + shift, w.end_ms + shift, w.written) for w in self.words]


def script_entry(pcm: bytes, words: Sequence[Word]) -> dict[str, Any]:
    """The control-plane entry for a recording and its words (what a test posts)."""
    start = first_sound(pcm)
    if start is None:
        raise ValueError("the recording is silent")
    return {
        "sound_at": start,
        "blocks": blocks_of(pcm, start),
        "words": [
            {"text": w.text, "start_ms": w.start_ms, "end_ms": w.end_ms, "written": w.written}
            for w in words
        ],
    }


def agreed(lists: Sequence[Sequence[Word]]) -> list[Word]:
    """The words at the start of every list that all lists agree on."""
    if not lists:
        return []
    common: list[Word] = []
    for words in zip(*lists, strict=False):
        if any(word != words[0] for word in words[1:]):
            break
        common.append(words[0])
    if len(lists) == 1:
        return list(lists[0])
    return common


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

    async def feed(self, pcm: bytes) -> list[Word] | None:
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

    async def partial(self) -> list[Word]:
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

    async def finish(self) -> list[Word]:
        """The words heard in full, with audio after them, not yet final."""
        return self._commit(self._heard(self.received_ms - self.lookahead_ms))

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class ScriptLookup:
    """A session's recogniser for a language without a model: it follows the scripted
    recordings its audio has matched so far and hears the words they agree on (see the
    module); audio that matches none gets no more words."""

    scripts: Sequence[Script]
    fallback: Callable[[], Recognizer]
    """For audio that matches no script: what the simulator makes of it otherwise (its
    English model: a test double's answer, as before scripts existed)."""
    pause_ms: int = 500
    lookahead_ms: int = 150
    _audio: bytearray = field(default_factory=bytearray)
    _other: Recognizer | None = None
    """The fallback, once the audio has matched no script."""
    _sound_at: int | None = None
    _matched: list[Script] = field(default_factory=list)
    _checked: int = 0
    """Whole blocks of the stream's sound compared so far."""
    _heard: ScriptRecognizer = field(init=False)

    def __post_init__(self) -> None:
        self._heard = ScriptRecognizer([], self.pause_ms, self.lookahead_ms)

    def _follow(self) -> None:
        """Compare the new whole blocks; keep the recordings that still match."""
        audio = self._audio
        if self._sound_at is None:
            self._sound_at = first_sound(audio)
            if self._sound_at is None:
                return
            self._matched = list(self.scripts)
        start = self._sound_at + self._checked * BLOCK_BYTES
        for digest in blocks_of(audio, start):
            index = self._checked
            # A recording that has ended still matches while the stream after it is silent
            # (past the block its last samples share with what follows); more sound after
            # its end is another recording that begins like it ("nastavi časovnik za pet
            # minut … in trideset sekund").
            self._matched = [s for s in self._matched if _still(s, index, digest)]
            self._checked += 1
        self._heard.words = agreed([s.placed(self._sound_at) for s in self._matched])

    @property
    def _now(self) -> Recognizer:
        return self._other if self._other is not None else self._heard

    async def feed(self, pcm: bytes) -> list[Word] | None:
        """Take audio; a final once a pause follows the last word heard."""
        if self._other is not None:
            return await self._other.feed(pcm)
        self._audio += pcm
        self._follow()
        if self._sound_at is not None and not self._matched and not self._heard.words:
            self._other = self.fallback()  # no script: all of the audio goes to the fallback
            audio, self._audio = bytes(self._audio), bytearray()
            return await self._other.feed(audio)
        return await self._heard.feed(pcm)

    async def partial(self) -> list[Word]:
        """The words heard in full and not yet final."""
        return await self._now.partial()

    def heard_ms(self) -> int:
        """How far the words had heard."""
        return self._now.heard_ms()

    def caught_up(self) -> bool:
        """Once per word that a pause follows."""
        return self._now.caught_up()

    async def finish(self) -> list[Word]:
        """The words heard in full, with audio after them, not yet final."""
        return await self._now.finish()

    def close(self) -> None:
        """Let go of the audio (and of the fallback)."""
        self._audio.clear()
        if self._other is not None:
            self._other.close()


def _still(script: Script, index: int, digest: str) -> bool:
    """Whether a recording still matches the stream's block `index` (see `_follow`)."""
    if index < len(script.blocks):
        return script.blocks[index] == digest
    return index == len(script.blocks) or digest == SILENT


def script_entries(fixtures: list[ScriptedFixture]) -> dict[str, list[dict[str, object]]]:
    """The control plane's body that lets the simulator hear these recordings
    (POST /_sim/scripts)."""
    return {"scripts": [script_entry(f.pcm(), f.words) for f in fixtures]}
