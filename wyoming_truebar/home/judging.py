"""Where the sentences' questions are worked out (no I/O, no asyncio): the loaded sentences,
the grammars, and the slot lists and walk index of each set of names. One `Judging` lives in
the sentences' process (`worker.py`, the default), or in the bridge's own process when the
sentences run on a thread of it (`endpoint_sentences_process: false`).

A question names its set of names by key only: the names themselves (6,000 of them in a big
home) cross to the process once per set (`prepare`), and again if the process was started
anew (`judge` answers what is missing: the bridge sends it, then asks again).
"""

from __future__ import annotations

import gc
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

from hassil.intents import SlotList

from ..ending.endpointing import Verdict
from .continuations import HomeIndex
from .names import HomeNames
from .sentences import Guards, matcher, sentence_grammar, slot_lists

NAME_SETS_KEPT = 8
"""Sets of names whose slot lists are kept: the home's, and the latest clients' own
(transcript_names); older ones are built again if asked for."""
FIRST_MATCH = "turn on the"
"""A text whose match builds hassil's index of a set of names' lists (the first match with
new lists builds it: 0.2 s for 6,000 names): once, as they are prepared, not at a question."""

NamesKey = tuple[int, tuple[str, ...]]
"""The home's names (by version) and a client's own (transcript_names)."""


@dataclass(frozen=True, slots=True)
class Question:
    """One text to judge, with what judging it needs but the names (by key)."""

    language: str
    guards: Guards
    names: NamesKey
    text: str


class Missing(Enum):
    """What a question needs that is not where it is worked out (yet, or any more)."""

    LANGUAGE = "language"
    NAMES = "names"


class Judging:
    """The sentences' state where questions are worked out (see the module)."""

    def __init__(self) -> None:
        self._lists: OrderedDict[NamesKey, tuple[dict[str, SlotList], HomeIndex]] = OrderedDict()
        self._loaded: set[str] = set()
        self._home_version = 0

    def load(self, language: str) -> None:
        """A language's sentences, and a first match with them (the first is slow)."""
        found = matcher(language)
        for text in ("", "what time is it"):
            found.whole(text, slot_lists(HomeNames()))
        self._loaded.add(language)
        keep_out_of_collections()

    def build(self, language: str) -> frozenset[str] | None:
        """A language's grammar (once per process): the short words its sentences never end
        in, None if it has none."""
        built = sentence_grammar(language, build=True)
        keep_out_of_collections()
        return None if built is None else built.closing_words()

    def prepare(self, key: NamesKey, names: HomeNames) -> None:
        """A set of names' slot lists and walk index, built once; a newer version of the
        home's names frees the older ones' (and the least recently used beyond
        NAME_SETS_KEPT)."""
        if key in self._lists:
            self._lists.move_to_end(key)
            return
        if not key[1]:
            self._home_version = max(self._home_version, key[0])
        for old in [k for k in self._lists if k[0] < self._home_version]:
            del self._lists[old]
        while len(self._lists) >= NAME_SETS_KEPT:
            self._lists.popitem(last=False)
        lists = self._lists[key] = (slot_lists(names), HomeIndex(names))
        if names and not key[1]:  # the home's own (a client's few names: no need)
            for language in self._loaded:
                matcher(language).whole(FIRST_MATCH, lists[0])
            keep_out_of_collections()

    def judge(self, question: Question) -> tuple[Verdict, float] | Missing:
        """The verdict on a text and the seconds it took, or what is missing here to judge it
        (load the language, or prepare the names, then ask again: a question is quick, and
        its timeout short)."""
        if question.language not in self._loaded:
            return Missing.LANGUAGE
        home = self._lists.get(question.names)
        if home is None:
            return Missing.NAMES
        self._lists.move_to_end(question.names)
        started = time.perf_counter()
        built = sentence_grammar(question.language, build=False)
        found = matcher(question.language)
        verdict = found.judge(question.text, *home, question.guards, built)
        return verdict, time.perf_counter() - started


def keep_out_of_collections() -> None:
    """Move what the process holds now (the sentences, the grammars, the home's names and
    lists: 300,000 objects and more) out of the garbage collector's sight: a full collection
    walks every object it tracks, 120 ms and more with the sentences loaded, holding the GIL
    (in the bridge's process: every stream's audio waits as long). None of it is in a
    reference cycle (old names, lists and indexes are freed by their reference counts, not
    by the collector); what else it freezes is what is in flight at that moment, a few kB."""
    gc.freeze()
