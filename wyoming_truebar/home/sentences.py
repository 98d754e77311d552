"""Whether a running text is a complete command in Home Assistant's own sentences (no I/O but
reading the sentence data that `home-assistant-intents` bundles).

Home Assistant matches what it is told against its sentences (`home-assistant-intents`, one
file per language) with `hassil`, its own parser, and the names of the home: its exposed
entities (with their aliases, domain and device class), areas and floors. The bridge asks the
same question of the running text at a pause: does it match a sentence whole? "open", "set
a timer for five" and "what time" do not; "open the garage door", "set a timer for five
minutes" and "what time is it" do.

With the home's names (read from Home Assistant, or sent by the client), a name must be one
of them. Without any, names are wildcards, which match far too much ("turn off" with the name
"off", "set a timer for five" with the area "a timer for"), so a wildcard's words must also
look like a name: at least one word that the sentences themselves never use. Any wildcard (a
name, or a sentence's own, such as a search query) that ends in a word announcing more ("the",
"for") makes the text incomplete, and so does one that ends the text in a word that often
modifies a following noun ("lock the front … door", "play music in the living … room").
A satellite's area completes sentences that need one ("set the temperature to 20 degrees"):
the bridge does not know the satellite, so any area counts.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hassil import Intents, recognize_best
from hassil.expression import (
    Alternative,
    Expression,
    Group,
    Permutation,
    Sentence,
    Sequence,
    TextChunk,
)
from hassil.intents import SlotList, TextSlotList, TextSlotValue, WildcardSlotList
from home_assistant_intents import get_intents, get_languages

from ..ending.endpointing import Verdict, words_of
from .continuations import Extension, HomeIndex, complete, extension, walk
from .grammar import Grammar
from .names import HomeNames

NAME_LISTS = ("name", "area", "floor")
"""The slot lists that hold the home's names."""
ANY_AREA: Mapping[str, Any] = {"area": {"value": "?", "text": "?"}}
"""The satellite's area, as Home Assistant gives it to sentences that need one."""
ANY_DOMAIN = (
    *("light", "switch", "fan", "cover", "lock", "climate", "media_player", "vacuum", "valve"),
    *("scene", "script", "button", "input_boolean", "sensor", "binary_sensor", "todo"),
)
"""The domains a name of unknown domain (a client's transcript_names) may have: every
sentence that needs one of them takes it."""


def sentence_language(language: str) -> str | None:
    """The sentence data's language for a client's ("en-US" → "en"), None if it has none."""
    known = set(get_languages())
    tag = language.replace("_", "-")
    for candidate in (tag, tag.split("-")[0]):
        for known_tag in known:
            if known_tag.lower() == candidate.lower():
                return known_tag
    return None


def data_version() -> str:
    """The version of the sentence data (home-assistant-intents)."""
    from importlib.metadata import version  # noqa: PLC0415

    return version("home-assistant-intents")


def _chunks(expression: Expression | Sentence) -> Iterator[str]:
    if isinstance(expression, TextChunk):
        yield expression.text
    elif isinstance(expression, Sentence):
        yield from _chunks(expression.expression)
    elif isinstance(expression, Sequence | Alternative | Group | Permutation):
        for item in expression.items:
            yield from _chunks(item)


def vocabulary(intents: Intents) -> frozenset[str]:
    """Every word the sentences (and their expansion rules) spell out."""
    found: set[str] = set()
    for intent in intents.intents.values():
        for data in intent.data:
            for sentence in data.sentences:
                found.update(w for chunk in _chunks(sentence) for w in words_of(chunk))
    for rule in intents.expansion_rules.values():
        found.update(w for chunk in _chunks(rule) for w in words_of(chunk))
    return frozenset(found)


def slot_lists(names: HomeNames) -> dict[str, SlotList]:
    """The home's names as Home Assistant's own agent lists them (wildcards if none)."""
    if not names:
        return {name: WildcardSlotList(name) for name in NAME_LISTS}
    values = []
    for entity in names.entities:
        spoken = " ".join(words_of(entity.text))
        if not spoken:
            continue
        for domain in (entity.domain,) if entity.domain else ANY_DOMAIN:
            context = {"domain": domain}
            if entity.device_class:
                context["device_class"] = entity.device_class
            values.append(TextSlotValue.from_tuple((spoken, entity.text, context), False))
    return {
        "name": TextSlotList(name="name", values=values),
        "area": _plain("area", names.areas),
        "floor": _plain("floor", names.floors),
    }


def _plain(name: str, texts: Iterable[str]) -> TextSlotList:
    pairs = [(" ".join(words_of(t)), t) for t in texts]
    return TextSlotList.from_tuples([p for p in pairs if p[0]], allow_template=False, name=name)


@dataclass(frozen=True, slots=True)
class Guards:
    """The words that keep a wildcard from standing for what a speaker has not finished."""

    announcing: frozenset[str] = frozenset()
    """Words that announce more ("the", "for"): no wildcard may end in one."""
    modifiers: frozenset[str] = frozenset()
    """Words that often modify a following noun ("front"): no wildcard name ends in one."""


@dataclass
class Matcher:
    """One language's sentences: judges texts against them with a home's slot lists."""

    language: str
    intents: Intents = field(init=False)
    vocabulary: frozenset[str] = field(init=False)
    lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    """Held while hassil matches with the sentences, or a grammar is built from them."""

    def __post_init__(self) -> None:
        self.intents = Intents.from_dict(sentence_data(self.language))
        self.vocabulary = vocabulary(self.intents)

    def judge(
        self,
        text: str,
        lists: Mapping[str, SlotList],
        index: HomeIndex,
        guards: Guards,
        grammar: Grammar | None,
    ) -> Verdict:
        """Whether the text is a whole command (see the module) and, if it is, what more
        words could change (`continuations`, with the home's names in `index`); until the
        language's `grammar` is built, a whole command may change anything (TARGET_OPEN:
        the most patience). Once it is built, the walk goes first: a text it reads no whole
        sentence in is incomplete without asking hassil (the walk reads whole every sentence
        hassil does, `tests/test_continuations.py`; most running texts are not whole yet, and
        hassil takes 10-20 ms for one in a home of 6,000 names, the walk a few)."""
        readings = None
        if grammar is not None:
            readings = walk(grammar, words_of(text), index)
            if not complete(grammar, readings):
                return Verdict.INCOMPLETE
        if not self.whole(text, lists, guards):
            return Verdict.INCOMPLETE
        if grammar is None:
            return Verdict.TARGET_OPEN
        return EXTENSIONS[extension(grammar, words_of(text), index, readings)]

    def whole(self, text: str, lists: Mapping[str, SlotList], guards: Guards = Guards()) -> bool:
        """Whether the text matches a sentence whole, as Home Assistant would match it."""
        spoken = " ".join(words_of(text))
        if not spoken:
            return False
        with self.lock:
            result = recognize_best(
                spoken,
                self.intents,
                slot_lists=dict(lists),
                intent_context=dict(ANY_AREA),
                language=self.language,
                best_slot_name="name",
            )
        if result is None:
            return False
        wild = isinstance(lists.get("name"), WildcardSlotList)
        said = spoken.split()
        return all(
            self._plausible(name, str(entity.text), wild, said, guards)
            for name, entity in result.entities.items()
            if entity.is_wildcard
        )

    def _plausible(
        self, slot: str, value: str, names_unknown: bool, said: list[str], guards: Guards
    ) -> bool:
        """Whether a wildcard's value can be what it stands for (see the module)."""
        words = words_of(value)
        if not words or words[-1] in guards.announcing:
            return False
        if said[-len(words) :] == words and words[-1] in guards.modifiers:
            return False  # it ends the text, in a word that often goes on: "the front"
        if not (names_unknown and slot in NAME_LISTS):
            return True
        return any(w not in self.vocabulary for w in words)


EXTENSIONS = {
    Extension.NONE: Verdict.COMPLETE,
    Extension.VALUE: Verdict.EXTENDABLE,
    Extension.TARGET: Verdict.TARGET_OPEN,
}


@functools.cache
def matcher(language: str) -> Matcher:
    """The process's matcher for a sentence language (loaded once; raises LookupError)."""
    return Matcher(language)


def sentence_data(language: str) -> dict[str, Any]:
    """A sentence language's data, as home-assistant-intents bundles it (raises LookupError)."""
    data = get_intents(language)
    if data is None:
        raise LookupError(language)
    return data


_GRAMMARS: dict[str, Grammar] = {}
"""The process's grammars, by sentence language, once built (`grammar`)."""


def sentence_grammar(language: str, build: bool) -> Grammar | None:
    """A language's sentences as a word automaton: None until it is built (`build`: build it
    now, 0.3-2 s and 2-8 MB per language, from the matcher's own parse of the sentences,
    under its lock: never while another thread matches with them)."""
    found = _GRAMMARS.get(language)
    if found is None and build:
        sentences = matcher(language)
        with sentences.lock:
            found = _GRAMMARS.get(language) or Grammar(language, sentences.intents)
        _GRAMMARS[language] = found
    return found
