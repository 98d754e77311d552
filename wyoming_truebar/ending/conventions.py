"""What the bridge learns of the live service's stream conventions, for the whole process
(no I/O): how often interims come, where token times are measured from, how punctuation is
timed, whether words carry times, how late text comes, the round trip and EOS → FINISHED. The
endpointer adapts to them (text lag, offsets); `/metrics`, the log (once) and `--check`
report them, each with the number of segments behind it.

Only evidence that agrees counts: a convention is adopted once `AGREE` segments in a row show
it, and given up when as many in a row contradict it (an odd segment changes nothing). Until
then the bridge assumes nothing: token times are taken as they come (absolute), the text lag
is the default, and an interim's last word settles only on the safest evidence. A segment
that contradicts its own times shows nothing (`heard.segment_times`).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .heard import Observed, Offsets, Punctuation

SAMPLES = 64
"""Measurements kept per figure (the latest)."""
AGREE = 3
"""Segments in a row that must agree before a convention is adopted, or contradict it before
it is given up; measurements before a figure the endpointer uses (cadence, text lag) counts."""
DETECTOR_LAG_MS = 60.0
"""How late the bridge's voice activity detector hears the end of speech."""

T = TypeVar("T")


@dataclass(slots=True)
class Belief(Generic[T]):
    """One convention, learned from segments that agree (see the module)."""

    value: T | None = None
    """The adopted value (None: not known)."""
    support: int = 0
    """Segments that showed the adopted value."""
    given_up: int = 0
    """Times an adopted value was given up for one the stream showed instead."""
    _rival: T | None = None
    _streak: int = 0

    def see(self, shown: T | None) -> None:
        """Take what one segment showed (None: nothing)."""
        if shown is None:
            return
        if shown == self.value:
            self.support += 1
            self._rival, self._streak = None, 0
            return
        if shown == self._rival:
            self._streak += 1
        else:
            self._rival, self._streak = shown, 1
        if self._streak >= AGREE:
            self.given_up += self.value is not None
            self.value, self.support = shown, self._streak
            self._rival, self._streak = None, 0


@dataclass(slots=True)
class Figure:
    """A measured figure: the median of the latest samples, once there are `enough`."""

    enough: int = 1
    samples: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))

    def add(self, value: float) -> None:
        """Take one measurement."""
        self.samples.append(value)

    @property
    def value(self) -> float | None:
        """The median (None: too few samples)."""
        return statistics.median(self.samples) if len(self.samples) >= self.enough else None


@dataclass
class Conventions:
    """The conventions seen so far (see the module)."""

    interim_gaps: Figure = field(default_factory=lambda: Figure(AGREE))
    """Milliseconds of audio between an utterance's interims (live audio only)."""
    text_lags: Figure = field(default_factory=lambda: Figure(AGREE))
    """Milliseconds of audio received from the client beyond what a segment had heard, when
    the segment came (live audio only)."""
    text_lag_bounds: Figure = field(default_factory=lambda: Figure(AGREE))
    """Where segments carry no endTimeMs: milliseconds of audio received beyond an interim's
    fresh last word (each at least that segment's lag: a safe stand-in for it)."""
    round_trips: Figure = field(default_factory=Figure)
    """Milliseconds from CONFIG to CONFIGURED."""
    finishes: Figure = field(default_factory=Figure)
    """Milliseconds from EOS to FINISHED."""
    offsets: Belief[Offsets] = field(default_factory=Belief)
    punctuation: Belief[Punctuation] = field(default_factory=Belief)
    timed: Belief[bool] = field(default_factory=Belief)
    """Words carry usable times."""
    punctuated_interims: bool = False
    interims: int = 0
    logged: bool = False
    """The log has said what was learned (once per process)."""
    said_untimed: bool = False
    """The log has said that segments carry no word times (once per process)."""

    def segment(self, observed: Observed, final: bool) -> None:
        """Note what one text segment showed."""
        self.offsets.see(observed.offsets)
        self.punctuation.see(observed.punctuation)
        self.timed.see(observed.timed)
        if not final:
            self.interims += 1
            self.punctuated_interims |= observed.punctuation is not None

    @property
    def relative(self) -> bool:
        """Token offsets are known to be relative to their segment."""
        return self.offsets.value is Offsets.RELATIVE

    @property
    def untimed(self) -> bool:
        """Segments are known to carry no usable word times."""
        return self.timed.value is False

    @property
    def interim_ms(self) -> float | None:
        """The usual gap between interims (None: not known yet)."""
        return self.interim_gaps.value

    @property
    def text_lag_ms(self) -> float | None:
        """How late text comes after its audio (None: not known yet): measured by endTimeMs,
        else bounded from above by word ends."""
        lag = self.text_lags.value
        return self.text_lag_bounds.value if lag is None else lag

    @property
    def round_trip_ms(self) -> float | None:
        """CONFIG → CONFIGURED."""
        return self.round_trips.value

    @property
    def finish_ms(self) -> float | None:
        """EOS → FINISHED."""
        return self.finishes.value

    def lag_ms(self, default: float) -> float:
        """How late text is taken to be, for the endpointer: measured, else `default` (never
        a guess from another figure)."""
        lag = self.text_lag_ms
        return default if lag is None else lag

    def expected_ms(self, silence_ms: float) -> float | None:
        """About how long after the end of speech an endpointed command is answered: the
        later of the short silence and a settled interim (half an interim gap on average after
        the recogniser has heard the end, plus the text lag), then EOS → FINISHED."""
        gap, lag, finish = self.interim_ms, self.text_lag_ms, self.finish_ms
        if gap is None or finish is None or self.timed.value is not True:
            return None
        settled = DETECTOR_LAG_MS + gap / 2 + (lag or 0.0)
        return max(silence_ms, settled) + finish

    def known(self) -> bool:
        """Enough has been seen to describe the conventions (an utterance with interims)."""
        return self.interim_ms is not None and self.finish_ms is not None

    def _beliefs(self) -> tuple[tuple[str, Belief[Any]], ...]:
        return (
            ("offsets", self.offsets),
            ("punctuation", self.punctuation),
            ("word_times", self.timed),
        )

    def given_up(self) -> Iterator[tuple[str, int]]:
        """(convention, times a learned value was given up) for /metrics."""
        for name, belief in self._beliefs():
            yield name, belief.given_up

    def labels(self) -> Iterator[tuple[str, str, int]]:
        """(convention, value, segments behind it) for /metrics ("unknown": 0)."""
        for name, belief in self._beliefs():
            value = belief.value
            shown = "unknown" if value is None else str(value)
            if isinstance(value, bool):
                shown = "yes" if value else "no"
            yield name, shown, belief.support

    def describe(self, silence_ms: float) -> list[str]:
        """The conventions in words, each with what it means for endpointing and the number
        of segments behind it."""
        return [line for line in self._lines(silence_ms) if line]

    def _lines(self, silence_ms: float) -> Iterator[str]:
        gaps = self.interim_gaps.samples
        if not gaps:
            yield (
                "no interims seen: the bridge ends a command on Truebar's final or the long "
                "silence only"
                if self.interims == 0
                else f"{self.interims} interim(s) seen, too few to tell their cadence"
            )
        elif self.interim_ms is None:
            yield (
                f"interims every {statistics.median(gaps):.0f} ms ({len(gaps)} gap(s), fewer "
                f"than {AGREE}: not relied on yet)"
            )
        else:
            yield (
                f"interims every {self.interim_ms:.0f} ms ({len(gaps)} gaps; an interim's last "
                "word counts once Truebar has heard silence after it)"
            )
        yield from self._times()
        punctuation = self.punctuation
        if punctuation.value is not None:
            where = "in interims too" if self.punctuated_interims else "in finals"
            yield (
                f"punctuation timed {punctuation.value.value} ({where}; {punctuation.support} "
                "segments; never counted as words)"
            )
        yield from self._timings(silence_ms)

    def _times(self) -> Iterator[str]:
        timed, offsets = self.timed, self.offsets
        if timed.value is False:
            yield (
                f"tokens without usable word times ({timed.support} segments): no early end "
                "on the short silence"
            )
        elif offsets.value is Offsets.RELATIVE:
            yield (
                f"token times relative to the segment ({offsets.support} segments; placed on "
                "the stream by startTimeMs)"
            )
        elif offsets.value is Offsets.ABSOLUTE:
            yield f"token times from the start of the stream ({offsets.support} segments)"
        elif timed.value:
            yield f"word times in {timed.support} segments, their reference not shown yet"
        for name, belief in (("offsets", offsets), ("word times", timed)):
            if belief.given_up:
                yield f"{name}: a learned convention given up {belief.given_up} time(s)"

    def _timings(self, silence_ms: float) -> Iterator[str]:
        for name, value in (
            ("round trip (CONFIG → CONFIGURED)", self.round_trip_ms),
            ("text lag (audio received → text that heard it)", self.text_lag_ms),
            ("EOS → FINISHED", self.finish_ms),
        ):
            if value is not None:
                yield f"{name} {value:.0f} ms"
        expected = self.expected_ms(silence_ms)
        if expected is not None:
            yield f"expected answer about {expected / 1000:.1f} s after the end of speech"
