"""The answer budget and the running text, the two pure pieces of a Truebar session."""

from __future__ import annotations

from wyoming_truebar.budget import AnswerBudget
from wyoming_truebar.protocol import Message, RunningText, Token
from wyoming_truebar.settings import merge

SETTINGS = merge({}, {"TRUEBAR_USERNAME": "u", "TRUEBAR_PASSWORD": "p"}, {})


def test_tries_are_unbounded_while_the_user_speaks() -> None:
    budget = AnswerBudget(SETTINGS)
    for _ in range(50):
        budget.connecting()
        assert not budget.out_of_tries(1e9)
    assert budget.pause(0.8, 1e9) == 0.8


def test_after_the_end_of_speech_the_limits_count() -> None:
    budget = AnswerBudget(SETTINGS)  # defaults: 3 s budget, 3 s for tries, 3 connections
    budget.stop(100.0, 0.0, connected=True)
    assert (budget.answer_by, budget.deadline, budget.extra) == (103.0, 103.0, 0.0)
    budget.stop(200.0, 0.0, connected=True)  # only the first end counts
    assert budget.answer_by == 103.0
    assert not budget.out_of_tries(100.5)
    budget.connecting()
    budget.connecting()  # with the one open at the end of speech: 3
    assert budget.out_of_tries(100.5)
    assert AnswerBudget(SETTINGS).out_of_tries(0.0) is False
    late = AnswerBudget(SETTINGS)
    late.stop(100.0, 0.0, connected=False)
    assert late.pause(1.0, 102.5) == 0.5  # never sleeps past the last start
    assert late.out_of_tries(103.0)


def test_a_recording_gets_its_length_on_top() -> None:
    budget = AnswerBudget(SETTINGS)
    budget.stop(100.0, live_end=108.0, connected=True)
    assert (budget.extra, budget.answer_by, budget.deadline) == (8.0, 111.0, 111.0)
    live = AnswerBudget(SETTINGS)
    live.stop(100.0, live_end=99.99, connected=True)
    assert live.answer_by == 103.0


def segment(final: bool, *words: tuple[str, int | None]) -> Message:
    tokens = tuple(Token(w, start_ms=None if e is None else e - 100, end_ms=e) for w, e in words)
    return Message("TEXT_SEGMENT", final=final, tokens=tokens)


def said_after(said: RunningText, message: Message) -> tuple[str, int | None, bool]:
    """The running text the endpointer would be given, its last word's end, and whether the
    segment committed text."""
    interim, end, added = said.add(message)
    return said.running(interim), end, added


def test_running_text_joins_committed_and_interim_with_the_last_word_end() -> None:
    said = RunningText()
    assert said_after(said, segment(False, ("what", 300))) == ("what", 300, False)
    final = segment(True, ("what", 300), ("time", 640))
    assert said_after(said, final) == ("what time", 640, True)
    assert said_after(said, segment(False, ("is", 800))) == ("what time is", 800, False)
    assert said_after(said, segment(False)) == ("what time", 640, False)  # an empty interim
    assert said.assembler.text == "what time"
    assert not said.untimed


def test_untimed_tokens_stop_word_times_for_the_utterance() -> None:
    said = RunningText()
    assert said_after(said, segment(False, ("what", None))) == ("what", None, False)
    assert said.untimed
    assert said_after(said, segment(True, ("what", 300))) == ("what", None, True)
    replay = RunningText(untimed=said.untimed)  # a reconnect's attempt keeps knowing it
    assert said_after(replay, segment(False, ("what", 300))) == ("what", None, False)
