"""An asyncio event loop on a virtual clock: real sockets, real code, no waiting.

The loop's clock (`loop.time()`, which asyncio's timers, `asyncio.sleep`, `asyncio.timeout`,
aiohttp's timeouts, the bridge and the simulator all read) stands still while anything is
ready to run, and jumps to the next timer when nothing is: ten seconds of real-time speech
take the CPU they cost and no more. Sockets stay real: a loopback write in this process is
readable when `send` returns (Linux delivers it in the sender's own context), so the loop
looks for ready sockets once more before the clock jumps.

What it proves and what it cannot: the bridge and the simulator see exactly the timing a live
stream has (10 ms chunks at their times, the simulator's network delays, the answer budget),
but work costs no time, so the simulator's decoder is infinitely fast. What only real time
shows (a decoder that lags, a loaded machine) stays with the real-time tests.

Work handed to threads (`run_in_executor`, `asyncio.to_thread`) takes no virtual time either:
while a job is out, the clock waits for it for real. Not for code that waits on other
processes: their answers would come after the clock had moved on without them.
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

THREAD_SECONDS = 0.05
"""How long one look for a thread's result may wait for real (the loop looks again)."""


class _JumpingSelector(selectors.DefaultSelector):
    """The loop's selector: a wait for I/O that would time out moves the clock instead."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """Ready sockets now; if none, the clock moves to the next timer (`timeout`), unless a
        thread's work is still out (it takes no virtual time: wait for it for real)."""
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None or self._clock.threads:  # only a socket or a thread can wake it
            return super().select(None if timeout is None else THREAD_SECONDS)
        self._clock.now += timeout
        return []


START = 100_000.0
"""Where the virtual clock starts: like a monotonic clock, far from zero (code may take a
time of 0 for "not yet")."""


class VirtualClock:
    """The virtual time of one loop (seconds), and the work it has out on threads."""

    def __init__(self) -> None:
        self.now = START
        self.threads = 0
        """Executor jobs not done yet."""


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose `time()` is virtual (see the module)."""

    def __init__(self) -> None:
        self.clock = VirtualClock()
        super().__init__(_JumpingSelector(self.clock))

    def time(self) -> float:
        """The virtual clock."""
        return self.clock.now

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        """As asyncio's, with the job counted until done: the clock waits for it."""
        future = super().run_in_executor(executor, func, *args)
        self.clock.threads += 1

        def done(_: asyncio.Future[T]) -> None:
            self.clock.threads -= 1

        future.add_done_callback(done)
        return future


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
