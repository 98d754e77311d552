"""The answer budget, a pure piece of a Truebar session."""

from __future__ import annotations

from wyoming_truebar.config.settings import merge
from wyoming_truebar.truebar.budget import AnswerBudget

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
