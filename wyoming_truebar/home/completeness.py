"""Home Assistant's sentences for every utterance: the endpointer's judge, worked out on one
thread of its own and kept per text, so that the event loop never waits on `hassil` (a call
costs 1-30 ms, and the first of a language about 0.4 s).

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
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast

from hassil.intents import SlotList

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
from .continuations import HomeIndex
from .grammar import Grammar
from .names import HomeNames
from .sentences import (
    Guards,
    data_version,
    matcher,
    sentence_grammar,
    sentence_language,
    slot_lists,
)

_LOGGER = logging.getLogger(__name__)

VERDICTS_KEPT = 4096
"""Verdicts kept, the latest (a few hundred bytes each)."""
NAME_SETS_KEPT = 8
"""Sets of names whose slot lists are kept: the home's, and the latest clients' own
(transcript_names); older ones are built again if asked for."""
MOST_WORDS = 24
"""A longer text is no command (free-form speech): judged incomplete without matching."""

NamesKey = tuple[int, tuple[str, ...]]
"""The home's names (by version) and a client's own (transcript_names)."""
VerdictKey = tuple[str, NamesKey, str]
"""A question: the sentence language, the names, the running text."""


@dataclass(frozen=True, slots=True)
class _Question:
    """One text to judge, with what judging it needs."""

    language: str
    guards: Guards
    names: NamesKey
    home: HomeNames
    text: str


class Completeness:
    """The sentences' verdicts for running texts, off the event loop (see the module)."""

    def __init__(
        self,
        enabled: bool = True,
        words: Mapping[str, frozenset[str]] | None = None,
        modifiers: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.enabled = enabled
        self._words = dict(words or {})
        """The settings' endpoint_words: a language's list, replacing the built-in one."""
        self._modifiers = dict(modifiers or {})
        """The settings' endpoint_modifier_words, likewise."""
        self._closing: dict[str, frozenset[str]] = {}
        """Per sentence language: the short words its sentences never end in (loaded)."""
        self._building: set[str] = set()
        """Sentence languages whose grammar is to be built on the sentences' thread."""
        self.names = HomeNames()
        """The home's names (from Home Assistant; empty: names are wildcards)."""
        self.names_version = 0
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sentences")
        self._verdicts: OrderedDict[VerdictKey, Verdict] = OrderedDict()
        self._questions = Questions(self._submit, self._keep)
        self._lists: OrderedDict[NamesKey, tuple[dict[str, SlotList], HomeIndex]] = OrderedDict()
        """Slot lists and the walk's index by names (used on the sentences' thread only)."""
        self.checks = 0
        self.seconds: list[float] = []
        """The latest checks' durations (for metrics and benchmarks)."""
        self.waits: list[float] = []
        """The latest questions' times from being asked to being answered, queueing
        included."""

    @property
    def questions(self) -> Questions:
        """The questions on their way (how many were refused or dropped)."""
        return self._questions

    def set_names(self, names: HomeNames) -> None:
        """Take the home's names (new or changed): every verdict is judged anew."""
        self.names = names
        self.names_version += 1
        self._verdicts.clear()

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
            job = self._questions.ask(key, _Question(lang, guards, names, home, text))
            return Verdict.INCOMPLETE if job is None else job

        return Asker(ask, self._questions)

    def _submit(self, job: Job) -> asyncio.Future[Verdict]:
        return asyncio.get_running_loop().run_in_executor(self._executor, self._work, job)

    def _work(self, job: Job) -> Verdict:
        """On the sentences' thread, as a question's turn comes (see asking.py)."""
        if not self._questions.start(job):
            return Verdict.INCOMPLETE  # nobody waits for it: not worked out, not kept
        verdict = self._judge_now(job.question)
        self.waits = [*self.waits[-511:], time.perf_counter() - job.asked]
        return verdict

    def _keep(self, job: Job, verdict: Verdict) -> None:
        self._verdicts[cast("VerdictKey", job.key)] = verdict
        if len(self._verdicts) > VERDICTS_KEPT:
            self._verdicts.popitem(last=False)

    def _judge_now(self, asked: _Question) -> Verdict:
        """On the sentences' thread: the verdict."""
        started = time.perf_counter()
        home = self._lists.get(asked.names)
        if home is None:
            self._free_old_names(asked.names)
            home = self._lists[asked.names] = (slot_lists(asked.home), HomeIndex(asked.home))
        self._lists.move_to_end(asked.names)
        built = self._grammar(asked.language)
        verdict = matcher(asked.language).judge(asked.text, *home, asked.guards, built)
        self.checks += 1
        self.seconds = [*self.seconds[-511:], time.perf_counter() - started]
        _LOGGER.debug("sentences: %r is %s", asked.text, verdict)
        return verdict

    def _free_old_names(self, names: NamesKey) -> None:
        """On the sentences' thread: drop the slot lists of names that changed since, and
        the least recently used of the clients' own name sets beyond NAME_SETS_KEPT."""
        for old in [key for key in self._lists if key[0] < names[0]]:
            del self._lists[old]
        while len(self._lists) >= NAME_SETS_KEPT:
            self._lists.popitem(last=False)

    def _grammar(self, language: str) -> Grammar | None:
        """On the sentences' thread: the language's grammar, if it is built; if not, it is
        built right after this verdict, on this thread (the verdicts meanwhile count a whole
        command as one more words could retarget: patience)."""
        found = sentence_grammar(language, build=False)
        if found is None and language not in self._building:
            self._building.add(language)
            self._executor.submit(self._build, language)
        return found

    def _build(self, language: str) -> None:
        """On the sentences' thread: build a language's grammar (once per process)."""
        try:
            built = sentence_grammar(language, build=True)
        except Exception:  # a bug: logged; that language's whole commands stay patient
            _LOGGER.exception("sentences: cannot build the %s grammar", language)
            return
        if built is not None:
            self._closing[language] = built.closing_words()

    async def warm(self, languages: Iterable[str], first: str | None = None) -> None:
        """Load the languages' sentences and make each one's first (slow) match, on the
        sentences' thread, ahead of the first utterance; build the grammar of the `first`
        language (the default one), the others' when they are first spoken."""
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

    def _load(self, language: str) -> None:
        """On the sentences' thread: a language's sentences, and a first match with them."""
        found = matcher(language)
        for text in ("", "what time is it"):
            found.whole(text, slot_lists(HomeNames()))

    def languages(self, offered: Iterable[str]) -> list[str]:
        """Which of the offered languages have sentence data."""
        return sorted({lang for lang in map(sentence_language, offered) if lang is not None})

    def describe(self, offered: Iterable[str]) -> str:
        """The sentence data in words (--check, the start-up log)."""
        found = self.languages(offered)
        if not self.enabled:
            return "off (endpoint_sentences: false): the word lists decide"
        return (
            f"home-assistant-intents {data_version()}, languages "
            f"{', '.join(found) if found else 'none of those offered'}"
        )

    def close(self) -> None:
        """Stop the sentences' threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)
