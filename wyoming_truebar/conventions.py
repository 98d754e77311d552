"""What the bridge learns of the live service's stream conventions, for the whole process
(no I/O): how often interims come, where token times are measured from, how punctuation is
timed, whether interims' last words are provisional, how late text comes, the round trip and
EOS → FINISHED. The endpointer adapts to them (text lag, offsets); `/metrics`, the log (once)
and `--check` report them.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from .heard import Observed, Offsets, Punctuation

SAMPLES = 64
"""Measurements kept per figure (the latest)."""
ENOUGH_INTERIMS = 1
"""Gaps between interims seen before the cadence counts as known."""
DETECTOR_LAG_MS = 60.0
"""How late the bridge's voice activity detector hears the end of speech."""


def _median(values: deque[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass
class Conventions:
    """The conventions seen so far (see the module)."""

    interim_gaps: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    """Milliseconds between an utterance's interims."""
    text_lags: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    """Milliseconds from sending audio to a segment that had heard it."""
    round_trips: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    """Milliseconds from CONFIG to CONFIGURED."""
    finishes: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    """Milliseconds from EOS to FINISHED."""
    offsets: Offsets | None = None
    punctuation: Punctuation | None = None
    punctuated_interims: bool = False
    timed: bool | None = None
    """Word times usable (None: no words yet)."""
    interims: int = 0
    finals: int = 0
    logged: bool = False
    """The log has said what was learned (once per process)."""

    def segment(self, observed: Observed, final: bool) -> None:
        """Note what one text segment showed."""
        if observed.offsets is not None and self.offsets is not Offsets.RELATIVE:
            self.offsets = observed.offsets  # relative, once seen, stays
        if observed.punctuation is not None:
            self.punctuation = observed.punctuation
            self.punctuated_interims = self.punctuated_interims or not final
        if observed.timed is not None:
            self.timed = bool(self.timed) or observed.timed
        if final:
            self.finals += 1
        else:
            self.interims += 1

    @property
    def relative(self) -> bool:
        """Token offsets are relative to their segment."""
        return self.offsets is Offsets.RELATIVE

    @property
    def interim_ms(self) -> float | None:
        """The usual gap between interims (None: not known yet)."""
        return _median(self.interim_gaps) if len(self.interim_gaps) >= ENOUGH_INTERIMS else None

    @property
    def text_lag_ms(self) -> float | None:
        """How late text comes after its audio was sent."""
        return _median(self.text_lags)

    @property
    def round_trip_ms(self) -> float | None:
        """CONFIG → CONFIGURED."""
        return _median(self.round_trips)

    @property
    def finish_ms(self) -> float | None:
        """EOS → FINISHED."""
        return _median(self.finishes)

    def lag_ms(self, default: float) -> float:
        """How late text is taken to be, for the endpointer: measured, else the round trip,
        else `default`."""
        lag = self.text_lag_ms
        if lag is not None:
            return lag
        trip = self.round_trip_ms
        return trip if trip is not None else default

    def expected_ms(self, silence_ms: float) -> float | None:
        """About how long after the end of speech an endpointed command is answered: the
        later of the short silence and a settled interim (half an interim gap on average after
        the recogniser has heard the end, plus the text lag), then EOS → FINISHED."""
        gap, lag, finish = self.interim_ms, self.text_lag_ms, self.finish_ms
        if gap is None or finish is None or not self.timed:
            return None
        settled = DETECTOR_LAG_MS + gap / 2 + (lag or 0.0)
        return max(silence_ms, settled) + finish

    def known(self) -> bool:
        """Enough has been seen to describe the conventions (an utterance with interims)."""
        return self.interim_ms is not None and self.finish_ms is not None

    def labels(self) -> Iterator[tuple[str, str]]:
        """(convention, value) pairs for /metrics."""
        yield "offsets", str(self.offsets or "unknown")
        yield "punctuation", str(self.punctuation or "none_seen")
        yield "word_times", {None: "unknown", True: "yes", False: "no"}[self.timed]

    def describe(self, silence_ms: float) -> list[str]:
        """The conventions in words, each with what it means for endpointing."""
        return [line for line in self._lines(silence_ms) if line]

    def _lines(self, silence_ms: float) -> Iterator[str]:
        gap = self.interim_ms
        if gap is None:
            yield (
                "no interims seen: the bridge ends a command on Truebar's final or the long "
                "silence only"
                if self.interims == 0
                else f"{self.interims} interim(s) seen, too few to tell their cadence"
            )
        else:
            yield (
                f"interims every {gap:.0f} ms (an interim's last word counts once Truebar "
                "has heard silence after it)"
            )
        if self.timed is False:
            yield "tokens without usable word times: no early end on the short silence"
        elif self.offsets is Offsets.RELATIVE:
            yield "token times relative to the segment (placed on the stream by startTimeMs)"
        elif self.offsets is Offsets.ABSOLUTE:
            yield "token times from the start of the stream"
        if self.punctuation is not None:
            where = "in interims too" if self.punctuated_interims else "in finals"
            yield f"punctuation timed {self.punctuation.value} ({where}; never counted as words)"
        yield from self._timings(silence_ms)

    def _timings(self, silence_ms: float) -> Iterator[str]:
        for name, value in (
            ("round trip (CONFIG → CONFIGURED)", self.round_trip_ms),
            ("text lag (audio sent → text that heard it)", self.text_lag_ms),
            ("EOS → FINISHED", self.finish_ms),
        ):
            if value is not None:
                yield f"{name} {value:.0f} ms"
        expected = self.expected_ms(silence_ms)
        if expected is not None:
            yield f"expected answer about {expected / 1000:.1f} s after the end of speech"
