"""What one Truebar session's stream shows (pure): the transport tells the meter what came
and when (`truebar.StreamEvents`); the meter keeps the running text, hands it to the
endpointer, and adds what the stream shows of the service to the process's `Conventions`.

Two clocks, each for what it measures: the service's own figures (CONFIG → CONFIGURED,
EOS → FINISHED) on the event loop's clock; what the endpointer compares with its audio (the
interim cadence, the text lag) on the audio's, in milliseconds of audio received from the
client when the text came: the wall clock is converted once, where text arrives, and the
endpointer never mixes the two. Only a client that speaks in real time teaches the cadence
and the lag (the handler's `live.Pace` says which): a recording's text comes at the pace of
Truebar's decoding, which no speaker sees.
"""

from __future__ import annotations

from collections.abc import Callable

from ..truebar.protocol import Message
from .conventions import Conventions
from .heard import Heard, RunningText

OnText = Callable[[Heard], None]
"""Called with what Truebar has recognised so far after every text segment (the running
text, where its last word ends, how far Truebar had heard): the endpointer's ear."""


class Meter:
    """One session's measurements (see the module)."""

    __slots__ = (
        "_config_at",
        "_end_ms",
        "_eos_at",
        "_interim_at",
        "_learned",
        "_live",
        "_on_text",
        "_said",
    )

    def __init__(
        self,
        learned: Conventions,
        live: Callable[[], bool] | None = None,
        on_text: OnText | None = None,
    ) -> None:
        self._learned = learned
        self._live = live
        """Whether the client's audio comes in real time (None: it does)."""
        self._on_text = on_text
        self._said = RunningText()
        """The current attempt's text."""
        self._interim_at: float | None = None
        """Audio received (ms) when the latest interim of this attempt came."""
        self._config_at = 0.0
        self._eos_at: float | None = None
        self._end_ms: int | None = None
        """Where the latest interim's last word ended."""

    def attempt(self) -> None:
        """A new connection: its text starts afresh, its interims are not spaced from the
        last one's."""
        self._interim_at, self._eos_at, self._end_ms = None, None, None
        self._said = RunningText()

    def config_sent(self, at: float) -> None:
        """CONFIG went out at loop time `at`."""
        self._config_at = at

    def configured(self, at: float) -> None:
        """CONFIGURED came at `at`."""
        self._learned.round_trips.add((at - self._config_at) * 1000)

    def eos_sent(self, at: float) -> None:
        """EOS went out at `at`."""
        self._eos_at = at

    def finished(self, at: float) -> None:
        """FINISHED came at `at` (counted only after EOS)."""
        if self._eos_at is not None:
            self._learned.finishes.add((at - self._eos_at) * 1000)

    def segment(self, message: Message, received_ms: float, ended: bool) -> None:
        """A text segment came when `received_ms` of the client's audio had come in
        (`ended`: after audio-stop, when nothing is live any more)."""
        said, learned = self._said, self._learned
        said.relative = learned.relative
        heard, observed = said.add(message)
        learned.segment(observed, heard.final)
        self._timing(heard, received_ms, ended)
        if self._on_text is not None:
            self._on_text(heard)

    def _timing(self, heard: Heard, received_ms: float, ended: bool) -> None:
        """The interim cadence and the text lag, on the audio's clock, from live audio."""
        learned = self._learned
        if ended or (self._live is not None and not self._live()):
            return
        if heard.final:  # a service may send no interims in the silence after a final
            self._interim_at = None
        else:
            if self._interim_at is not None:
                learned.interim_gaps.add(received_ms - self._interim_at)
            self._interim_at = received_ms
        heard_to, end = heard.heard_to_ms, heard.end_ms
        if heard_to is not None:
            learned.text_lags.add(max(0.0, received_ms - heard_to))
        elif end is not None and not heard.committed and end != self._end_ms:
            # No endTimeMs: a fresh last word's end is as far as the recogniser had surely
            # heard, so what came in beyond it bounds the lag from above (never below it).
            learned.text_lag_bounds.add(max(0.0, received_ms - end))
        self._end_ms = end
