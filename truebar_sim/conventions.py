"""The stream conventions Truebar's documentation leaves open, each a switch of the simulator,
and the text segments they shape (no I/O).

Nobody here has seen the live stream: how often interims come, whether an interim's last word
is final, where token times are measured from, how punctuation is timed, when finals come and
how slow the network is are guesses. The bridge must be right under every one of them, so the
simulator can play each (`PRESETS` names the combinations the tests and benchmarks use).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .words import Word


class Offsets(StrEnum):
    """Where token times are measured from."""

    ABSOLUTE = "absolute"
    """From the start of the stream (the simulator's default)."""
    RELATIVE = "relative"
    """From the segment's startTimeMs."""
    PLACEHOLDER = "placeholder"
    """Not given: every token says -1."""


class PunctuationTimes(StrEnum):
    """How a punctuation token (an NLP stage's ".") is timed."""

    WORD = "word"
    """At the end of the word before it (the default)."""
    END = "end"
    """At the end of the audio the segment spans."""
    UNTIMED = "untimed"
    """Not at all: the token has no offsets."""


@dataclass
class Conventions:
    """How the simulated service shapes its stream (see the module); runtime-switchable."""

    interim_interval_ms: int = 250
    """Milliseconds of audio between interims when the client asks for them (0: none)."""
    caught_up_interim: bool = True
    """An interim as soon as the decoder has caught up with a pause (80 ms into it)."""
    provisional_last_word: bool = False
    """An interim's last word reaches the decoder's position (the end of the audio it
    spans), as a decoder's partial alignment stretches it, until `settle_ms` of trailing
    silence after it fixes its end."""
    settle_ms: int = 120
    provisional_trail_ms: int = 0
    """With provisional_last_word: the stretched last word ends this far before the decoder's
    position instead of at it, varying by segment between this and 100 ms (a decoder whose
    partial alignment lags its position a little)."""
    offsets: str = Offsets.ABSOLUTE
    segment_grid_ms: int = 0
    """A segment's startTimeMs is stamped on a grid this coarse, on the first grid point after
    its first word's start: that word then starts 1 ms to this much before its segment (0: the
    segment starts where the recogniser's segment does)."""
    end_times: bool = True
    """Segments carry endTimeMs (how far the recogniser had heard); False: they do not."""
    end_at_received: bool = False
    """An interim's endTimeMs is the audio received, while the decoder lags behind it (its
    words are those of its latest decode): a segment that claims to have heard more than it
    has."""
    punctuate: bool = False
    """Punctuate finals whatever the pipeline asks (as if an NLP stage ran); otherwise only
    when CONFIG has an NLP_pc stage."""
    punctuation_times: str = PunctuationTimes.WORD
    punctuation_in_interims: bool = False
    """Interims are punctuated too (an NLP stage run on interims)."""
    empty_interims: bool = False
    """An empty interim after every final, and when the decoder has nothing yet."""
    overlapping_interims: bool = False
    """Interims repeat the words of the latest final before their own."""
    final_pause_ms: int = 500
    """A final mid-stream after this much trailing silence, as Kaldi's endpoint rule sends
    one (0: finals only at EOS)."""
    uplink_ms: int = 0
    """Milliseconds every client message (audio, EOS) takes to reach the service."""
    downlink_ms: int = 0
    """Milliseconds every service message takes to reach the client (on top of the
    `latency` fault)."""
    finish_ms: int = 0
    """Milliseconds from EOS to the final segments and FINISHED (on top of the
    `finished_delay` fault)."""

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update (from the control endpoint, a preset or the CLI)."""
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise KeyError(key)
            setattr(self, key, value)
        Offsets(self.offsets)
        PunctuationTimes(self.punctuation_times)

    def changed(self) -> dict[str, Any]:
        """The switches that differ from the defaults."""
        default = Conventions()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }


_HARSH = {"caught_up_interim": False, "interim_interval_ms": 250}
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "interims_100": {"interim_interval_ms": 100, "caught_up_interim": False},
    "interims_250": dict(_HARSH),
    "interims_500": {"interim_interval_ms": 500, "caught_up_interim": False},
    "interims_1000": {"interim_interval_ms": 1000, "caught_up_interim": False},
    "interims_off": {"interim_interval_ms": 0},
    "provisional_250": {**_HARSH, "provisional_last_word": True},
    "provisional_500": {
        "interim_interval_ms": 500,
        "caught_up_interim": False,
        "provisional_last_word": True,
    },
    "relative_offsets_250": {**_HARSH, "offsets": Offsets.RELATIVE},
    "placeholder_offsets": {**_HARSH, "offsets": Offsets.PLACEHOLDER},
    "punctuation_at_end_250": {
        **_HARSH,
        "punctuate": True,
        "punctuation_times": PunctuationTimes.END,
        "punctuation_in_interims": True,
    },
    "punctuation_untimed_250": {
        **_HARSH,
        "punctuate": True,
        "punctuation_times": PunctuationTimes.UNTIMED,
        "punctuation_in_interims": True,
    },
    "empty_and_overlapping_250": {
        **_HARSH,
        "empty_interims": True,
        "overlapping_interims": True,
    },
    "network_120": {**_HARSH, "provisional_last_word": True, "downlink_ms": 120},
    "network_both_ways_80": {**_HARSH, "uplink_ms": 80, "downlink_ms": 80},
    "slow_finish_400": {**_HARSH, "finish_ms": 400},
    "coarse_segment_start_250": {**_HARSH, "segment_grid_ms": 30},
    "no_end_times_250": {**_HARSH, "end_times": False},
    "end_at_received_250": {**_HARSH, "end_at_received": True},
    "provisional_trailing_250": {
        **_HARSH,
        "provisional_last_word": True,
        "provisional_trail_ms": 40,
    },
}
"""Named combinations: the tests and `script/bench` run the bridge under each. "_250"
presets send interims every 250 ms of audio (a Kaldi online server's traceback period)
without the caught-up interim, which only this simulator's decoder gives."""
HARSHEST = ("provisional_250", "network_120")
"""The two conventions furthest from the defaults that cost words before (issue 32)."""


def preset(name: str) -> Conventions:
    """A fresh Conventions of a named preset (KeyError: no such preset)."""
    conventions = Conventions()
    conventions.update(PRESETS[name])
    return conventions


@dataclass(frozen=True, slots=True)
class Span:
    """What a segment spans: where its segment began and the decoder's position (ms)."""

    start_ms: int
    end_ms: int


def text_segment(
    conventions: Conventions,
    words: Sequence[Word],
    span: Span,
    final: bool,
    stop: bool,
) -> dict[str, Any]:
    """A TEXT_SEGMENT message for these words (stream times) under the conventions; `stop`
    ends it with a punctuation token (an NLP stage's ".")."""
    words = list(words)
    if words and not final and conventions.provisional_last_word:
        last = words[-1]
        reach = span.end_ms - _trail(conventions, span)
        if span.end_ms - last.end_ms < conventions.settle_ms:
            words[-1] = Word(last.text, last.start_ms, max(last.end_ms, reach))
    grid = conventions.segment_grid_ms
    if grid and words:  # stamped on the grid just after the first word's start
        stamped = (words[0].start_ms // grid + 1) * grid
        span = Span(stamped, max(span.end_ms, stamped))
    tokens = [_token(conventions, word, span, left=False) for word in words]
    if stop and words:
        mode = PunctuationTimes(conventions.punctuation_times)
        at = words[-1].end_ms if mode is PunctuationTimes.WORD else span.end_ms
        mark = _token(conventions, Word(".", at, at), span, left=True)
        if mode is PunctuationTimes.UNTIMED:
            del mark["startOffsetMs"], mark["endOffsetMs"]
        tokens.append(mark)
    segment: dict[str, Any] = {"isFinal": final, "startTimeMs": span.start_ms}
    if conventions.end_times:
        segment["endTimeMs"] = span.end_ms
    segment["tokens"] = tokens
    return {"type": "TEXT_SEGMENT", "textSegment": segment}


def _trail(conventions: Conventions, span: Span) -> int:
    """How far a provisional last word ends before the decoder's position in this segment:
    between provisional_trail_ms and 100 ms, varying by segment (0: at the position)."""
    low = conventions.provisional_trail_ms
    if not low:
        return 0
    return low + (span.end_ms * 7919) % (max(low, 100) - low + 1)


def _token(conventions: Conventions, word: Word, span: Span, left: bool) -> dict[str, Any]:
    offsets = Offsets(conventions.offsets)
    base = span.start_ms if offsets is Offsets.RELATIVE else 0
    start, end = max(0, word.start_ms - base), max(0, word.end_ms - base)
    if offsets is Offsets.PLACEHOLDER:
        start = end = -1
    return {
        "text": word.text,
        "isLeftHanded": left,
        "isRightHanded": False,
        "startOffsetMs": start,
        "endOffsetMs": end,
    }
