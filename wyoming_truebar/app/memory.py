"""Give freed memory back to the system now and then (glibc keeps freed heap pages).

Each utterance grows a buffer of its audio and frees it; with hundreds of utterances a minute
the C allocator's heap fragments and the process's resident memory creeps up for minutes
although Python's own allocations stay flat (a 30-minute chaos soak: traced Python memory flat,
resident memory +11 MB between minutes 2 and 8). glibc's malloc_trim returns the free pages.
Elsewhere (musl, macOS) there is nothing to call and nothing is done.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)
TRIM_EVERY = 15.0
"""Seconds between returns of free memory to the system."""


def malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return trim


async def return_free_memory(every: float = TRIM_EVERY) -> None:
    """Trim the heap every `every` seconds, for as long as the server runs."""
    trim = malloc_trim()
    if trim is None:
        return
    while True:
        await asyncio.sleep(every)
        started = time.perf_counter()
        trim(0)
        _LOGGER.debug(
            "Returned free memory to the system in %.1f ms", 1000 * (time.perf_counter() - started)
        )
