"""What Truebar's text segments say, placed on the stream (pure): the running text, where its
last word ends, how far the recogniser had heard, whether that last word is settled, and
what each segment shows of the service's conventions.

Truebar's documentation leaves the segment's conventions open, so nothing here takes one for
granted: punctuation and empty tokens are not words; token offsets are placed on the stream
by the segment's `startTimeMs` when they are relative to it (seen in a segment, or learned
for the process); placeholder times (-1, 0, missing) mean "no word times"; a segment whose
word times its own `endTimeMs` contradicts shows nothing (no word end, no heard-to, no
evidence of any convention); interim tokens that repeat committed text are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ..truebar.protocol import Message, Token, TranscriptAssembler

TIME_SLACK_MS = 10
"""Times within this much of each other are the same (10 ms frames)."""
GRID_SLACK_MS = 50
"""A word may start this much before its segment's startTimeMs and still be on the stream's
clock: a service may stamp segment boundaries on a coarser grid than words."""


class Offsets(StrEnum):
    """Where a segment's token times are measured from (the simulator's switch of the same
    name plays each)."""

    ABSOLUTE = "absolute"
    """From the start of the stream."""
    RELATIVE = "relative"
    """From the segment's startTimeMs."""
    PLACEHOLDER = "placeholder"
    """Not given: the words carry no usable times."""


class Punctuation(StrEnum):
    """How a segment's punctuation tokens are timed."""

    WORD = "word"
    """At the word before them."""
    END = "end"
    """At the end of the audio the segment spans."""
    UNTIMED = "untimed"


def is_word(text: str) -> bool:
    """Whether a token is a word (a letter or digit in it), not punctuation or empty."""
    return any(char.isalnum() for char in text)


@dataclass(frozen=True, slots=True)
class Heard:
    """What Truebar had recognised after one segment (stream milliseconds)."""

    text: str
    """The committed text and the current interim."""
    final: bool
    """The segment was final."""
    added: bool
    """It added words to the committed text (a final with words)."""
    end_ms: int | None
    """Where the running text's last word ends (None: no usable word times)."""
    heard_to_ms: int | None
    """How far the recogniser had heard (the segment's endTimeMs; None: not given, or
    before the last word's end)."""
    committed: bool
    """The running text's last word is committed text (a final's), not an interim's
    provisional one."""


@dataclass(frozen=True, slots=True)
class Observed:
    """What one segment shows of the service's conventions (None: it shows nothing)."""

    offsets: Offsets | None = None
    punctuation: Punctuation | None = None
    timed: bool | None = None
    """Its words carry usable times."""


@dataclass(frozen=True, slots=True)
class _Times:
    """A segment's word times on the stream."""

    end_ms: int | None
    heard_to_ms: int | None
    offsets: Offsets | None
    punctuation: Punctuation | None
    base_ms: int
    """What the tokens' offsets are measured from, on the stream."""
    contradicts: bool = False
    """The segment's word times contradict its own endTimeMs: it shows nothing."""


def _usable(token: Token) -> bool:
    return token.end_ms is not None and token.end_ms > 0 and (token.start_ms or 0) >= 0


def _offsets(words: Sequence[Token], start: int | None, end: int | None) -> Offsets | None:
    """Which reference the times show: a word well before the segment's start (more than
    GRID_SLACK_MS) means relative; a word that would end after the segment's end were it
    relative means absolute."""
    if not start or start <= GRID_SLACK_MS:
        return None
    first = min(t.start_ms if t.start_ms is not None else t.end_ms or 0 for t in words)
    if first < start - GRID_SLACK_MS:
        return Offsets.RELATIVE
    latest = max(t.end_ms or 0 for t in words)
    if end is not None and latest + start > end + TIME_SLACK_MS:
        return Offsets.ABSOLUTE
    return None


def segment_times(message: Message, relative: bool) -> _Times:
    """Place a segment's word times on the stream (`relative`: the learned reference)."""
    words = [t for t in message.tokens if is_word(t.text)]
    marks = [t for t in message.tokens if t.text and not is_word(t.text)]
    seg_start, seg_end = message.start_ms, message.end_ms
    if seg_start and seg_end is not None and 0 < seg_end < seg_start:
        seg_end += seg_start  # a segment that ends before it starts counts from its start
    heard_to = seg_end if seg_end is not None and seg_end > 0 else None
    if not words:
        return _Times(None, heard_to, None, _punctuation(marks, 0, None, heard_to), 0)
    if not _timed(words):
        return _Times(
            None, heard_to, Offsets.PLACEHOLDER, _punctuation(marks, 0, None, heard_to), 0
        )
    seen = _offsets(words, seg_start, seg_end)
    base = 0
    if seg_start and (seen is Offsets.RELATIVE or (seen is None and relative)):
        base = seg_start
    end = max(t.end_ms or 0 for t in words) + base
    if heard_to is not None and end > heard_to + TIME_SLACK_MS:
        return _Times(None, None, None, None, base, contradicts=True)
    if heard_to is not None and heard_to < end:
        heard_to = None
    return _Times(end, heard_to, seen, _punctuation(marks, base, end, heard_to), base)


def _timed(words: Sequence[Token]) -> bool:
    """Whether the words carry usable times: every one timed, not all stamped with one span
    (which says nothing of words)."""
    if not all(_usable(t) for t in words):
        return False
    return len(words) == 1 or len({(t.start_ms, t.end_ms) for t in words}) > 1


def _punctuation(
    marks: Sequence[Token], base: int, end: int | None, heard_to: int | None
) -> Punctuation | None:
    if not marks:
        return None
    if not all(_usable(t) for t in marks):
        return Punctuation.UNTIMED
    at = max(t.end_ms or 0 for t in marks) + base
    beyond_word = end is None or at > end + TIME_SLACK_MS
    at_end = heard_to is None or at >= heard_to - TIME_SLACK_MS
    return Punctuation.END if beyond_word and at_end else Punctuation.WORD


@dataclass(slots=True)
class RunningText:
    """What Truebar has said so far in one attempt: the committed text, the current interim,
    and where its last word ends (the endpointer's ear)."""

    assembler: TranscriptAssembler = field(default_factory=TranscriptAssembler)
    relative: bool = False
    """Token offsets are known to be relative to the segment (learned for the process)."""
    _committed_end: int | None = None
    _committed_words: bool = False

    def add(self, message: Message) -> tuple[Heard, Observed]:
        """Take a TEXT_SEGMENT: what is heard now and what it shows of the conventions."""
        times = segment_times(message, self.relative)
        words = [t for t in message.tokens if is_word(t.text)]
        observed = Observed()
        if not times.contradicts:
            timed = None if not words else times.offsets is not Offsets.PLACEHOLDER
            observed = Observed(times.offsets, times.punctuation, timed)
        added = False
        text, end, committed = self.assembler.text, self._committed_end, self._committed_words
        if message.final:
            added = bool(self.assembler.add_final(message.tokens))
            if words:  # an empty final commits nothing: no evidence that the speech is over
                self._committed_end = end = times.end_ms
                self._committed_words = committed = True
            text = self.assembler.text
        elif fresh := self._fresh(words, times):
            text = f"{text} {' '.join(fresh)}".strip()
            end, committed = times.end_ms, False
        heard = Heard(text, message.final, added, end, times.heard_to_ms, committed)
        return heard, observed

    def _fresh(self, words: Sequence[Token], times: _Times) -> list[str]:
        """An interim's words beyond the committed text: words that repeat the latest final's
        (ending at or before its end) are dropped."""
        committed = self._committed_end
        if times.end_ms is None or committed is None:
            return [t.text for t in words]
        after = committed + TIME_SLACK_MS
        return [t.text for t in words if (t.end_ms or 0) + times.base_ms > after]
