"""One utterance's answer budget and tries after the end of speech (no I/O).

While the user speaks there is always another try. From the end of speech (audio-stop, or
the bridge's own end of the command) every wait draws on `answer_deadline`; tries may start
only within `reconnect_deadline` and with at most `reconnect_attempts` connections, the one
open at the end of speech included. A recording sent faster than real time gets its
remaining length on top of both (Truebar still has that much audio to decode).
"""

from __future__ import annotations

from ..config.settings import Settings

RETRY_FIRST, RETRY_MAX = 0.1, 1.0
"""Seconds between attempts after a transient failure: 0.1 s, doubling, at most 1 s."""


class AnswerBudget:
    """The limits of one utterance's Truebar tries, in loop time."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.stopped = False
        """The end of speech has come: the limits apply."""
        self.after_stop = 0
        """Connections made after the end of speech, the one open then included (tries that
        get no token are bounded by the deadline only)."""
        self.deadline = 0.0
        """Loop time after which no attempt may start (end of speech + reconnect_deadline)."""
        self.answer_by = 0.0
        """Loop time by which the client must have its answer (end of speech +
        answer_deadline): every wait after the end of speech draws on it."""
        self.extra = 0.0
        """Seconds the budgets got beyond audio-stop (a recording sent faster than live)."""

    def stop(self, now: float, live_end: float, connected: bool) -> None:
        """The audio is complete at `now`; the budgets run from then, or from `live_end` if
        later (when the audio would have ended had it come in real time)."""
        if self.stopped:
            return
        s = self._settings
        self.stopped = True
        self.after_stop = 1 if connected else 0
        self.extra = max(0.0, live_end - now)
        self.deadline = now + self.extra + s.reconnect_deadline
        self.answer_by = now + self.extra + s.answer_deadline

    def connecting(self) -> None:
        """A connection is about to be made (it counts once the end of speech has come)."""
        if self.stopped:
            self.after_stop += 1

    def pause(self, pause: float, now: float) -> float:
        """The back-off, but after the end of speech never past the last moment a try may
        start (a try that starts then still has the rest of the budget)."""
        return min(pause, max(0.0, self.deadline - now)) if self.stopped else pause

    def out_of_tries(self, now: float) -> bool:
        """While the user speaks there is always another try; after the end of speech, the
        limits."""
        if not self.stopped:
            return False
        return self.after_stop >= self._settings.reconnect_attempts or now >= self.deadline
