"""An asyncio event loop on a virtual clock: real sockets, real code, no waiting.

The loop's clock (`loop.time()`, which asyncio's timers, `asyncio.sleep`, `asyncio.timeout`,
aiohttp's timeouts, the bridge and the simulator all read) stands still while anything is
ready to run, and jumps to the next timer when nothing is: ten seconds of real-time speech
take the CPU they cost and no more. Sockets stay real: a loopback write in this process is
readable at once, so before the clock jumps the loop looks for ready sockets once more,
after a moment of real time for the kernel to deliver what is in flight.

What it proves and what it cannot: the bridge and the simulator see exactly the timing a live
stream has (10 ms chunks at their times, the simulator's network delays, the answer budget),
but work costs no time, so the simulator's decoder is infinitely fast. What only real time
shows (a decoder that lags, a loaded machine) stays with the real-time tests.

Only for code that does not wait on threads or other processes: a thread's result would
arrive after the clock had moved on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import selectors
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, ParamSpec, TypeVar

T = TypeVar("T")
P = ParamSpec("P")

IN_FLIGHT_SECONDS = 0.0002
"""Real time granted to the kernel before the clock jumps: a loopback write is normally
readable when `send` returns, this covers a softirq deferred to another CPU."""


class _JumpingSelector(selectors.DefaultSelector):
    """The loop's selector: a wait for I/O that would time out moves the clock instead."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """Ready sockets now; if none, the clock moves to the next timer (`timeout`)."""
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        ready = super().select(IN_FLIGHT_SECONDS)
        if ready:
            return ready
        if timeout is None:  # no timer at all: only a socket can wake the loop
            return super().select(None)
        self._clock.now += timeout
        return []


START = 100_000.0
"""Where the virtual clock starts: like a monotonic clock, far from zero (code may take a
time of 0 for "not yet")."""


class VirtualClock:
    """The virtual time of one loop (seconds)."""

    def __init__(self) -> None:
        self.now = START


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose `time()` is virtual (see the module)."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        super().__init__(_JumpingSelector(self.clock))

    def time(self) -> float:
        """The virtual clock."""
        return self.clock.now


def run_virtual(main: Callable[[], Coroutine[Any, Any, T]]) -> tuple[T, float]:
    """Run a coroutine on a fresh virtual-time loop; its result and the virtual seconds it
    took."""
    loop = VirtualTimeLoop()
    try:
        result = loop.run_until_complete(main())
        return result, loop.time() - START
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def gather_all(jobs: list[Awaitable[T]]) -> list[T]:
    """Every job at once (typed `asyncio.gather` of a homogeneous list)."""
    return list(await asyncio.gather(*jobs))


def on_virtual_time(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test on its own virtual-time loop (its fixtures must not be async: they
    would live on another loop)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        run_virtual(lambda: test(*args, **kwargs))

    return run


@contextlib.contextmanager
def captured(logger: logging.Logger) -> Iterator[list[str]]:
    """The messages a logger writes at INFO and above while the block runs (caplog belongs
    to pytest's own loop's tests; a virtual-time test has none)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    keep, level = Keep(logging.INFO), logger.level
    logger.addHandler(keep)
    logger.setLevel(min(level or logging.INFO, logging.INFO))
    try:
        yield lines
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)
