"""The questions utterances ask of Home Assistant's sentences, bounded like the audio path
(issue 43): each utterance asks only of its latest running text, a question nobody waits for
any more is dropped before it is worked out, the same question asked by several utterances at
once is worked out once, and when too many are waiting the answer is at once the safe one
(not complete: the longer silence).

The questions are worked out one at a time on the sentences' thread (`Completeness`); a
question's answer comes back as an asyncio future that every utterance asking it shares.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from ..ending.endpointing import Verdict

MOST_WAITING = 64
"""Questions waiting for the sentences' thread at most; one more is answered "not complete"
at once (at 100 satellites speaking, one question each is waiting at worst: the latest text
of each utterance)."""


@dataclass(eq=False)
class Job:
    """One question on its way: who waits for it, and its answer."""

    key: Hashable
    question: Any
    asked: float = field(default_factory=time.perf_counter)
    askers: int = 0
    started: bool = False
    answer: asyncio.Future[Verdict] | None = None

    @property
    def dead(self) -> bool:
        """Nobody waits for it any more (its utterance has moved on, or ended)."""
        return self.askers == 0


class Questions:
    """The questions waiting for, or being worked out on, the sentences' thread."""

    def __init__(
        self,
        submit: Callable[[Job], asyncio.Future[Verdict]],
        on_answer: Callable[[Job, Verdict], None],
    ) -> None:
        self._submit = submit
        self._on_answer = on_answer
        self._jobs: dict[Hashable, Job] = {}
        self.refused = 0
        """Questions answered "not complete" at once because too many were waiting."""
        self.dropped = 0
        """Questions nobody waited for any more when their turn came (not worked out)."""

    @property
    def waiting(self) -> int:
        """Questions not started yet that someone still waits for."""
        return sum(1 for job in self._jobs.values() if not job.started and not job.dead)

    def ask(self, key: Hashable, question: Any) -> Job | None:
        """The job that answers a question (a new one, or the one already on its way); None
        when too many are waiting (the caller answers "not complete")."""
        job = self._jobs.get(key)
        if job is not None:
            job.askers += 1
            return job
        if self.waiting >= MOST_WAITING:
            self.refused += 1
            return None
        # Its asker counted before it is submitted: the sentences' thread may start it at
        # once, and a job nobody waits for is dropped unanswered ("not complete").
        job = self._jobs[key] = Job(key, question, askers=1)
        job.answer = self._submit(job)
        job.answer.add_done_callback(functools.partial(self._done, job))
        return job

    def leave(self, job: Job) -> None:
        """One asker waits no more (its text moved on, or its utterance ended)."""
        job.askers = max(0, job.askers - 1)

    def start(self, job: Job) -> bool:
        """On the sentences' thread, as a job's turn comes: whether to work it out (a job
        nobody waits for any more is dropped)."""
        if job.dead:
            self.dropped += 1
            return False
        job.started = True
        return True

    def _done(self, job: Job, done: asyncio.Future[Verdict]) -> None:
        self._jobs.pop(job.key, None)
        if job.started and not done.cancelled() and done.exception() is None:
            self._on_answer(job, done.result())


class Asker:
    """One utterance's judge: asks of its latest running text only (see the module)."""

    def __init__(self, ask: Callable[[str], Verdict | Job], questions: Questions) -> None:
        self._ask = ask
        self._questions = questions
        self._job: Job | None = None

    def __call__(self, text: str) -> Verdict | asyncio.Future[Verdict]:
        """The verdict on a text, or its future; the previous text's question is left."""
        self.close()
        found = self._ask(text)
        if isinstance(found, Verdict):
            return found
        self._job = found
        assert found.answer is not None
        return found.answer

    def close(self) -> None:
        """The utterance needs no answer to its latest question any more."""
        if self._job is not None:
            self._questions.leave(self._job)
            self._job = None
