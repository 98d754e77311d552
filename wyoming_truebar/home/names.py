"""The names a home's commands use (pure data): its exposed entities, areas and floors."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Name:
    """An entity's name (or alias) as the home's sentences match it."""

    text: str
    domain: str | None = None
    device_class: str | None = None
    entity_id: str | None = None
    """Which entity it names (aliases share it; None: a client's transcript_names)."""


@dataclass(frozen=True, slots=True)
class HomeNames:
    """The names a home's commands use: exposed entities, areas and floors."""

    entities: tuple[Name, ...] = ()
    areas: tuple[str, ...] = ()
    floors: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.entities or self.areas or self.floors)

    def with_names(self, names: Iterable[str]) -> HomeNames:
        """These names and more entity names (no domain: a client's transcript_names)."""
        extra = tuple(Name(n) for n in names if n.strip())
        return HomeNames(self.entities + extra, self.areas, self.floors) if extra else self
