"""Returning free memory to the system (glibc's malloc_trim) is available where it exists."""

from __future__ import annotations

import asyncio
import platform

import pytest

from wyoming_truebar.app.memory import malloc_trim, return_free_memory


def test_malloc_trim_is_found_on_glibc() -> None:
    trim = malloc_trim()
    if platform.libc_ver()[0] == "glibc":
        assert trim is not None
        assert trim(0) in (0, 1)
    else:
        assert trim is None


async def test_trimming_runs_until_cancelled() -> None:
    task = asyncio.create_task(return_free_memory(every=0.01))
    await asyncio.sleep(0.05)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
