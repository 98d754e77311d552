"""What Truebar's segments say, placed on the stream (pure), under every convention the
documentation leaves open; and what the bridge learns of them. Exact JSON strings in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from truebar_sim.conventions import PRESETS, Span, preset, text_segment
from truebar_sim.words import Word
from wyoming_truebar.ending.conventions import Conventions
from wyoming_truebar.ending.heard import Heard, Observed, Offsets, Punctuation, RunningText
from wyoming_truebar.truebar.protocol import parse_message

WORDS = [Word("turn", 300, 500), Word("on", 500, 650), Word("the", 650, 720)]
WORDS += [Word("light", 720, 1100)]


def segment(
    tokens: list[dict[str, Any]], final: bool = False, start: int = 0, end: int | None = None
) -> str:
    body: dict[str, Any] = {"isFinal": final, "startTimeMs": start, "tokens": tokens}
    if end is not None:
        body["endTimeMs"] = end
    return json.dumps({"type": "TEXT_SEGMENT", "textSegment": body})


def token(text: str, start: int | None, end: int | None, left: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {"text": text, "isLeftHanded": left}
    if start is not None:
        found |= {"startOffsetMs": start, "endOffsetMs": end}
    return found


def heard(*raws: str, relative: bool = False) -> Heard:
    said = RunningText(relative=relative)
    result = None
    for raw in raws:
        result, _ = said.add(parse_message(raw))
    assert result is not None
    return result


@pytest.mark.parametrize(
    ("raw", "end", "heard_to"),
    [
        (segment([token("what", 0, 300), token("time", 300, 640)], end=900), 640, 900),
        # punctuation is not a word: timed at the word, at the end, or untimed
        (segment([token("time", 300, 640), token(".", 640, 640, True)], end=900), 640, 900),
        (segment([token("time", 300, 640), token(".", 900, 900, True)], end=900), 640, 900),
        (segment([token("time", 300, 640), token(".", None, None, True)], end=900), 640, 900),
        (segment([token("one", 10, 200)]), 200, None),  # one word may span the segment
        (segment([token("what", None, None), token("time", None, None)]), None, None),
        (segment([token("what", 0, 300), token("time", None, None)]), None, None),
        (segment([token("what", -1, -1), token("time", -1, -1)], end=900), None, 900),
        (segment([token("what", 0, 0), token("time", 0, 0)], end=900), None, 900),
        # every token stamped with the whole segment says nothing of words
        (segment([token("what", 0, 900), token("time", 0, 900)]), None, None),
        # offsets relative to the segment, placed by its startTimeMs
        (segment([token("five", 100, 400)], start=2000, end=2500), 2400, 2500),
        # a segment whose endTimeMs counts from its start too
        (segment([token("five", 100, 400)], start=2000, end=500), 2400, 2500),
        # a segment that contradicts its own times is not believed, in either of them
        (segment([token("five", 2100, 2400)], start=0, end=1000), None, None),
        # a word a little before its segment's start: a coarse grid, not relative offsets
        (segment([token("five", 1990, 2400)], start=2010, end=2500), 2400, 2500),
    ],
)
def test_a_segments_word_times_on_the_stream(raw: str, end: int | None, heard_to: int) -> None:
    got = heard(raw)
    assert (got.end_ms, got.heard_to_ms) == (end, heard_to)


def test_relative_offsets_learned_apply_where_the_segment_cannot_tell() -> None:
    raw = segment([token("light", 2100, 2400)], start=2000, end=4500)
    assert heard(raw).end_ms == 2400  # could be either: taken as absolute (the safe way)
    assert heard(raw, relative=True).end_ms == 4400


def test_the_running_text_joins_committed_text_and_the_interim() -> None:
    final = segment([token("what", 0, 300), token("time", 300, 640)], final=True, end=900)
    assert heard(final) == Heard("what time", True, True, 640, 900, True)
    interim = segment([token("is", 700, 800)], start=650, end=1000)
    assert heard(final, interim) == Heard("what time is", False, False, 800, 1000, False)
    empty = segment([], start=900, end=1100)
    assert heard(final, empty) == Heard("what time", False, False, 640, 1100, True)
    # an interim that repeats the final's words before its own adds only its own
    overlap = segment(
        [token("what", 0, 300), token("time", 300, 640), token("is", 700, 800)], end=1000
    )
    assert heard(final, overlap) == Heard("what time is", False, False, 800, 1000, False)
    repeat = segment([token("what", 0, 300), token("time", 300, 640)], end=1000)
    assert heard(final, repeat) == Heard("what time", False, False, 640, 1000, True)
    # an empty final commits nothing: it says nothing of the speech being over
    assert heard(segment([], final=True, end=400)) == Heard("", True, False, None, 400, False)
    assert heard(final, segment([], final=True, end=1200)) == Heard(
        "what time", True, False, 640, 1200, True
    )


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_simulator_convention_is_placed_back_on_the_stream(name: str) -> None:
    """The simulator's segments under each convention: the bridge finds the words' own end
    (or none) and how far the recogniser had heard, whatever the convention."""
    conventions = preset(name)
    span = Span(200, 1400)  # 300 ms of silence heard after "light"
    for final in (False, True):
        message = text_segment(conventions, WORDS, span, final, stop=True)
        got, observed = RunningText(relative=False).add(parse_message(json.dumps(message)))
        placeholder = conventions.offsets == "placeholder"
        assert got.end_ms == (None if placeholder else 1100), name
        assert got.heard_to_ms == (1400 if conventions.end_times else None), name
        assert got.text.rstrip(".") == "turn on the light"
        # absolute offsets show where the words' times cannot be relative, never otherwise
        shown = {"relative": Offsets.RELATIVE, "placeholder": Offsets.PLACEHOLDER}
        assert observed.offsets in {shown.get(conventions.offsets, Offsets.ABSOLUTE), None}


def test_provisional_last_words_stretch_until_silence_is_heard() -> None:
    conventions = preset("provisional_250")
    message = text_segment(conventions, WORDS, Span(0, 1150), False, stop=False)
    got, _ = RunningText().add(parse_message(json.dumps(message)))
    assert (got.end_ms, got.heard_to_ms) == (1150, 1150)


def test_what_the_bridge_learns_and_says() -> None:
    learned = Conventions()
    conventions = preset("punctuation_at_end_250")
    conventions.offsets = "relative"
    said = RunningText()
    for index in range(6):
        span = Span(200, 1400 + 250 * index)
        message = text_segment(conventions, WORDS, span, index == 5, stop=True)
        _, observed = said.add(parse_message(json.dumps(message)))
        learned.segment(observed, index == 5)
        learned.interim_gaps.add(250.0)
    learned.finishes.add(120.0)
    for lag in (30.0, 30.0, 30.0):
        learned.text_lags.add(lag)
    assert learned.offsets.value is Offsets.RELATIVE
    assert learned.punctuation.value is Punctuation.END
    assert learned.known()
    words = "; ".join(learned.describe(250))
    assert "interims every 250 ms (6 gaps" in words
    assert "token times relative to the segment (6 segments" in words
    assert "punctuation timed end (in interims too; 6 segments" in words
    assert "expected answer about 0.4 s after the end of speech" in words
    assert ("offsets", "relative", 6) in set(learned.labels())


def relative_segment(start: int) -> Observed:
    """What a segment shows whose only word starts 100 ms into it, its time relative."""
    raw = segment([token("light", 100, 400)], start=start, end=start + 500)
    return RunningText().add(parse_message(raw))[1]


def absolute_segment(start: int) -> Observed:
    """... and one whose word's time can only be the stream's."""
    raw = segment([token("light", start + 100, start + 400)], start=start, end=start + 500)
    return RunningText().add(parse_message(raw))[1]


def test_one_odd_segment_changes_no_learned_convention() -> None:
    learned = Conventions()
    learned.segment(relative_segment(3000), final=False)  # alone: not adopted
    assert {n: v for n, v, _ in learned.labels()}["offsets"] == "unknown"
    for start in range(1000, 5000, 500):
        learned.segment(absolute_segment(start), final=False)
    assert (learned.offsets.value, learned.offsets.support) == (Offsets.ABSOLUTE, 8)
    for start in (6000, 8000):  # odd ones among agreeing ones: nothing changes
        learned.segment(relative_segment(start), final=False)
        learned.segment(absolute_segment(start + 500), final=False)
    assert (learned.offsets.value, learned.offsets.given_up) == (Offsets.ABSOLUTE, 0)
    # a segment that contradicts its own times shows nothing at all
    raw = segment([token("five", 2100, 2400)], start=100, end=1000)
    assert RunningText().add(parse_message(raw))[1] == Observed()


def test_a_learned_convention_is_given_up_when_the_stream_contradicts_it() -> None:
    learned = Conventions()
    for start in range(1000, 3000, 500):
        learned.segment(absolute_segment(start), final=False)
    assert learned.offsets.value is Offsets.ABSOLUTE
    for start in (4000, 5000):
        learned.segment(relative_segment(start), final=False)
    assert learned.offsets.value is Offsets.ABSOLUTE  # two in a row: not yet
    learned.segment(relative_segment(6000), final=False)
    assert (learned.offsets.value, learned.offsets.support) == (Offsets.RELATIVE, 3)
    assert learned.offsets.given_up == 1 and learned.relative
    assert "offsets: a learned convention given up 1 time(s)" in learned.describe(250)
    assert ("offsets", 1) in set(learned.given_up())


def test_the_text_lag_is_the_default_until_measured_three_times() -> None:
    learned = Conventions()
    learned.round_trips.add(3.0)  # a fast round trip says nothing of the text's lag
    assert learned.lag_ms(300.0) == 300.0
    learned.text_lags.add(40.0)
    learned.text_lags.add(60.0)
    assert learned.lag_ms(300.0) == 300.0
    learned.text_lags.add(50.0)
    assert learned.lag_ms(300.0) == 50.0
