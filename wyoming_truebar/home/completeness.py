"""Home Assistant's sentences for every utterance: the endpointer's judge, worked out off the
event loop and kept per text, so that the event loop never waits on `hassil` (a call costs
1-30 ms, and the first of a language about 0.4 s). One thread of the bridge asks, one
question at a time, where they are worked out: the sentences' process (`worker.py`, the
default: its own GIL), or that thread itself (`endpoint_sentences_process: false`).

The endpointer asks once per change of the running text; the verdict comes back through an
asyncio future (the endpointer counts the text as incomplete until it comes, which is the
safe way). The same text with the same names is judged once: the texts of a command recur
across interims, and the same commands across utterances.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

from ..ending.endpointing import (
    ANY_FILLER,
    CONTINUATION_WORDS,
    FILLER_WORDS,
    MODIFIER_WORDS,
    SAFE_WORDS,
    Verdict,
    word_list,
    words_of,
)
from .asking import Asker, Job, Questions
from .judging import Missing, NamesKey, Question, keep_out_of_collections
from .names import HomeNames
from .sentences import Guards, data_version, sentence_language
from .worker import InProcess, InThread, WorkerLostError

_LOGGER = logging.getLogger(__name__)

VERDICTS_KEPT = 4096
"""Verdicts kept, the latest (a few hundred bytes each)."""
MOST_WORDS = 24
"""A longer text is no command (free-form speech): judged incomplete without matching."""
QUESTION_SECONDS = 5.0
"""The most a question may take in the sentences' process (10-30 ms is usual): past it the
process is started anew and the verdict is "not complete" (the safe one)."""
LOAD_SECONDS = 300.0
"""The most loading a language's sentences, building its grammar or a big home's lists may
take there (1-3 s on a desktop; a small single-board computer is slower)."""

VerdictKey = tuple[str, NamesKey, str]
"""A question: the sentence language, the names, the running text."""


@dataclass(frozen=True, slots=True)
class _Question:
    """One text to judge, with what judging it needs."""

    asked: Question
    home: HomeNames
    """The names the question's key stands for (sent where it is judged if not there yet)."""


class Completeness:
    """The sentences' verdicts for running texts, off the event loop (see the module)."""

    def __init__(
        self,
        enabled: bool = True,
        words: Mapping[str, frozenset[str]] | None = None,
        modifiers: Mapping[str, frozenset[str]] | None = None,
        process: bool = False,
    ) -> None:
        """`process`: work the questions out in the sentences' process (the bridge does), not
        on the asking thread itself."""
        self.enabled = enabled
        self._words = dict(words or {})
        """The settings' endpoint_words: a language's list, replacing the built-in one."""
        self._modifiers = dict(modifiers or {})
        """The settings' endpoint_modifier_words, likewise."""
        self._closing: dict[str, frozenset[str]] = {}
        """Per sentence language: the short words its sentences never end in (loaded)."""
        self._building: set[str] = set()
        """Sentence languages whose grammar is to be built (or is)."""
        self._where: InProcess | InThread = InProcess() if process else InThread()
        """Where the questions are worked out."""
        self._starts = 0
        """The starts of the sentences' process that this side has caught up with."""
        self.names = HomeNames()
        """The home's names (from Home Assistant; empty: names are wildcards)."""
        self.names_version = 0
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sentences")
        self._verdicts: OrderedDict[VerdictKey, Verdict] = OrderedDict()
        self._questions = Questions(self._submit, self._keep)
        self.checks = 0
        self.seconds: list[float] = []
        """The latest checks' durations (for metrics and benchmarks)."""
        self.on_wait: Callable[[float], None] | None = None
        """Told each question's time from asked to answered (metrics)."""
        self.waits: list[float] = []
        """The latest questions' times from being asked to being answered, queueing
        included."""

    @property
    def process_starts(self) -> int:
        """How many times the sentences' process was started (0: not yet, or on a thread)."""
        return self._where.starts if isinstance(self._where, InProcess) else 0

    @property
    def process_pid(self) -> int | None:
        """The sentences' process (None: not running, or on a thread)."""
        return self._where.pid if isinstance(self._where, InProcess) else None

    @property
    def questions(self) -> Questions:
        """The questions on their way (how many were refused or dropped)."""
        return self._questions

    def set_names(self, names: HomeNames) -> None:
        """Take the home's names (new or changed): every verdict is judged anew."""
        self.names = names
        self.names_version += 1
        self._verdicts.clear()
        keep_out_of_collections()  # the names are held until they change (see there)
        if self.enabled:  # the lists built now, not on the first question after the change
            self._executor.submit(self._prepare, (self.names_version, ()), names)

    def guard_words(self, language: str) -> frozenset[str] | None:
        """The words a complete command never ends in, where the sentences judge a language:
        the settings' endpoint_words for it, else the built-in list, else the safe defaults
        (the function words of SAFE_WORDS and the short words the language's sentences never
        end in), with every hesitation. None: the sentences do not judge this language."""
        lang = sentence_language(language) if self.enabled else None
        if lang is None:
            return None
        base = language.lower().replace("_", "-").split("-")[0]
        listed = word_list(language, self._words, CONTINUATION_WORDS)
        if listed is not None:
            return listed | FILLER_WORDS.get(base, frozenset())
        safe = word_list(base, {}, SAFE_WORDS) or frozenset()
        return safe | self._closing.get(lang, frozenset()) | FILLER_WORDS.get(base, ANY_FILLER)

    def judge_for(self, language: str, extra: Iterable[str] = ()) -> Asker | None:
        """The endpointer's judge for one utterance (None: off, or the language has no
        sentence data, so the word lists decide); `extra`: a client's transcript_names (at
        most CLIENT_NAMES of them, checked by the handler)."""
        if not self.enabled:
            return None
        lang = sentence_language(language)
        base = language.lower().replace("_", "-").split("-")[0]
        if lang is None:
            return None
        announcing = self.guard_words(language) or frozenset()
        modifiers = word_list(base, self._modifiers, MODIFIER_WORDS) or frozenset()
        names: NamesKey = (self.names_version, tuple(sorted({n for n in extra if n.strip()})))
        home = self.names.with_names(names[1])
        guards = Guards(announcing, modifiers)

        def ask(text: str) -> Verdict | Job:
            key = (lang, names, text)
            known = self._verdicts.get(key)
            if known is not None:
                self._verdicts.move_to_end(key)
                return known
            if len(words_of(text)) > MOST_WORDS:
                return Verdict.INCOMPLETE
            asked = _Question(Question(lang, guards, names, text), home)
            job = self._questions.ask(key, asked)
            return Verdict.INCOMPLETE if job is None else job

        return Asker(ask, self._questions)

    def _submit(self, job: Job) -> asyncio.Future[Verdict]:
        return asyncio.get_running_loop().run_in_executor(self._executor, self._work, job)

    def _work(self, job: Job) -> Verdict:
        """On the asking thread, as a question's turn comes (see asking.py)."""
        if not self._questions.start(job):
            return Verdict.INCOMPLETE  # nobody waits for it: not worked out, not kept
        verdict = self._judge_now(job.question)
        waited = time.perf_counter() - job.asked
        self.waits = [*self.waits[-511:], waited]
        if self.on_wait is not None:
            self.on_wait(waited)
        return verdict

    def _keep(self, job: Job, verdict: Verdict) -> None:
        self._verdicts[cast("VerdictKey", job.key)] = verdict
        if len(self._verdicts) > VERDICTS_KEPT:
            self._verdicts.popitem(last=False)

    def _judge_now(self, question: _Question) -> Verdict:
        """On the asking thread: the verdict (its names sent first if they are not there);
        "not complete" if the sentences' process was lost meanwhile."""
        asked = question.asked
        if asked.language not in self._building:  # its grammar built after this question
            self._building.add(asked.language)
            self._executor.submit(self._build, asked.language)
        try:
            found = self._call("judge", asked, timeout=QUESTION_SECONDS)
            for _ in Missing:  # each missing part sent at most once
                if found is Missing.LANGUAGE:  # a process started anew: its grammar too
                    self._call("load", asked.language)
                    self._build(asked.language)
                elif found is Missing.NAMES:
                    self._call("prepare", asked.names, question.home)
                else:
                    break
                found = self._call("judge", asked, timeout=QUESTION_SECONDS)
        except WorkerLostError:
            _LOGGER.exception("sentences: %r not judged", asked.text)
            return Verdict.INCOMPLETE
        if isinstance(found, Missing):
            return Verdict.INCOMPLETE
        verdict, seconds = found
        self.checks += 1
        self.seconds = [*self.seconds[-511:], seconds]
        _LOGGER.debug("sentences: %r is %s", asked.text, verdict)
        return cast("Verdict", verdict)

    def _call(self, method: str, *args: object, timeout: float = LOAD_SECONDS) -> Any:
        """On the asking thread: a call where the questions are worked out; if the sentences'
        process was started anew, the languages' grammars are built there again first."""
        found = self._where.call(method, args, timeout)
        if self._where.starts > self._starts + 1:  # started anew: what it held is gone
            self._starts = self._where.starts - 1
            for language in sorted(self._building):
                self._executor.submit(self._build, language)
        return found

    def _build(self, language: str) -> None:
        """On the asking thread: a language's grammar, built where the questions are worked
        out (once per process; until then its whole commands count as ones more words could
        retarget: patience)."""
        try:
            closing = self._call("build", language)
        except Exception:  # a bug: logged; that language's whole commands stay patient
            _LOGGER.exception("sentences: cannot build the %s grammar", language)
            return
        if closing is not None:
            self._closing[language] = closing

    async def warm(self, languages: Iterable[str], first: str | None = None) -> None:
        """Load the languages' sentences and make each one's first (slow) match where the
        questions are worked out, ahead of the first utterance; build the grammar of the
        `first` language (the default one), the others' when they are first spoken (a
        grammar is 4-26 MB: German's is the biggest)."""
        if not self.enabled:
            return
        loop = asyncio.get_running_loop()
        found = [lang for lang in map(sentence_language, languages) if lang is not None]
        main = sentence_language(first) if first else (found[0] if found else None)
        jobs = [loop.run_in_executor(self._executor, self._load, lang) for lang in found]
        if main is not None:
            self._building.add(main)
            jobs.append(loop.run_in_executor(self._executor, self._build, main))
        await asyncio.gather(*jobs)
        keep_out_of_collections()  # what the bridge holds from its start on (see there)

    def _load(self, language: str) -> None:
        try:
            self._call("load", language)
        except Exception:  # a bug, or the process lost: the first question loads it
            _LOGGER.exception("sentences: cannot load %s", language)

    def _prepare(self, key: NamesKey, names: HomeNames) -> None:
        try:
            self._call("prepare", key, names)
        except Exception:  # the process lost: the first question prepares them
            _LOGGER.exception("sentences: cannot prepare the home's names")

    def languages(self, offered: Iterable[str]) -> list[str]:
        """Which of the offered languages have sentence data."""
        return sorted({lang for lang in map(sentence_language, offered) if lang is not None})

    def describe(self, offered: Iterable[str]) -> str:
        """The sentence data in words (--check, the start-up log)."""
        found = self.languages(offered)
        if not self.enabled:
            return "off (endpoint_sentences: false): the word lists decide"
        where = "a process of their own" if isinstance(self._where, InProcess) else "a thread"
        return (
            f"home-assistant-intents {data_version()}, languages "
            f"{', '.join(found) if found else 'none of those offered'}, matched in {where}"
        )

    def close(self) -> None:
        """Stop the sentences' thread and process."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._where.close()
