"""The questions to the sentences (home/asking.py): a question the sentences' thread starts
before `ask` has returned is worked out, not dropped as one nobody waits for."""

from __future__ import annotations

import asyncio

from wyoming_truebar.ending.endpointing import Verdict
from wyoming_truebar.home.asking import Job, Questions


async def test_a_question_started_at_once_is_worked_out_not_dropped() -> None:
    """The race seen under load: the job was submitted before its asker was counted, the
    idle thread started it at once, found nobody waiting and answered "not complete" without
    judging (a whole command then waited 0.8 s). Here the thread is as quick as it can be:
    it starts the job inside `submit`."""
    loop = asyncio.get_running_loop()
    questions: Questions

    def submit(job: Job) -> asyncio.Future[Verdict]:
        answer = loop.create_future()
        answer.set_result(Verdict.COMPLETE if questions.start(job) else Verdict.INCOMPLETE)
        return answer

    questions = Questions(submit, lambda job, verdict: None)
    job = questions.ask("what time is it", "what time is it")
    assert job is not None
    assert job.answer is not None
    assert await job.answer is Verdict.COMPLETE
    assert questions.dropped == 0
    again = questions.ask("turn on the light", "turn on the light")
    assert again is not None
    questions.leave(again)  # its utterance moved on before the thread came to it
    assert not questions.start(again)
    assert questions.dropped == 1
