"""The endpointer (pure): the bundled spoken commands through the real voice activity detector
(earshot), with Truebar's text as it would arrive; table-driven."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from truebar_sim.fixtures import load_fixtures, load_pause_fixtures
from wyoming_truebar.ending.endpointing import (
    CONTINUATION_WORDS,
    MODIFIER_WORDS,
    QUESTION_OPENERS,
    Ending,
    Endpointer,
    EndpointRules,
    Judge,
    earshot_vad,
    last_word,
    word_list,
)
from wyoming_truebar.ending.heard import Heard

CHUNK = 320  # Home Assistant's 10 ms
SILENCE = bytes(2 * 32000)
RULES = EndpointRules(300, 1000, CONTINUATION_WORDS["en"])


Text = tuple[str, bool] | tuple[str, bool, int | None]
"""(text, final) — its last word ending where the speech ends — or (text, final, end_ms);
end_ms STRETCHED: the last word reaches the recogniser's position (a provisional one)."""
STRETCHED = -1


def run(
    pcm: bytes,
    rules: EndpointRules,
    text_at: Mapping[int, Text],
    lag_ms: int = 0,
    heard_to: bool = True,
    judge: Judge | None = None,
) -> Endpointer:
    """Feed audio in 10 ms chunks; at chunk index i hand over text_at[i]; stop at a decision.
    Truebar repeats its latest text every 250 ms (as the simulator's interims do), having
    heard the audio up to `lag_ms` before (its endTimeMs; none without `heard_to`)."""
    endpointer = Endpointer(rules, earshot_vad(), judge)
    endpointer.lag_ms = max(lag_ms, 50)
    spoken_to = speech_end_chunk(pcm) * 10
    latest: tuple[str, bool, int | None] | None = None
    audio = bytearray()  # the session's buffer, as the handler hands it over

    def tell(text: str, final: bool, end: int | None, position: int) -> None:
        heard = position - lag_ms
        if end == STRETCHED:
            end = heard
        endpointer.text(Heard(text, final, final, end, heard if heard_to else None, final))

    for index, offset in enumerate(range(0, len(pcm), CHUNK)):
        if index in text_at:
            given = text_at[index]
            latest = (given[0], given[1], given[2] if len(given) == 3 else spoken_to)
            tell(*latest, index * 10)
        elif latest is not None and index % 25 == 0:
            tell(latest[0], latest[1], latest[2], index * 10)
        audio += pcm[offset : offset + CHUNK]
        if len(audio) >= endpointer.next_at and endpointer.advance(audio) is not None:
            break
    return endpointer


def speech_end_chunk(pcm: bytes) -> int:
    """The index of the chunk in which the fixture's speech ends (by energy)."""
    import numpy as np  # noqa: PLC0415

    samples = np.frombuffer(pcm, "<i2").astype(np.float32)
    loud = np.nonzero(np.abs(samples) > 300)[0]
    return int(loud[-1]) // 160


@pytest.mark.parametrize("fixture", load_fixtures(), ids=lambda f: f.path.stem)
def test_a_complete_command_ends_after_the_short_silence(fixture: object) -> None:
    pcm = fixture.pcm() + SILENCE  # type: ignore[attr-defined]
    end = speech_end_chunk(pcm)
    heard = run(pcm, RULES, {end: (fixture.text, False)})  # type: ignore[attr-defined]
    assert heard.decision is Ending.SILENCE_AND_TEXT
    assert heard.speech_end_ms is not None
    silence = heard.now_ms - heard.speech_end_ms
    assert RULES.silence_ms <= silence < RULES.silence_ms + 250 + 16  # the next repeat at most
    assert abs(heard.speech_end_ms - end * 10) <= 250  # the detector's own end of speech


def test_a_command_ending_in_a_function_word_waits_for_the_long_silence() -> None:
    fixture = load_fixtures()[0]
    pcm = fixture.pcm() + SILENCE
    heard = run(pcm, RULES, {speech_end_chunk(pcm): ("turn on the", False)})
    assert heard.decision is Ending.LONG_SILENCE
    assert heard.speech_end_ms is not None
    assert heard.now_ms - heard.speech_end_ms >= RULES.max_silence_ms


@pytest.mark.parametrize(
    ("text", "words", "ending"),
    [
        ("", CONTINUATION_WORDS["en"], Ending.LONG_SILENCE),  # nothing recognised yet
        ("turn on the kitchen light", None, Ending.LONG_SILENCE),  # a language with no list
        ("turn on the kitchen light uh", CONTINUATION_WORDS["en"], Ending.LONG_SILENCE),
        ("turn on the kitchen light.", CONTINUATION_WORDS["en"], Ending.SILENCE_AND_TEXT),
        ("prižgi luč v", CONTINUATION_WORDS["sl"], Ending.LONG_SILENCE),
        ("prižgi luč v kuhinji", CONTINUATION_WORDS["sl"], Ending.SILENCE_AND_TEXT),
    ],
)
def test_what_the_text_says_decides_between_short_and_long(
    text: str, words: frozenset[str] | None, ending: Ending
) -> None:
    pcm = load_fixtures()[0].pcm() + SILENCE
    rules = EndpointRules(300, 1000, words)
    heard = run(pcm, rules, {speech_end_chunk(pcm): (text, False)})
    assert heard.decision is ending


def test_a_final_after_the_speech_ends_it_sooner() -> None:
    pcm = load_fixtures()[0].pcm() + SILENCE
    end = speech_end_chunk(pcm)
    heard = run(pcm, RULES, {end + 15: ("turn on the kitchen light", True)})
    assert heard.decision is Ending.TRUEBAR_FINAL
    assert heard.speech_end_ms is not None
    assert heard.now_ms - heard.speech_end_ms < RULES.silence_ms


def test_text_that_changes_during_the_silence_postpones_the_end() -> None:
    pcm = load_fixtures()[0].pcm() + SILENCE
    end = speech_end_chunk(pcm)
    texts = {end: ("turn on the", False), end + 45: ("turn on the kitchen light", False)}
    heard = run(pcm, RULES, texts)
    assert heard.decision is Ending.SILENCE_AND_TEXT
    assert heard.now_ms >= (end + 45) * 10


def test_a_provisional_last_word_never_ends_a_command_on_the_short_silence() -> None:
    """An interim's last word that reaches the recogniser's position ("kitchen" while
    "light" is still being decoded) covers the audio without covering the words."""
    pcm = load_fixtures()[0].pcm() + SILENCE
    end = speech_end_chunk(pcm)
    heard = run(pcm, RULES, {end: ("turn on the kitchen", False, STRETCHED)})
    assert heard.decision is Ending.LONG_SILENCE
    assert heard.covering_text == ""
    texts: dict[int, Text] = {
        end: ("turn on the kitchen", False, STRETCHED),
        end + 20: ("turn on the kitchen light", False),  # silence heard after "light"
    }
    heard = run(pcm, RULES, texts)
    assert heard.decision is Ending.SILENCE_AND_TEXT
    assert heard.covering_text == "turn on the kitchen light"


def test_stale_text_waits_for_a_segment_that_heard_past_the_end_of_speech() -> None:
    """Text that had heard only up to 200 ms before it came: the same words count only
    once a segment that heard the end of the speech has come."""
    pcm = load_fixtures()[0].pcm() + SILENCE
    end = speech_end_chunk(pcm)
    heard = run(pcm, RULES, {end: ("turn on the kitchen light", False)}, lag_ms=200)
    assert heard.decision is Ending.SILENCE_AND_TEXT
    assert heard.speech_end_ms is not None
    assert heard.now_ms - 200 >= heard.speech_end_ms


def test_without_how_far_truebar_heard_the_same_words_twice_after_the_lag_settle_them() -> None:
    pcm = load_fixtures()[0].pcm() + SILENCE
    end = speech_end_chunk(pcm)
    texts: dict[int, Text] = {end: ("turn on the kitchen light", False)}
    heard = run(pcm, RULES, texts, lag_ms=120, heard_to=False)
    assert heard.decision is Ending.SILENCE_AND_TEXT
    assert heard.speech_end_ms is not None
    assert heard.now_ms >= heard.speech_end_ms + 120
    # a last word stretched to a moving end is never kept
    texts = {end: ("turn on the kitchen", False, STRETCHED)}
    heard = run(pcm, RULES, texts, lag_ms=120, heard_to=False)
    assert heard.decision is Ending.LONG_SILENCE


@pytest.mark.parametrize(
    "fixture",
    [f for f in load_pause_fixtures(None) if f.kind == "function_word"],
    ids=lambda f: f.path.stem,
)
def test_a_pause_after_a_function_word_is_never_cut(fixture: object) -> None:
    """The text up to the pause ends in a function word: the command goes on after it (in
    English and in Slovenian, by each language's own word list)."""
    pcm = fixture.pcm() + SILENCE  # type: ignore[attr-defined]
    words = fixture.before.split()  # type: ignore[attr-defined]
    language = fixture.language  # type: ignore[attr-defined]
    rules = EndpointRules(250, 1000, CONTINUATION_WORDS[language])  # the default silence
    # Truebar has recognised the part before the pause, and says so again and again.
    heard = run(pcm, rules, {0: (" ".join(words), False)})
    assert heard.decision is not None
    assert heard.now_ms > speech_end_chunk(pcm) * 10  # not during the pause: after the speech


@pytest.mark.parametrize(
    "fixture",
    [f for f in load_pause_fixtures() if f.kind == "noise"],
    ids=lambda f: f.path.stem,
)
def test_background_noise_after_a_command_counts_as_silence(fixture: object) -> None:
    pcm = fixture.pcm()  # type: ignore[attr-defined]
    heard = run(pcm, RULES, {0: (fixture.text, False)})  # type: ignore[attr-defined]
    assert heard.decision is Ending.SILENCE_AND_TEXT


def test_text_that_does_not_cover_the_speech_never_ends_the_command_early() -> None:
    """ "turn on the kitchen" whose last word ended long before the speech did ("light"
    unheard yet): neither the short silence nor a final (one for an earlier segment, late)
    ends the command; a final that covers the speech does."""
    pcm = load_fixtures()[0].pcm() + SILENCE
    end = speech_end_chunk(pcm)
    early_word_end = end * 10 - 450
    heard = run(pcm, RULES, {end: ("turn on the kitchen", False, early_word_end)})
    assert heard.decision is Ending.LONG_SILENCE
    assert heard.covering_text == ""
    texts: dict[int, Text] = {
        end: ("turn on the kitchen", False, early_word_end),
        end + 50: ("turn on the kitchen", True, early_word_end),
    }
    assert run(pcm, RULES, texts).decision is Ending.LONG_SILENCE
    texts[end + 50] = ("turn on the kitchen light", True)
    heard = run(pcm, RULES, texts)
    assert heard.decision is Ending.TRUEBAR_FINAL
    assert heard.now_ms >= (end + 50) * 10


def test_text_with_no_word_times_falls_back_to_truebars_final_or_the_long_silence() -> None:
    pcm = load_fixtures()[0].pcm() + SILENCE
    end = speech_end_chunk(pcm)
    heard = run(pcm, RULES, {end: ("turn on the kitchen light", False, None)})
    assert heard.decision is Ending.LONG_SILENCE
    assert heard.untimed
    heard = run(pcm, RULES, {end + 30: ("turn on the kitchen light", True, None)})
    assert heard.decision is Ending.TRUEBAR_FINAL


@pytest.mark.parametrize(
    ("text", "waits"),
    [
        ("turn off the bedroom", True),  # a room word: a noun may follow
        ("lock the front", True),
        ("is the back door", True),  # a yes/no question: its predicate may follow
        ("turn off the bedroom light", False),
        ("play some music in the office", False),
        ("prižgi luč v dnevni", True),
        ("prižgi luč v dnevni sobi", False),
    ],
)
def test_a_pause_after_a_modifier_or_in_a_question_waits_the_modifier_silence(
    text: str, waits: bool
) -> None:
    pcm = load_fixtures()[0].pcm() + SILENCE
    language = "sl" if text.startswith("prižgi") else "en"
    rules = EndpointRules(
        250,
        1000,
        CONTINUATION_WORDS[language],
        modifiers=MODIFIER_WORDS[language],
        openers=QUESTION_OPENERS[language],
        modifier_silence_ms=650,
    )
    heard = run(pcm, rules, {speech_end_chunk(pcm): (text, False)})
    assert heard.decision is Ending.SILENCE_AND_TEXT
    assert heard.speech_end_ms is not None
    silence = heard.now_ms - heard.speech_end_ms
    assert (silence >= 650) is waits, silence


def test_no_early_end_comes_before_the_tail() -> None:
    pcm = load_fixtures()[0].pcm() + SILENCE
    rules = EndpointRules(100, 1000, CONTINUATION_WORDS["en"], tail_ms=300)
    heard = run(pcm, rules, {speech_end_chunk(pcm): ("turn on the kitchen light", False)})
    assert heard.decision is Ending.SILENCE_AND_TEXT
    assert heard.speech_end_ms is not None
    assert heard.now_ms - heard.speech_end_ms >= 300


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Set a timer for.", "for"),
        ("", ""),
        ("Set the temperature to 21 !", "21"),  # an NLP stage writes numbers
        ("what's", "what's"),
        ("Če", "če"),
    ],
)
def test_last_word(text: str, word: str) -> None:
    assert last_word(text) == word


def test_word_lists_by_language_and_overrides() -> None:
    assert word_list("en-US", {}) == CONTINUATION_WORDS["en"]
    assert word_list("sl", {}) == CONTINUATION_WORDS["sl"]
    assert word_list("fr-FR", {}) is None
    assert word_list("en-GB", {"en": frozenset({"x"})}) == frozenset({"x"})
    assert word_list("fr", {"fr": frozenset()}) == frozenset()


def test_the_detector_skips_every_other_frame_of_a_steady_silence_and_no_speech() -> None:
    import numpy as np  # noqa: PLC0415

    vad = earshot_vad()
    silence = np.zeros(256, "<i2")
    answers = [vad(silence) for _ in range(9)]
    run_frames = [a for a in answers if a != 0.0]
    assert all(0.0 < a < 0.3 for a in run_frames)  # earshot's silence: confidently quiet
    assert answers[2] == answers[4] == answers[6] == answers[8] == 0.0  # skipped, as silence
    assert len(run_frames) == 5
    # Over a spoken command a frame is skipped only after two quiet ones, never in speech.
    pcm = load_fixtures()[0].pcm()
    samples = np.frombuffer(pcm, "<i2")
    vad = earshot_vad()
    answers = [vad(samples[i : i + 256].copy()) for i in range(0, len(samples) - 255, 256)]
    for index in range(2, len(answers)):
        if answers[index] == 0.0:
            assert answers[index - 1] < 0.3 and answers[index - 2] < 0.3
    assert sum(a >= 0.5 for a in answers) > 20
