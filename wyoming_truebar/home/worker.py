"""The sentences' process: where the questions are worked out, so that matching never shares
the bridge's GIL (issue 43).

A thread of the bridge's own process shares the GIL with the event loop: while it works, the
loop waits up to the interpreter's switch interval (5 ms) each time it gives the GIL up, at
every socket call. A question is quick (1-15 ms in a home of 6,000 names), but building a
language's grammar at its first command (0.2-0.8 s) or a big home's lists after a change
(0.4 s) is not: at 100 streams the loop then fell up to 0.5 s behind on a thread, and stayed
within 8 ms with the process (`benchmarks/results.md`, section 14). In a process of its own
the matching has its own GIL (and core, where there is one); the bridge's side of it, a
thread that sends a question and waits for the answer, holds the GIL only to pickle a few
hundred bytes. What it costs: about 30 MB of resident memory.

The process (`python -m wyoming_truebar.home.worker`, a plain child of the bridge: nothing of
the bridge is imported into it but the sentences) is started at the first call, and again if
it dies or takes longer than a call's timeout (it is killed then); what it held (the loaded
languages, the grammars, the names) is loaded again as questions need it. It ends with the
bridge: it reads its questions from a pipe, and the pipe's end is its end.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from .judging import Judging

_LOGGER = logging.getLogger(__name__)

STOP_SECONDS = 2.0
"""How long the process is given to end once its pipe is closed, before it is killed."""


class WorkerLostError(Exception):
    """The sentences' process died, or took longer than a call's timeout (it was killed)."""


class InThread:
    """The sentences on the calling thread of the bridge's own process
    (`endpoint_sentences_process: false`)."""

    def __init__(self) -> None:
        self.judging = Judging()
        self.starts = 1

    def call(self, method: str, args: tuple[Any, ...], timeout: float) -> Any:
        """Work it out here (the timeout cannot be kept: nothing can stop a thread)."""
        return getattr(self.judging, method)(*args)

    @property
    def pid(self) -> int | None:
        """This process's id."""
        return os.getpid()

    def close(self) -> None:
        """Nothing to stop."""


class InProcess:
    """The sentences' process, as one thread of the bridge calls it (see the module)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self.starts = 0
        """How many times the process was started (1 + the restarts)."""

    def call(self, method: str, args: tuple[Any, ...], timeout: float) -> Any:
        """Ask the process; WorkerLostError if it died or did not answer within `timeout` s."""
        with self._lock:
            conn = self._conn or self._start()
            try:
                conn.send((method, args))
                if not conn.poll(timeout):
                    raise TimeoutError(f"no answer to {method} within {timeout:g} s")
                ok, value = conn.recv()
            except (OSError, EOFError, TimeoutError) as exc:
                self._stop(kill=True)
                raise WorkerLostError(f"the sentences' process: {exc}") from exc
        if not ok:
            raise RuntimeError(f"the sentences' process failed at {method}: {value}")
        return value

    @property
    def pid(self) -> int | None:
        """The process's id (None: not running)."""
        return None if self._proc is None else self._proc.pid

    def close(self) -> None:
        """End the process (its pipe closed, then killed if it lingers)."""
        with self._lock:
            self._stop()

    def _start(self) -> Connection:
        questions_r, questions_w = os.pipe()
        answers_r, answers_w = os.pipe()
        args = [sys.executable, "-m", __name__, str(questions_r), str(answers_w)]
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - this interpreter, this module
                args, pass_fds=(questions_r, answers_w), stdin=subprocess.DEVNULL
            )
        finally:
            os.close(questions_r)
            os.close(answers_w)
        self._conn = _Pipes(answers_r, questions_w)
        self.starts += 1
        if self.starts > 1:
            _LOGGER.warning("sentences: their process started again (%d starts)", self.starts)
        return self._conn

    def _stop(self, kill: bool = False) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            try:
                if kill:
                    self._proc.kill()
                self._proc.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


class _Pipes(Connection):
    """Answers read from one pipe, questions written to another."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        super().__init__(read_fd, readable=True, writable=False)
        self._writer = Connection(write_fd, readable=False, writable=True)

    def send(self, obj: Any) -> None:
        self._writer.send(obj)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._writer.close()
        super().close()


def serve(questions: Connection, answers: Connection) -> None:
    """The process's loop: each question answered in turn, until the pipe closes."""
    judging = Judging()
    while True:
        try:
            method, args = questions.recv()
        except (EOFError, OSError):
            return
        try:
            answers.send((True, getattr(judging, method)(*args)))
        except Exception as exc:
            answers.send((False, f"{type(exc).__name__}: {exc}"))


def main() -> None:
    """`python -m wyoming_truebar.home.worker QUESTIONS_FD ANSWERS_FD` (the bridge starts it)."""
    parser = argparse.ArgumentParser(prog="python -m wyoming_truebar.home.worker")
    parser.add_argument("questions", type=int)
    parser.add_argument("answers", type=int)
    fds = parser.parse_args()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the bridge, the bridge this
    serve(
        Connection(fds.questions, readable=True, writable=False),
        Connection(fds.answers, readable=False, writable=True),
    )


if __name__ == "__main__":
    main()
