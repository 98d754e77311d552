"""What Home Assistant's websocket answers say, every shape checked (no I/O): the entities
exposed to Assist, their registry entries, their states (only theirs, in the compressed form
of `subscribe_entities`), the areas and floors, the satellites' finished-speaking selects;
and the names the home's commands use, assembled from them as Home Assistant's own
conversation agent takes them (an entity's name is its state's friendly name, else its
registry name; its aliases are its registry entry's).

An answer whose shape is wrong as a whole (a list where a mapping belongs, an id that is no
number) raises ShapeError; a single entry that is malformed (an entity id without a dot,
attributes that are no mapping) is left out and counted, so one odd entity never stops the
names of the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..ending.live import Sensitivity, sensitivity_of
from .names import HomeNames, Name

ASSISTANT = "conversation"
"""Home Assistant's name for Assist among the assistants an entity is exposed to."""
SENSITIVITY_KEY = "vad_sensitivity"
"""The translation key of a satellite's "finished speaking detection" select entity (Home
Assistant's assist_pipeline: one per satellite, whatever its integration)."""
PATIENCE_ORDER = (Sensitivity.AGGRESSIVE, Sensitivity.DEFAULT, Sensitivity.RELAXED)


class ShapeError(ValueError):
    """Home Assistant answered in a shape the bridge does not know."""


@dataclass
class Tally:
    """Entries left out of an answer because their own shape was wrong."""

    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, what: str) -> None:
        """Count one entry left out."""
        self.skipped[what] = self.skipped.get(what, 0) + 1


def mapping(value: object, what: str) -> Mapping[str, Any]:
    """The value as a mapping, or ShapeError naming what it should have been."""
    if not isinstance(value, Mapping):
        raise ShapeError(f"{what} is {type(value).__name__}, not a mapping")
    return value


def sequence(value: object, what: str) -> list[Any]:
    """The value as a list, or ShapeError."""
    if not isinstance(value, list):
        raise ShapeError(f"{what} is {type(value).__name__}, not a list")
    return value


def is_entity_id(value: object) -> bool:
    """Whether the value is an entity id ("light.kitchen")."""
    if not isinstance(value, str):
        return False
    domain, dot, rest = value.partition(".")
    return bool(domain and dot and rest)


def exposed_ids(result: object, tally: Tally) -> list[str]:
    """The entities exposed to Assist (homeassistant/expose_entity/list)."""
    found = mapping(mapping(result, "the exposure list").get("exposed_entities"), "its entities")
    ids = []
    for entity_id, assistants in found.items():
        if not is_entity_id(entity_id) or not isinstance(assistants, Mapping):
            tally.skip("exposure")
        elif assistants.get(ASSISTANT) is True:
            ids.append(entity_id)
    return ids


def registry_entries(result: object, tally: Tally) -> dict[str, Mapping[str, Any]]:
    """Entity registry entries by entity id (config/entity_registry/get_entries; an entity
    without an entry, or whose entry is malformed, has none)."""
    entries = {}
    for entity_id, entry in mapping(result, "the registry entries").items():
        if entry is None:
            continue
        if not is_entity_id(entity_id) or not isinstance(entry, Mapping):
            tally.skip("registry entry")
            continue
        entries[entity_id] = entry
    return entries


def sensitivity_selects(result: object, tally: Tally) -> list[str]:
    """The satellites' finished-speaking selects (config/entity_registry/list_for_display)."""
    found = []
    for entry in sequence(mapping(result, "the entity list").get("entities"), "its entities"):
        if not isinstance(entry, Mapping) or not is_entity_id(entry.get("ei")):
            tally.skip("listed entity")
        elif entry.get("tk") == SENSITIVITY_KEY and str(entry["ei"]).startswith("select."):
            found.append(str(entry["ei"]))
    return found


@dataclass(frozen=True, slots=True)
class State:
    """What the bridge reads of an entity's state: its value and attributes."""

    value: str
    attributes: Mapping[str, Any]


def states_added(event: object, tally: Tally) -> dict[str, State]:
    """The states a `subscribe_entities` event adds ("a": entity id → {"s", "a", ...})."""
    added = mapping(event, "the state event").get("a") or {}
    found = {}
    for entity_id, compressed in mapping(added, "its states").items():
        if not is_entity_id(entity_id) or not isinstance(compressed, Mapping):
            tally.skip("state")
            continue
        attributes = compressed.get("a") or {}
        if not isinstance(attributes, Mapping):
            tally.skip("state")
            continue
        found[entity_id] = State(str(compressed.get("s", "")), attributes)
    return found


def states_changed(event: object, tally: Tally) -> dict[str, str]:
    """The new values a `subscribe_entities` event gives ("c": entity id → {"+": {"s"}})."""
    changed = mapping(event, "the state event").get("c") or {}
    found = {}
    for entity_id, diff in mapping(changed, "its changes").items():
        plus = diff.get("+") if isinstance(diff, Mapping) else None
        if not is_entity_id(entity_id) or not isinstance(plus, Mapping):
            tally.skip("state change")
        elif "s" in plus:
            found[entity_id] = str(plus["s"])
    return found


def places(result: object, what: str, tally: Tally) -> tuple[str, ...]:
    """Area or floor names with their aliases (config/area_registry/list, floor_…)."""
    found: list[str] = []
    for item in sequence(result, what):
        aliases = item.get("aliases") if isinstance(item, Mapping) else None
        if not isinstance(item, Mapping) or not isinstance(aliases, list | None):
            tally.skip(what)
            continue
        found += [str(item.get("name") or ""), *(str(a) for a in aliases or [] if a)]
    return tuple(dict.fromkeys(t.strip() for t in found if t.strip()))


def home_names(
    exposed: Iterable[str],
    entries: Mapping[str, Mapping[str, Any]],
    states: Mapping[str, State],
    areas: tuple[str, ...],
    floors: tuple[str, ...],
) -> HomeNames:
    """The names as Home Assistant's own agent matches them (`entity_names`), with the areas'
    and floors' names and aliases."""
    return HomeNames(tuple(entity_names(exposed, entries, states)), areas, floors)


def entity_names(
    exposed: Iterable[str],
    entries: Mapping[str, Mapping[str, Any]],
    states: Mapping[str, State],
) -> list[Name]:
    """Each exposed entity's name (its state's friendly name; before its integration has given
    it a state, its registry name) and aliases, with its domain and device class."""
    entities: list[Name] = []
    for entity_id in exposed:
        entry, state = entries.get(entity_id) or {}, states.get(entity_id)
        attributes = state.attributes if state is not None else {}
        kind = attributes.get("device_class") or entry.get("device_class")
        kind = kind or entry.get("original_device_class")
        spoken = [
            attributes.get("friendly_name") or entry.get("name") or entry.get("original_name"),
            *(entry.get("aliases") or []),
        ]
        if not spoken[0]:
            spoken[0] = entity_id.split(".", 1)[1].replace("_", " ")
        for text in dict.fromkeys(str(s).strip() for s in spoken if isinstance(s, str)):
            if text:
                entities.append(Name(text, entity_id.split(".", 1)[0], _text(kind), entity_id))
    return entities


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, str) and value else None


def most_patient(values: Iterable[str]) -> Sensitivity | None:
    """The most patient finished-speaking detection among the satellites' selects (None:
    none says one): the bridge cannot tell which satellite speaks."""
    chosen = [s for s in map(sensitivity_of, values) if s is not None]
    return max(chosen, key=PATIENCE_ORDER.index) if chosen else None
