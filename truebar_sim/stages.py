"""The pipeline stages the simulator advertises in discovery, and tag matching."""

from __future__ import annotations

from typing import Any


def _option(tag: str, *features: str) -> dict[str, Any]:
    return {"tag": tag, "features": list(features)}


STAGES: list[dict[str, Any]] = [
    {
        "task": "ASR",
        "configOptions": [
            _option("KALDI:sl-SI:COL:20221208-0800", "onlineAsr", "offlineAsr"),
            _option("KALDI:en-US:COL:20230315-1200", "onlineAsr", "offlineAsr"),
            _option("KALDI:de-DE:COL:20230601-0900", "onlineAsr", "offlineAsr"),
            _option("WHISPER:sl-SI:LARGE:20240101-0000", "offlineAsr"),
        ],
    },
    {
        "task": "NLP_pc",
        "configOptions": [
            _option("NEMO_PUNCTUATOR:sl-SI:*:*", "enableSplitToSentences"),
            _option("NEMO_PUNCTUATOR:en-US:*:*", "enableSplitToSentences"),
            _option("NEMO_PUNCTUATOR:de-DE:*:*", "enableSplitToSentences"),
        ],
    },
    {
        # Number normalisation ("pet minut" → "5 minut"); the task's name is this
        # simulator's guess (the docs name only NLP_pc): the bridge takes it from discovery.
        "task": "NLP_nm",
        "configOptions": [
            _option("TEXT_NORMALIZER:sl-SI:*:*"),
            _option("TEXT_NORMALIZER:en-US:*:*"),
        ],
    },
]


def tag_language(tag: str) -> str:
    """The language field of a tag (`KALDI:sl-SI:COL:...` → `sl-SI`; "" if none)."""
    fields = tag.split(":")
    return fields[1] if len(fields) > 1 else ""


def tag_matches(requested: str, offered: str) -> bool:
    """Return whether a requested tag (fields may be `*`) names an offered one."""
    want, have = requested.split(":"), offered.split(":")
    if len(want) != 4 or len(have) != 4:
        return False
    return all(w in ("*", h) for w, h in zip(want, have, strict=True))


def find_option(task: str, tag: str, feature: str | None = None) -> dict[str, Any] | None:
    """Return the advertised option of a task that a requested tag names, if any."""
    for stage in STAGES:
        if stage["task"] != task:
            continue
        for option in stage["configOptions"]:
            if tag_matches(tag, option["tag"]) and (
                feature is None or feature in option["features"]
            ):
                return dict(option)
    return None
