"""The sentences' process (issue 43): the judge works the questions out in a process of its
own, which can die or hang like any process. The failures are real ones: the process killed
(SIGKILL) and stopped (SIGSTOP), not mocks; the one knob turned is the question's timeout."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from tests.home import home_names
from wyoming_truebar.ending.endpointing import Verdict
from wyoming_truebar.home import completeness as completeness_module
from wyoming_truebar.home.completeness import Completeness

pytestmark = pytest.mark.xdist_group("sentence-process")


async def verdict_of(completeness: Completeness, text: str) -> Verdict:
    judge = completeness.judge_for("en")
    assert judge is not None
    found = judge(text)
    return found if isinstance(found, Verdict) else await asyncio.wait_for(found, 30)


def worker_pid(completeness: Completeness) -> int:
    pid = completeness.process_pid
    assert pid is not None
    return pid


async def test_the_process_judges_as_the_thread_does() -> None:
    """The same verdicts from the process as from a thread of this one, the home's names
    crossing once; the process ends with the judge."""
    here, there = Completeness(), Completeness(process=True)
    try:
        for completeness in (here, there):
            await completeness.warm(["en-US"])
            completeness.set_names(home_names("en"))
        texts = ["turn on the", "turn on the desk", "what time is it", "lock the front door"]
        assert [await verdict_of(there, t) for t in texts] == [
            await verdict_of(here, t) for t in texts
        ]
        assert [await verdict_of(there, t) for t in texts] == [
            Verdict.INCOMPLETE,
            Verdict.TARGET_OPEN,
            Verdict.COMPLETE,
            Verdict.COMPLETE,
        ]
        pid = worker_pid(there)
    finally:
        here.close()
        there.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ended (and reaped) with the judge


async def test_a_killed_process_is_started_again_and_judges_on() -> None:
    """Killed between two questions: the next question is answered "not complete" (the safe
    verdict) or judged by a new process, which loads the language, takes the home's names
    and builds the grammar again; the judge goes on."""
    completeness = Completeness(process=True)
    try:
        await completeness.warm(["en"])
        completeness.set_names(home_names("en"))
        assert await verdict_of(completeness, "what time is it") is Verdict.COMPLETE
        os.kill(worker_pid(completeness), signal.SIGKILL)
        assert await verdict_of(completeness, "open the garage door") in (
            Verdict.INCOMPLETE,
            Verdict.EXTENDABLE,
        )
        assert await verdict_of(completeness, "lock the back door") is Verdict.COMPLETE
        assert completeness.process_starts == 2
    finally:
        completeness.close()


async def test_a_hung_process_is_killed_at_the_questions_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stopped (SIGSTOP) it answers nothing: the question waits at most its timeout, is
    answered "not complete", and the process is killed and started again."""
    monkeypatch.setattr(completeness_module, "QUESTION_SECONDS", 0.5)
    completeness = Completeness(process=True)
    try:
        await completeness.warm(["en"])
        completeness.set_names(home_names("en"))
        assert await verdict_of(completeness, "what time is it") is Verdict.COMPLETE
        hung = worker_pid(completeness)
        os.kill(hung, signal.SIGSTOP)
        loop = asyncio.get_running_loop()
        began = loop.time()
        assert await verdict_of(completeness, "lock the front door") is Verdict.INCOMPLETE
        assert loop.time() - began < 5  # the timeout, then the kill (not STOP_SECONDS more)
        with pytest.raises(ProcessLookupError):
            os.kill(hung, 0)
        monkeypatch.setattr(completeness_module, "QUESTION_SECONDS", 30.0)
        assert await verdict_of(completeness, "lock the back door") is Verdict.COMPLETE
        assert worker_pid(completeness) != hung
    finally:
        completeness.close()
