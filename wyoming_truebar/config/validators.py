"""The rules that read and check a setting's value (no I/O): each takes what a flag, the
environment or the config file gave (a string, or YAML's lists and mappings) and returns the
setting's value, or raises voluptuous.Invalid with a sentence for the user."""

from __future__ import annotations

import ipaddress
from typing import Any

import voluptuous as vol


def tags(value: Any) -> tuple[str, ...]:
    """Comma-separated (or listed) ASR tags, each FRAMEWORK:language:domain:version."""
    items = value.split(",") if isinstance(value, str) else list(value)
    found = tuple(str(t).strip() for t in items if str(t).strip())
    for tag in found:
        if len(tag.split(":")) != 4:
            raise vol.Invalid(f"tag {tag!r} is not FRAMEWORK:language:domain:version")
    if not found:
        raise vol.Invalid("at least one tag is needed")
    return found


def url(schemes: tuple[str, ...]) -> Any:
    """A rule for a URL with one of `schemes`."""

    def check(value: Any) -> str:
        text = str(value)
        if not text.startswith(tuple(s + "://" for s in schemes)):
            raise vol.Invalid(f"must start with {' or '.join(s + '://' for s in schemes)}")
        return text

    return check


def networks(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated (or listed) networks in CIDR form."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    try:
        return tuple(
            ipaddress.ip_network(str(i).strip(), strict=False) for i in items if str(i).strip()
        )
    except ValueError as err:
        raise vol.Invalid(f"not a network in CIDR form ({err})") from err


def overrides(value: Any) -> tuple[tuple[str, str], ...]:
    """`sl=KALDI:sl-SI:COL:v,en=...` (or a mapping in the file) → ((language, tag), ...)."""
    if isinstance(value, dict):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        items = value.split(",") if isinstance(value, str) else list(value or [])
        pairs = []
        for item in (str(i).strip() for i in items):
            language, sep, tag = item.partition("=")
            if not item:
                continue
            if not sep or not language.strip():
                raise vol.Invalid(f"{item!r} is not LANGUAGE=TAG")
            pairs.append((language.strip(), tag.strip()))
    for _, tag in pairs:
        tags(tag)
    return tuple(pairs)


def names_list(value: Any) -> tuple[str, ...]:
    """Comma-separated (or listed) names; empty items are dropped."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return tuple(str(i).strip() for i in items if str(i).strip())


def seconds(low: float = 0.1, high: float = 3600) -> Any:
    """A rule for a number of seconds from `low` to `high`."""
    return vol.All(vol.Coerce(float), vol.Range(min=low, max=high))


def word_lists(value: Any) -> tuple[tuple[str, frozenset[str]], ...]:
    """`en=for to the,sl=za na` (or a mapping of lists in the file) → ((language, words), ...)."""
    if isinstance(value, dict):
        raw = [
            (str(k), v if isinstance(v, str) else " ".join(map(str, v or [])))
            for k, v in value.items()
        ]
    else:
        raw = []
        for item in (
            str(i).strip()
            for i in (value.split(",") if isinstance(value, str) else list(value or []))
        ):
            language, sep, words = item.partition("=")
            if item and (not sep or not language.strip()):
                raise vol.Invalid(f"{item!r} is not LANGUAGE=word word ...")
            if item:
                raw.append((language, words))
    return tuple(
        (language.strip().lower(), frozenset(words.lower().split())) for language, words in raw
    )
