"""Home Assistant's sentences as a word automaton (pure): what a running text can still
become, not only whether it is whole.

hassil answers whether a text matches a sentence; it has no question for "could this text go
on?". Its own FST builder (`hassil.fst`, the one Home Assistant's speech-to-phrase uses) turns
every sentence template of a language into one automaton over words, with each list
reference (`{name}`, `{area}`, `{brightness}`, `{search_query}` ...) left as a single label.
The bridge builds that automaton once per language, independent of any home: each data
block of an intent gets its own start (so a state knows its intent and the domains its names
may have), every list reference is labelled by its list (not its slot, which several lists
share: `{timer_name:name}` is no entity name), and wildcard and inline-range lists are kept
(hassil's builder drops their sentences). The labels then become one token per arc: a word,
or a list to fill. The home's names fill `name`, `area` and `floor` at walk time
(`continuations.py`); the sentences' own lists (numbers, colours, states) are tries built
here, numbers spelled as Home Assistant spells them (`unicode-rbnf`, as hassil does) and in
digits.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from hassil import Intents
from hassil.expression import Group, ListReference, Sentence
from hassil.fst import EPS, SPACE, Fst, ListReferenceNode, expression_to_fst
from hassil.intents import IntentData, RangeSlotList, SlotList, TextSlotList
from hassil.numbers import get_rbnf_engine
from hassil.sample import sample_expression

from ..ending.endpointing import words_of

HOME_LISTS = frozenset(("name", "area", "floor"))
"""The lists the home's names fill."""
WILD = "*"
"""A list whose value is any words (a search query, a shopping item, a timer's name)."""
MOST_SKIPPED = 4
"""Words a skip phrase ("i'd like to") has at most."""
SHORT_WORD = 3
"""Letters at most of a word `closing_words` may list (longer ones are content words)."""
_LABEL = re.compile(r"^(.*?)\{([^{}]+)\}(.*)$")


@dataclass(slots=True, eq=False)  # nodes are compared by identity in a walk
class Trie:
    """Values of a list, word by word."""

    kids: dict[str, Trie] = field(default_factory=dict)
    end: bool = False
    """A value ends here."""
    value: str | None = None
    """What the value ending here stands for (a text list's value_out: "garage")."""
    reach: frozenset[str | None] | None = None
    """The domains of the names through here (the home's names; None: any list's value);
    None among them: a name of any domain."""
    ends: frozenset[str | None] | None = None
    """The domains of the names ending here, likewise."""


def trie_of(values: Iterable[tuple[str, ...]], meaning: Iterable[str | None] = ()) -> Trie:
    """A trie of word sequences (empty ones left out), each standing for its `meaning`."""
    root = Trie()
    meanings = iter(meaning)
    for words in values:
        stands_for = next(meanings, None)
        if not words:
            continue
        node = root
        for word in words:
            node = node.kids.setdefault(word, Trie())
        node.end = True
        node.value = stands_for
    return root


@dataclass(frozen=True, slots=True)
class Block:
    """One data block of an intent: what its sentences share."""

    intent: str
    domains: frozenset[str]
    """The domains its entity names must have (empty: any)."""
    targets: frozenset[str]
    """The domains a reading that names no entity acts on ("the lights": light)."""
    device_class: str | None
    """The device class its sentences fix, if any."""


@dataclass(slots=True)
class State:
    """One state of the automaton: its arcs by token (lists while it is built, tuples once
    `Grammar` is done: a language's sentences make tens of thousands of states)."""

    words: dict[str, Sequence[int]] = field(default_factory=dict)
    lists: Sequence[tuple[str, int]] = field(default_factory=list)
    """(list name, next state) for each list to fill."""
    empty: Sequence[int] = field(default_factory=list)
    block: int = -1

    def freeze(self) -> None:
        """Arcs as tuples, words interned, no empty containers of its own."""
        self.words = {sys.intern(w): tuple(to) for w, to in self.words.items()} or _NO_WORDS
        self.lists = tuple(self.lists)
        self.empty = tuple(self.empty)


_NO_WORDS: dict[str, Sequence[int]] = {}


class Grammar:
    """A language's sentences as one word automaton (see the module)."""

    def __init__(self, language: str, intents: Intents) -> None:
        self.language = language
        blocks = [(name, d) for name, intent in intents.intents.items() for d in intent.data]
        self.blocks = tuple(_block(name, d) for name, d in blocks)
        self.states: list[State] = [State()]
        """State 0 is where every sentence begins."""
        self.final: set[int] = set()
        with _labelled_by_list(intents, blocks) as (kinds, self.classes):
            self.values: dict[str, Trie | str] = {
                name: _values(language, kind) for name, kind in kinds.items()
            }
            stand_ins = {name: TextSlotList(name, []) for name in kinds}
            for index, (_, data) in enumerate(blocks):
                self._add(_block_fst(intents, data, stand_ins), index)
        for state in self.states:
            state.freeze()
        self._closures: dict[int, tuple[int, ...]] = {}
        self.skip_words = tuple(tuple(words_of(s)) for s in intents.skip_words if words_of(s))

    def _add(self, fst: Fst, block: int) -> None:
        """One block's word FST, one token per arc (its labels split into words and lists)."""
        offset = len(self.states)
        self.states += [State(block=block) for _ in range(max(fst.states) + 1)]
        self.final.update(offset + state for state in fst.final_states)
        cast("list[int]", self.states[0].empty).append(offset + fst.start)
        for source, arcs in fst.arcs.items():
            for arc in arcs:
                tokens = [] if arc.in_label == EPS else list(_tokens(arc.in_label))
                at = offset + source
                for position, token in enumerate(tokens):
                    last = position == len(tokens) - 1
                    to = offset + arc.to_state if last else self._new_state(block)
                    self._arc(at, token, to)
                    at = to
                if not tokens:
                    cast("list[int]", self.states[at].empty).append(offset + arc.to_state)

    def _new_state(self, block: int) -> int:
        self.states.append(State(block=block))
        return len(self.states) - 1

    def _arc(self, source: int, token: tuple[str, str], to: int) -> None:
        kind, value = token
        state = self.states[source]
        if kind == "list":
            cast("list[tuple[str, int]]", state.lists).append((value, to))
        else:
            cast("list[int]", state.words.setdefault(value, [])).append(to)

    def closure(self, state: int) -> tuple[int, ...]:
        """The states reachable from one without a word (itself included)."""
        known = self._closures.get(state)
        if known is None:
            seen, stack = {state}, [state]
            while stack:
                for nxt in self.states[stack.pop()].empty:
                    if nxt not in seen:
                        seen.add(nxt)
                        stack.append(nxt)
            known = self._closures[state] = tuple(seen)
        return known

    def start(self) -> tuple[int, ...]:
        """Where every sentence begins."""
        return tuple(state for state in self.closure(0) if state)

    def closing_words(self) -> frozenset[str]:
        """Short words (three letters at most) no sentence ends in: a language's articles and
        prepositions, as its sentences show them (the guard where no list is built in)."""
        ending: set[str] = set()
        every: set[str] = set()
        for state in self.states:
            for word, targets in state.words.items():
                every.add(word)
                if any(s in self.final for to in targets for s in self.closure(to)):
                    ending.add(word)
        return frozenset(w for w in every - ending if len(w) <= SHORT_WORD)

    def without_skip_words(self, words: list[str]) -> list[str]:
        """The words as Home Assistant matches them: its skip words ("please") left out."""
        kept: list[str] = []
        index = 0
        while index < len(words):
            skip = next(
                (s for s in self.skip_words if tuple(words[index : index + len(s)]) == s), None
            )
            if skip is None:
                kept.append(words[index])
            index += len(skip) if skip else 1
        return kept


def _block(intent: str, data: IntentData) -> Block:
    wanted = data.requires_context.get("domain") or data.name_domains or ()
    fixed = data.slots.get("device_class") or data.requires_context.get("device_class")
    return Block(
        intent,
        frozenset([wanted] if isinstance(wanted, str) else wanted),
        frozenset(data.domains),
        fixed if isinstance(fixed, str) else None,
    )


def _references(expression: Any) -> Iterator[ListReference]:
    if isinstance(expression, ListReference):
        yield expression
    elif isinstance(expression, Group):
        for item in expression.items:
            yield from _references(item)
    elif isinstance(expression, Sentence):
        yield from _references(expression.expression)


@contextlib.contextmanager
def _labelled_by_list(
    intents: Intents, blocks: list[tuple[str, IntentData]]
) -> Iterator[tuple[dict[str, Any], frozenset[str]]]:
    """Every list the sentences refer to, with what fills each (the home, HOME_LISTS; a range;
    a text list; or any words, WILD), and the lists that fill a device class
    ("{cover_classes:device_class}"); meanwhile every reference is labelled by its list,
    as hassil's FST builder labels it (the slot names are restored after: the same parsed
    sentences serve hassil's own matching)."""
    known: dict[str, SlotList] = dict(intents.slot_lists)
    rules = list(intents.expansion_rules.values())
    for _, data in blocks:
        known = {**data.slot_lists, **known}
        rules += [*data.sentences, *data.expansion_rules.values()]
    kinds: dict[str, Any] = {}
    classes: set[str] = set()
    slots: dict[int, tuple[ListReference, str | None]] = {}
    for rule in rules:
        for ref in _references(rule):
            slots.setdefault(id(ref), (ref, ref._slot_name))
            if ref.slot_name == "device_class":
                classes.add(ref.list_name)
            kinds[ref.list_name] = _kind(ref, known.get(ref.list_name))
    for ref, _ in slots.values():
        ref._slot_name = ref.list_name
    try:
        yield kinds, frozenset(classes)
    finally:
        for ref, slot in slots.values():
            ref._slot_name = slot


def _kind(ref: ListReference, found: SlotList | None) -> Any:
    inline = ref.get_inline_range()
    if inline is not None:
        return inline
    if ref.list_name in HOME_LISTS:
        return ref.list_name
    if isinstance(found, RangeSlotList):
        return (found.start, found.stop, found.step)
    if isinstance(found, TextSlotList):
        return found
    return WILD


def _values(language: str, kind: Any) -> Trie | str:
    """A list's values as a trie (the home's and wildcards: their kind, filled at walk time)."""
    if isinstance(kind, str):
        return kind
    if isinstance(kind, tuple):
        return trie_of(_numbers(language, *kind))
    spoken: dict[tuple[str, ...], str | None] = {}
    for value in kind.values:
        meaning = None if value.value_out is None else str(value.value_out)
        for text in sample_expression(value.text_in):
            spoken.setdefault(tuple(words_of(text)), meaning)
    return trie_of(spoken, spoken.values())


def _numbers(language: str, start: int, stop: int, step: int) -> Iterator[tuple[str, ...]]:
    try:
        engine = get_rbnf_engine(language)
    except ValueError:
        engine = None
    for number in range(start, stop + 1, step or 1):
        yield (str(number),)
        if engine is not None:
            for text in engine.format_number(number).text_by_ruleset.values():
                yield tuple(words_of(text))


def _block_fst(intents: Intents, data: IntentData, lists: Any) -> Fst:
    """hassil's FST of one block's sentences, words whole (`remove_spaces`)."""
    fst = Fst()
    final = fst.next_state()
    for sentence in data.sentences:
        state = fst.next_edge(fst.start, SPACE, SPACE)
        end = expression_to_fst(
            sentence.expression, state, fst, data, intents, ListReferenceNode(), lists
        )
        if end is not None:
            fst.add_edge(end, final, SPACE, SPACE)
    fst.accept(final)
    words = fst.remove_spaces()
    words.prune()
    return words


def _tokens(label: str) -> Iterator[tuple[str, str]]:
    """A word FST label as tokens: its words, and the list it names ("{minutes}-minutes")."""
    found = _LABEL.match(label)
    if found is None:
        yield from (("word", w) for w in words_of(label))
        return
    before, name, after = found.groups()
    yield from (("word", w) for w in words_of(before))
    yield ("list", name)
    yield from (("word", w) for w in words_of(after))
