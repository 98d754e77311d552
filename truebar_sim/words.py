"""A recognised word and where it lies in the stream (no I/O): what the recognisers produce
and the fixtures describe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word and where it lies in the stream (milliseconds of audio)."""

    text: str
    start_ms: int
    end_ms: int
    written: str | None = None
    """How a normalising NLP stage writes it ("pet" → "5"), if otherwise."""


def text_of(words: Sequence[Word]) -> str:
    """The words joined by one space."""
    return " ".join(word.text for word in words)
