"""How late the event loop runs what is due: its stalls, as /metrics shows them
(`wyoming_truebar_event_loop_lag_seconds`) and the benchmarks read them. One timer every
TICK seconds: what it costs is nothing an utterance would notice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

TICK = 0.05
"""Seconds between two looks at the loop."""


async def watch_loop(observe: Callable[[float], None], tick: float = TICK) -> None:
    """Observe, every `tick` s, how much later than due the loop woke this task."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + tick
        await asyncio.sleep(tick)
        observe(max(0.0, loop.time() - due))
