"""Whether and how one utterance is endpointed (no I/O): the client's pace (live, or a
recording sent faster than real time), whether the client can take an early answer at all,
and the endpointer's rules from the settings."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from ..config.settings import Settings
from .endpointing import (
    CONTINUATION_WORDS,
    MODIFIER_WORDS,
    QUESTION_OPENERS,
    EndpointRules,
    word_list,
)

PACE_MARK = 0.125
"""Seconds between the marks by which the pace of the client's audio is judged."""
PACE_WINDOW = 0.4
"""Seconds of marks (at least) over which audio must come no faster than real time..."""
PACE_LIVE = 1.3
"""... within this factor, for the audio to count as live (a microphone, not a recording)."""


@dataclass(slots=True)
class Pace:
    """Whether a client's audio arrives in real time (live) or faster (a recording).

    Marks of (loop time, seconds of audio) are taken every PACE_MARK of audio, the last eight
    kept (a second of audio). Live means: over at least PACE_WINDOW of wall time, no more than
    PACE_LIVE seconds of audio came per second. A recording sent at full speed never is (its
    marks come microseconds apart); a live stream that began with a burst (a satellite's
    buffered wake-word audio) is again once the burst has left the window. Marks by audio,
    not by wall time, keep the clock off the per-chunk path: the caller asks `due` with the
    bytes it has counted anyway.
    """

    bytes_per_mark: int = 4000
    """PACE_MARK of the client's audio in its own format (the caller sets it)."""
    marks: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=8))
    next_bytes: int = 0
    audio_seconds: float = 0.0
    """Seconds of audio at the latest mark."""

    def due(self, received: int) -> bool:
        """Whether the audio received calls for a mark (the per-chunk cost: one comparison)."""
        return received >= self.next_bytes

    def add(self, now: float, audio_seconds: float, received: int) -> None:
        """Note the audio received by now."""
        self.marks.append((now, audio_seconds))
        self.next_bytes = received + self.bytes_per_mark
        self.audio_seconds = audio_seconds

    def live(self, now: float, audio_seconds: float) -> bool:
        """Whether the audio has come in real time lately."""
        if not self.marks:
            return False
        since, audio_then = self.marks[0]
        elapsed = now - since
        return elapsed >= PACE_WINDOW and audio_seconds - audio_then <= PACE_LIVE * elapsed


EARLY_READERS = (1, 7)
"""The first Wyoming library version whose clients can take an answer before audio-stop.

Home Assistant 2025.4 (wyoming 1.5.4) writes every chunk and reads only after audio-stop:
an early end gains it nothing and can only cost words, so it is not endpointed. Home
Assistant 2026 (wyoming 1.10) reads while it uploads. 1.7 added transcript streaming, which
only a client that reads while it sends can use. Every event header carries the version;
a client that says none (a script of its own) is endpointed."""
_VERSION = re.compile(r"(\d+)\.(\d+)")


def reads_early(version: str | None) -> bool:
    """Whether a client of this Wyoming version can take an early answer (see EARLY_READERS)."""
    found = _VERSION.match(version or "")
    if found is None:
        return True
    return (int(found.group(1)), int(found.group(2))) >= EARLY_READERS


class Sensitivity(StrEnum):
    """Home Assistant's "finished speaking detection" for a satellite (wyoming 1.10's
    `vad_sensitivity`): how long a pause it takes for the end of the command."""

    DEFAULT = "default"
    RELAXED = "relaxed"
    AGGRESSIVE = "aggressive"


HA_SILENCE_S = {Sensitivity.DEFAULT: 0.7, Sensitivity.RELAXED: 1.25, Sensitivity.AGGRESSIVE: 0.25}
"""The silence Home Assistant's own detector waits at each setting (`VoiceCommandSegmenter`)."""


def patience(sensitivity: Sensitivity) -> float:
    """How much longer than the settings' waits the bridge waits at a sensitivity.

    relaxed: as much longer as Home Assistant's own silence at it, against its default
    (1.25 / 0.7 = 1.79x): whoever set a satellite to relaxed pauses longer, and every wait
    stretches with it. aggressive: the settings' own waits (1x). Home Assistant's aggressive
    detector still ends a turn about 0.85 s after the last word (its microVAD hears the end
    of speech about half a second late, measured in its pipeline) and keeps most pauses of
    up to 450-500 ms: the bridge answers sooner than that at its own waits, and a shorter
    wait would cut pauses that Home Assistant itself keeps at aggressive."""
    if sensitivity is Sensitivity.RELAXED:
        return HA_SILENCE_S[sensitivity] / HA_SILENCE_S[Sensitivity.DEFAULT]
    return 1.0


def sensitivity_of(value: object) -> Sensitivity | None:
    """A sensitivity from a client's or Home Assistant's word for it (None: not one)."""
    word = getattr(value, "value", value)  # wyoming's VadSensitivity, or a plain string
    try:
        return Sensitivity(str(word).lower())
    except ValueError:
        return None


def rules_for(
    settings: Settings,
    language: str,
    guard: frozenset[str] | None = None,
    sensitivity: Sensitivity = Sensitivity.DEFAULT,
) -> EndpointRules:
    """The endpointer's rules for a language, with the settings' word lists first (`guard`:
    the judged path's, from Home Assistant's sentences). Every wait is stretched or shortened
    by the sensitivity's `patience`; none falls below the complete wait, which only grows
    (relaxed), and the tail is the tail."""
    s = settings
    factor = patience(sensitivity)
    complete = s.endpoint_complete_silence_ms * max(factor, 1.0)

    def wait(ms: int) -> float:
        return max(ms * factor, complete)

    words = word_list(language, dict(s.endpoint_words), CONTINUATION_WORDS)
    return EndpointRules(
        wait(s.endpoint_silence_ms),
        wait(s.endpoint_max_silence_ms),
        guard if guard is not None else words,
        modifiers=word_list(language, dict(s.endpoint_modifier_words), MODIFIER_WORDS)
        or frozenset(),
        openers=word_list(language, {}, QUESTION_OPENERS) or frozenset(),
        modifier_silence_ms=wait(s.endpoint_modifier_silence_ms),
        tail_ms=s.endpoint_tail_ms,
        incomplete_silence_ms=wait(s.endpoint_incomplete_silence_ms),
        complete_silence_ms=complete,
        extendable_silence_ms=wait(s.endpoint_extendable_silence_ms),
        target_silence_ms=wait(s.endpoint_target_silence_ms),
    )


def describe_waits(settings: Settings, sensitivity: Sensitivity) -> str:
    """The judged waits at a sensitivity, in words (--check, the start-up log, the docs)."""
    rules = rules_for(settings, "en", frozenset(), sensitivity)
    return (
        f"{sensitivity.value}: a whole command nothing could change ends after "
        f"{rules.complete_silence_ms:.0f} ms of silence, one more words could change after "
        f"{rules.extendable_silence_ms:.0f} ms, one they could retarget after "
        f"{rules.target_silence_ms:.0f} ms, anything else after "
        f"{rules.incomplete_silence_ms:.0f} ms, any text after {rules.max_silence_ms:.0f} ms"
    )
