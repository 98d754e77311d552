"""The token endpoint's circuit breaker (no I/O): after a failed grant, everyone gets that
failure until its back-off step has passed; the steps double from 0.5 s up to 30 s; the first
success closes it for everyone."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ..config.errors import BridgeError

FIRST_STEP = 0.5
MAX_STEP = 30.0


@dataclass
class Outage:
    """What an outage cost, reported when it ends."""

    seconds: float
    failures: int


@dataclass
class Breaker:
    """Remembers the last failed grant and when the next one may be tried."""

    first_step: float = FIRST_STEP
    max_step: float = MAX_STEP
    failure: BridgeError | None = None
    """The last failure, while the breaker is open."""
    retry_at: float = 0.0
    step: float = 0.0
    since: float | None = None
    """When the outage began (the first failure after a success)."""
    failures: int = 0
    """Failed requests in this outage."""

    @property
    def open(self) -> bool:
        """Whether grants are failing (the back-off may have passed: then one may be tried)."""
        return self.failure is not None

    def blocked(self, now: float) -> BridgeError | None:
        """The failure to give a caller without a request, while the back-off step runs."""
        if self.failure is None or now >= self.retry_at:
            return None
        return copy.copy(self.failure)  # the same failure, a fresh exception for each caller

    def failed(self, err: BridgeError, now: float) -> bool:
        """Record a failed grant; True if it begins an outage."""
        began = self.since is None
        if began:
            self.since = now
        self.step = self.first_step if began else min(self.max_step, self.step * 2)
        self.failure, self.retry_at = err, now + self.step
        self.failures += 1
        return began

    def succeeded(self, now: float) -> Outage | None:
        """Record a successful grant; the outage it ends, if any."""
        if self.since is None:
            return None
        outage = Outage(now - self.since, self.failures)
        self.failure, self.since, self.step, self.failures, self.retry_at = None, None, 0.0, 0, 0.0
        return outage
