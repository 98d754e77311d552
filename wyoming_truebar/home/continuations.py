"""Could a complete command go on, and would the rest change what Home Assistant does (pure)?

People pause after a command that is already whole and go on: "turn on the light … in the
bedroom", "turn on the desk … fan", "set a timer for five minutes … and thirty seconds". The
running text is walked through the language's sentences (`grammar.Grammar`) with the home's
names, word by word, keeping every reading at once; where the words end, what each reading
can still take is weighed:

- TARGET (the most patience): the rest would change what Home Assistant acts on in this home:
  an area or floor after a target that names neither an entity nor a place ("the light", which
  without an area means the satellite's room), or after a name several entities share; a name
  that begins a longer one ("Desk" and "Desk fan"), or a name not said to its end; a name for
  a target several entities of its domain could be.
- VALUE: the rest would change what it does: a number, a unit, a colour, another part of a
  duration ("… and thirty seconds"), a second name, a free-form tail (a search query), or words
  that make it another intent ("start the vacuum cleaner … in the kitchen" cleans one room).
- NONE: nothing this home knows would change it ("what time is it"; "turn on the kitchen
  light", whose only extension, an area, names the room the light is in anyway).

Words after a pause that the sentences do not know ("lock the front door … and the back
door") are no extension: Home Assistant could not match them either. A wildcard does not
swallow a text's first word (a delayed command, "{command} in five minutes", would otherwise
extend every command), nor does one that needs more words after it count ("stop the {timer
name} timer" does not make "stop the music" wait).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from ..ending.endpointing import words_of
from .grammar import HOME_LISTS, WILD, Block, Grammar, Trie, trie_of
from .names import HomeNames

AHEAD_WORDS = 3
"""Words looked ahead for a list to fill ("in the {area}", "on the {floor} floor")."""
PLACES = frozenset(("area", "floor"))


class Extension(IntEnum):
    """What the rest of a complete command could change (see the module)."""

    NONE = 0
    VALUE = 1
    TARGET = 2


@dataclass(frozen=True)
class HomeIndex:
    """The home's names as the walk fills lists with them, built once per set of names on the
    sentences' thread: one trie of every name, each node knowing the domains of the names
    through it (a block's list takes the names of its domains; one trie per domain set would
    cost 22 MB for a home of 6,000 names)."""

    names: HomeNames
    known: bool = field(init=False)
    areas: Trie = field(init=False)
    floors: Trie = field(init=False)
    entities: Trie = field(init=False)
    _keys: dict[tuple[str, ...], list[tuple[str, str | None]]] = field(init=False, compare=False)
    _several: dict[tuple[frozenset[str], str | None], bool] = field(
        default_factory=dict, init=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "known", bool(self.names))
        object.__setattr__(self, "areas", trie_of(_spoken(self.names.areas)))
        object.__setattr__(self, "floors", trie_of(_spoken(self.names.floors)))
        keys: dict[tuple[str, ...], list[tuple[str, str | None]]] = {}
        for name in self.names.entities:
            words = tuple(words_of(name.text))
            if words:
                keys.setdefault(words, []).append((name.entity_id or name.text, name.domain))
        object.__setattr__(self, "_keys", keys)
        object.__setattr__(self, "entities", _name_trie(keys))

    def values(self, grammar: Grammar, listed: str) -> Trie | str:
        """What fills a list (the names of a block's domains: `fits`)."""
        if listed not in HOME_LISTS:
            return grammar.values[listed]
        if not self.known:
            return WILD
        if listed == "name":
            return self.entities
        return self.areas if listed == "area" else self.floors

    def shared(self, named: tuple[str, ...], domains: frozenset[str]) -> bool:
        """Whether several entities have this name (an unknown one: they may)."""
        if not named:
            return True
        found = self._keys.get(named, ())
        return len({key for key, domain in found if fits(domains, frozenset((domain,)))}) > 1

    def several(self, domains: frozenset[str], device_class: str | None = None) -> bool:
        """Whether several entities of these domains (and device class) are exposed (unknown
        names: they may be)."""
        if not self.known:
            return True
        known = self._several.get((domains, device_class))
        if known is None:
            found = {
                name.entity_id or name.text
                for name in self.names.entities
                if (not domains or name.domain in domains)
                and (device_class is None or name.device_class == device_class)
            }
            known = self._several[(domains, device_class)] = len(found) > 1
        return known


def fits(domains: frozenset[str], found: frozenset[str | None] | None) -> bool:
    """Whether a name of one of the `found` domains fills a list of a block with these
    `domains` (empty: any; `found` None: not a name)."""
    return found is None or not domains or None in found or not found.isdisjoint(domains)


def _name_trie(keys: dict[tuple[str, ...], list[tuple[str, str | None]]]) -> Trie:
    """One trie of the names, each node with the domains through it and ending at it."""
    root = Trie()
    reach: dict[int, set[str | None]] = {}
    ends: dict[int, set[str | None]] = {}
    nodes: dict[int, Trie] = {}
    for words, named in keys.items():
        domains = {domain for _, domain in named}
        node = root
        for word in words:
            node = node.kids.setdefault(word, Trie())
            nodes[id(node)] = node
            reach.setdefault(id(node), set()).update(domains)
        node.end = True
        ends.setdefault(id(node), set()).update(domains)
    interned: dict[frozenset[str | None], frozenset[str | None]] = {}
    for key, node in nodes.items():
        node.reach = interned.setdefault(frozenset(reach[key]), frozenset(reach[key]))
        if key in ends:
            node.ends = interned.setdefault(frozenset(ends[key]), frozenset(ends[key]))
    return root


def _spoken(texts: Iterable[str]) -> Iterable[tuple[str, ...]]:
    return (tuple(words_of(text)) for text in texts)


Config = tuple[int, "Trie | str | None", str, "tuple[str, ...] | None", bool, bool, str | None]
"""One reading: (state, where it is in a list's values or None, the list, the name said, an
area or floor said, a wildcard took words, the device class said)."""


def walk(grammar: Grammar, words: list[str], index: HomeIndex) -> set[Config]:
    """Every reading of the words (none if the sentences cannot read them)."""
    return _Walk(grammar, index).through(grammar.without_skip_words(words))


def complete(grammar: Grammar, configs: set[Config]) -> list[Config]:
    """The readings that are a whole sentence."""
    return [c for c in configs if c[1] is None and c[0] in grammar.final]


def extension(
    grammar: Grammar, words: list[str], index: HomeIndex, configs: set[Config] | None = None
) -> Extension:
    """What the rest of a complete command could change (see the module); `configs`: the
    words' readings, if walked already. A text the walk cannot read whole (the sentences'
    matcher can, in ways the walk does not follow) counts as VALUE: patience, not a guess."""
    walker = _Walk(grammar, index)
    if configs is None:
        configs = walker.through(grammar.without_skip_words(words))
    whole_readings = complete(grammar, configs)
    whole = {grammar.blocks[grammar.states[c[0]].block].intent for c in whole_readings}
    if not whole:
        return Extension.VALUE
    # Home Assistant acts on the name and the area where a reading says them
    said = _Said(any(c[3] for c in whole_readings), any(c[4] for c in whole_readings))
    found = Extension.NONE
    for config in configs:
        found = max(found, walker.weigh(config, whole, said))
        if found is Extension.TARGET:
            break
    return found


@dataclass(frozen=True, slots=True)
class _Walk:
    """One text's readings through a grammar with a home's names."""

    grammar: Grammar
    index: HomeIndex

    def through(self, words: list[str]) -> set[Config]:
        begin = self.grammar.start()
        configs: set[Config] = {(s, None, "", None, False, False, None) for s in begin}
        for position, word in enumerate(words):
            configs = self._settle(self._step(configs, word, first=position == 0))
            if not configs:
                break
        return configs

    def _step(self, configs: set[Config], word: str, first: bool) -> set[Config]:
        moved: set[Config] = set()
        for config in configs:
            state, cursor, listed, named, placed, wild, classed = config
            if cursor is None:
                moved.update(self._enter(config, word, first))
            elif cursor == WILD:
                moved.add(config)
            elif (child := self._child(cursor, word, state)) is not None:
                said = (*named, word) if listed == "name" and named is not None else named
                moved.add((state, child, listed, said, placed, wild, classed))
        return moved

    def _settle(self, moved: set[Config]) -> set[Config]:
        """Each reading, and where it goes without a word (a list's value may end here)."""
        settled: set[Config] = set()
        for config in moved:
            state, cursor, listed, named, placed, wild, classed = config
            ends = cursor == WILD or (
                isinstance(cursor, Trie) and cursor.end and fits(self._domains(state), cursor.ends)
            )
            if cursor is not None:
                settled.add(config)
            if cursor is None or ends:
                here, took = placed or listed in PLACES, wild or cursor == WILD
                if listed in self.grammar.classes and isinstance(cursor, Trie):
                    classed = cursor.value
                after = self.grammar.closure(state)
                settled.update((s, None, "", named, here, took, classed) for s in after)
        return settled

    def _enter(self, config: Config, word: str, first: bool) -> Iterable[Config]:
        """The arcs a word takes from a state: a word of the sentence, or a list's first
        word (a wildcard never takes a text's first word)."""
        state, _, _, named, placed, wild, classed = config
        node = self.grammar.states[state]
        for to in node.words.get(word, ()):
            yield (to, None, "", named, placed, wild, classed)
        for listed, to in node.lists:
            values = self.index.values(self.grammar, listed)
            if values == WILD and not first:
                said = () if listed == "name" else named
                yield (to, WILD, listed, said, placed, True, classed)
            elif (child := self._child(values, word, state)) is not None:
                said = (word,) if listed == "name" else named
                yield (to, child, listed, said, placed, wild, classed)

    def weigh(self, config: Config, whole: set[str], said: _Said) -> Extension:
        """What the rest of one reading could change (see the module); `said`: what the
        complete readings name (Home Assistant acts on it)."""
        state, cursor, *_, wild, _ = config
        block = self.grammar.blocks[self.grammar.states[state].block]
        found = self._longer(config) if cursor is not None else self._ahead(config, said)
        # More words would make it another intent ("start the vacuum cleaner … in the
        # kitchen"); not where a wildcard took the words the other intent needs more after
        # ("stop the music … timer", a timer named "music").
        goes_on = found or (cursor is None and not wild and self._goes_on(state))
        if block.intent not in whole and goes_on:
            return max(found, Extension.VALUE)
        return found

    def _longer(self, config: Config) -> Extension:
        """A reading inside a list's value: could the value itself go on?"""
        state, cursor, listed, *_ = config
        grammar = self.grammar
        if cursor == WILD:  # only a wildcard that may end the sentence takes a free tail
            if not any(s in grammar.final for s in grammar.closure(state)):
                return Extension.NONE
        elif not (isinstance(cursor, Trie) and self._fillable(cursor, state)):
            return Extension.NONE
        return Extension.TARGET if listed in HOME_LISTS else Extension.VALUE

    def _domains(self, state: int) -> frozenset[str]:
        return self.grammar.blocks[self.grammar.states[state].block].domains

    def _child(self, values: Trie | str | None, word: str, state: int) -> Trie | None:
        """Where a word goes in a list's values, for the block of a state (its domains)."""
        if not isinstance(values, Trie):
            return None
        child = values.kids.get(word)
        return child if child is not None and fits(self._domains(state), child.reach) else None

    def _fillable(self, values: Trie | str, state: int) -> bool:
        """Whether a list's values (from here) go on with a word, for a state's block."""
        if values == WILD:
            return True
        domains = self._domains(state)
        kids = values.kids.values() if isinstance(values, Trie) else ()
        return any(fits(domains, kid.reach) for kid in kids)

    def _goes_on(self, state: int) -> bool:
        node = self.grammar.states[state]
        return bool(node.words or node.lists)

    def _ahead(self, config: Config, said: _Said) -> Extension:
        """The lists a reading reaches within AHEAD_WORDS words, weighed (see the module)."""
        grammar, found = self.grammar, Extension.NONE
        frontier, seen = [(config[0], 0)], set()
        while frontier:
            at, depth = frontier.pop()
            for here in grammar.closure(at):
                if (here, depth) in seen:
                    continue
                seen.add((here, depth))
                node = grammar.states[here]
                block = grammar.blocks[node.block]
                for listed, _ in node.lists:
                    if self._fillable(self.index.values(grammar, listed), here):
                        found = max(found, self._weigh_list(listed, config, block, said))
                if depth < AHEAD_WORDS:
                    frontier += [(to, depth + 1) for tos in node.words.values() for to in tos]
        return found

    def _weigh_list(self, listed: str, config: Config, block: Block, said: _Said) -> Extension:
        """What filling a list the reading reaches would change."""
        _, _, _, named, placed, _, classed = config
        if listed == "name":
            if named is None:
                several = self.index.several(block.domains)
                return Extension.TARGET if several else Extension.NONE
            return Extension.VALUE
        if listed not in PLACES:
            return Extension.VALUE
        if placed or said.placed:  # an area said: Home Assistant acts there
            return Extension.NONE
        if named is not None:
            return Extension.TARGET if self.index.shared(named, block.domains) else Extension.NONE
        if not said.named:  # no area: the satellite's room
            return Extension.TARGET
        # Home Assistant acts on the name said; a reading without it could still be meant
        # where the home has several of its kind ("turn on the fan … in the office")
        kind = classed or block.device_class
        return Extension.TARGET if self.index.several(block.targets, kind) else Extension.NONE


@dataclass(frozen=True, slots=True)
class _Said:
    """What the complete readings of a text name."""

    named: bool
    """An entity's name."""
    placed: bool
    """An area or a floor."""
