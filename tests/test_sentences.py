"""Home Assistant's sentences decide whether a paused command is complete (issue 37): the
matcher with strings (table-driven, English and Slovenian, with a home's names and with names
as wildcards), the endpointer given a judge, the judge off the event loop, and the names read
from Home Assistant's answers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.conftest import bridge_settings
from tests.test_endpointing import run, speech_end_chunk
from truebar_sim.fixtures import PauseFixture, load_pause_fixtures
from wyoming_truebar.ending.endpointing import (
    CONTINUATION_WORDS,
    MODIFIER_WORDS,
    Ending,
    EndpointRules,
    Judge,
    Verdict,
)
from wyoming_truebar.ending.live import Sensitivity
from wyoming_truebar.home.completeness import Completeness
from wyoming_truebar.home.ha_answers import (
    ShapeError,
    Tally,
    exposed_ids,
    most_patient,
    places,
    registry_entries,
    sensitivity_selects,
    states_added,
)
from wyoming_truebar.home.ha_answers import home_names as ha_home_names
from wyoming_truebar.home.home_names import Access, access, websocket_url
from wyoming_truebar.home.names import HomeNames, Name
from wyoming_truebar.home.sentences import (
    Guards,
    matcher,
    sentence_language,
    slot_lists,
)

HOME_EN = HomeNames(
    (
        Name("kitchen light", "light"),
        Name("bedroom light", "light"),
        Name("garage door", "cover", "garage"),
        Name("front door", "lock"),
        Name("back door", "lock"),
        Name("thermostat", "climate"),
        Name("living room blinds", "cover", "blind"),
    ),
    ("kitchen", "bedroom", "living room", "office"),
    ("upstairs",),
)
HOME_SL = HomeNames(
    (
        Name("Luč", "light"),
        Name("Garažna vrata", "cover", "garage"),
        Name("Vhodna vrata", "lock"),
        Name("Termostat", "climate"),
        Name("Radio", "media_player"),
    ),
    ("Kuhinja", "kuhinji", "Spalnica", "spalnici", "Dnevna soba", "dnevni sobi"),
    (),
)
YES, NO = Verdict.COMPLETE, Verdict.INCOMPLETE
ENGLISH = [
    # (text, with the home's names, with names as wildcards)
    ("open", NO, NO),
    ("open the garage door", YES, YES),
    ("close the garage door", YES, YES),
    ("turn off", NO, NO),
    ("turn off the", NO, NO),
    ("turn off the bedroom", NO, NO),
    ("turn off the bedroom light", YES, YES),
    ("turn on the kitchen light", YES, YES),
    ("set", NO, NO),
    ("set a timer for five", NO, NO),
    ("set a timer for five minutes", YES, YES),
    ("what time", NO, NO),
    ("what time is it", YES, YES),
    ("tell me a joke", NO, NO),
    ("tell me a joke about cats", NO, NO),
    ("add milk", NO, NO),
    ("add milk to my shopping list", YES, YES),
    ("lock", NO, NO),
    ("lock the front", NO, NO),
    ("lock the front door", YES, NO),  # lock's sentences need the lock domain: a name's
    ("unlock the back door", YES, NO),
    ("is the back door", NO, NO),
    ("is the back door locked", YES, NO),
    ("set the temperature to twenty degrees", YES, YES),  # the satellite's area
    ("play some music in the", NO, NO),
    ("play some music in the living", NO, NO),
    ("play some music in the office", YES, YES),
    ("what should i cook", NO, NO),
    ("what should i cook for dinner tonight", NO, NO),
]
SLOVENIAN = [
    ("odpri", NO, NO),
    ("odpri garažna vrata", YES, YES),
    ("zapri", NO, NO),
    ("zapri garažna vrata", YES, YES),
    ("prižgi", NO, NO),
    ("prižgi luč v", NO, NO),
    ("prižgi luč v kuhinji", YES, YES),
    ("zakleni", NO, NO),
    ("zakleni vhodna vrata", YES, NO),
    ("nastavi", NO, NO),
    ("nastavi časovnik za pet", NO, NO),
    ("nastavi časovnik za pet minut", YES, YES),
    ("nastavi časovnik za 5 minut", YES, YES),
    ("koliko je", NO, NO),
    ("koliko je ura", YES, YES),
    ("povej mi šalo", NO, NO),
    ("povej mi šalo o mačkah", NO, NO),
    ("nastavi temperaturo na 20 stopinj", YES, YES),
]


def whole(language: str, text: str, home: HomeNames) -> Verdict:
    """Whether the text is a whole command in the language's sentences (YES or NO, whatever
    could follow), with the built-in guards."""
    guards = Guards(CONTINUATION_WORDS[language], MODIFIER_WORDS[language])
    return YES if matcher(language).whole(text, slot_lists(home), guards) else NO


@pytest.mark.parametrize(("text", "named", "wild"), ENGLISH)
def test_english_sentences_know_a_whole_command(text: str, named: Verdict, wild: Verdict) -> None:
    assert whole("en", text, HOME_EN) is named
    assert whole("en", text, HomeNames()) is wild


@pytest.mark.parametrize(("text", "named", "wild"), SLOVENIAN)
def test_slovenian_sentences_know_a_whole_command(text: str, named: Verdict, wild: Verdict) -> None:
    assert whole("sl", text, HOME_SL) is named
    assert whole("sl", text, HomeNames()) is wild


def test_punctuation_and_case_do_not_matter() -> None:
    assert whole("en", "Open the garage door.", HOME_EN) is YES
    assert whole("en", "", HOME_EN) is NO


def test_a_client_may_name_what_the_home_has() -> None:
    """transcript_names (wyoming 1.10): names without a domain still complete the generic
    sentences."""
    home = HomeNames().with_names(["porch lamp"])
    assert whole("en", "turn on the porch lamp", home) is YES
    assert whole("en", "turn on the porch", home) is NO


def test_languages_map_to_the_sentence_data() -> None:
    assert sentence_language("en-US") == "en"
    assert sentence_language("sl_SI") == "sl"
    assert sentence_language("de-DE") == "de"
    assert sentence_language("tlh") is None


RULES = EndpointRules(300, 1000, CONTINUATION_WORDS["en"], incomplete_silence_ms=800)


def judge_of(verdicts: dict[str, Verdict]) -> Judge:
    return lambda text: verdicts.get(text, Verdict.INCOMPLETE)


def pause_fixture(name: str) -> PauseFixture:
    return next(f for f in load_pause_fixtures() if f.path.name == name)


def test_an_incomplete_text_waits_the_longer_silence_and_a_complete_one_does_not() -> None:
    """'open … the garage door': at the pause the text is 'open', which the sentences do not
    complete, so the 600 ms pause passes (800 ms would end it); the whole command ends after
    the short silence. The word lists alone would have ended on 'open'."""
    fixture = pause_fixture("open__the_garage_door.wav")
    pcm = fixture.pcm() + bytes(64000)
    verb_end = 30 + 45  # the lead, then "open" (chunks of 10 ms)
    texts = {
        verb_end + 10: ("open", False),
        speech_end_chunk(pcm) + 5: ("open the garage door", False),
    }
    judged = run(pcm, RULES, texts, judge=judge_of({"open the garage door": Verdict.COMPLETE}))
    assert (judged.decision, judged.covering_text) == (
        Ending.SILENCE_AND_TEXT,
        "open the garage door",
    )
    by_words = run(pcm, RULES, {verb_end + 10: ("open", False)})
    assert by_words.decision is Ending.SILENCE_AND_TEXT  # the word list ends it at the pause
    assert by_words.covering_text == "open"


def test_until_the_verdict_comes_the_text_counts_as_incomplete() -> None:
    loop = asyncio.new_event_loop()
    try:
        future: asyncio.Future[Verdict] = loop.create_future()
        fixture = pause_fixture("open__the_garage_door.wav")
        pcm = fixture.pcm() + bytes(64000)
        end = speech_end_chunk(pcm)
        pending = run(
            pcm, RULES, {end + 5: ("open the garage door", False)}, judge=lambda _: future
        )
        # the verdict never came: not the short silence, the incomplete one ended it
        assert pending.decision is Ending.SILENCE_AND_TEXT
        assert pending.now_ms - (pending.speech_end_ms or 0) >= 800
    finally:
        loop.close()


async def test_the_judge_works_off_the_event_loop_and_keeps_its_verdicts() -> None:
    completeness = Completeness()
    completeness.set_names(HOME_EN)
    await completeness.warm(["en-US"])  # the sentences loaded, the grammar built
    judge = completeness.judge_for("en-US")
    assert judge is not None
    first = judge("lock the front door")
    assert isinstance(first, asyncio.Future)
    assert await first is Verdict.COMPLETE
    checks = completeness.checks
    assert judge("lock the front door") is Verdict.COMPLETE  # kept: no second match
    assert completeness.checks == checks
    completeness.set_names(HomeNames())  # the names changed: the same text judged anew
    again = completeness.judge_for("en")
    assert again is not None
    verdict = again("lock the front door")
    assert not isinstance(verdict, Verdict)
    assert await verdict is Verdict.INCOMPLETE  # lock's sentences need a lock's name
    assert completeness.checks == checks + 1
    assert completeness.judge_for("tlh") is None  # no sentence data: the word lists
    assert Completeness(enabled=False).judge_for("en") is None
    long = judge(" ".join(["word"] * 40))
    assert long is Verdict.INCOMPLETE  # free-form speech: no match tried
    completeness.close()


async def test_judging_never_holds_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A judgement that takes long (a big home's match; here made to take 0.3 s, the one
    failure injected) runs off the event loop: the judge answers a future at once, and the
    loop keeps its 10 ms ticks while the judgement runs. Were the judging done on the loop,
    the ticks would come 0.3 s late."""
    completeness = Completeness()
    await completeness.warm(["sl"])
    found = matcher("sl")
    whole = found.whole

    def slow(*args: Any, **kwargs: Any) -> bool:
        time.sleep(0.3)  # holds its thread, as a C call in hassil would
        return whole(*args, **kwargs)

    monkeypatch.setattr(found, "whole", slow)
    judge = completeness.judge_for("sl")
    assert judge is not None
    began = time.perf_counter()
    verdict = judge("prižgi luč v kuhinji")
    assert isinstance(verdict, asyncio.Future)  # not a verdict worked out on the spot
    assert time.perf_counter() - began < 0.05
    late, ticks = 0.0, 0
    while not verdict.done():
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        late, ticks = max(late, time.perf_counter() - before - 0.01), ticks + 1
    assert await verdict is not Verdict.INCOMPLETE  # whole (a name may go on: no names here)
    assert ticks >= 15  # the loop ran on through the judgement
    assert late < 0.1, late
    completeness.close()


STATES = {
    "a": {
        "light.kitchen": {"s": "off", "a": {"friendly_name": "Kitchen light"}},
        "cover.garage": {
            "s": "open",
            "a": {"friendly_name": "Garage door", "device_class": "garage"},
        },
        "lock.front_door": {"s": "locked", "a": {}},
        "switch.odd": {"s": "on", "a": "not a mapping"},
        "no-dot": {"s": "on", "a": {}},
    }
}


def test_the_names_are_read_as_home_assistants_agent_matches_them() -> None:
    """Names from the states of the exposed entities (their friendly names), the registry
    (aliases; the name of an entity with no state yet), the area and floor registries; a
    malformed entry left out and counted, the others kept."""
    tally = Tally()
    exposed = exposed_ids(
        {
            "exposed_entities": {
                "light.kitchen": {"conversation": True},
                "cover.garage": {"conversation": True, "cloud.alexa": False},
                "lock.front_door": {"conversation": True},
                "switch.odd": {"conversation": True},
                "vacuum.not_loaded": {"conversation": True},
                "switch.hidden": {"conversation": False},
            }
        },
        tally,
    )
    entries = registry_entries(
        {
            "light.kitchen": {"aliases": ["ceiling lamp", None, ""]},
            "vacuum.not_loaded": {"name": None, "original_name": "Robot"},
            "switch.hidden": None,
        },
        tally,
    )
    names = ha_home_names(
        exposed,
        entries,
        states_added(STATES, tally),
        places([{"name": "Kitchen", "aliases": ["kuhinja"]}, {"name": "Office"}], "areas", tally),
        places([{"name": "Upstairs", "aliases": []}], "floors", tally),
    )
    assert names.entities == (
        Name("Kitchen light", "light", None, "light.kitchen"),
        Name("ceiling lamp", "light", None, "light.kitchen"),
        Name("Garage door", "cover", "garage", "cover.garage"),
        Name("front door", "lock", None, "lock.front_door"),
        Name("odd", "switch", None, "switch.odd"),
        Name("Robot", "vacuum", None, "vacuum.not_loaded"),
    )
    assert (names.areas, names.floors) == (("Kitchen", "kuhinja", "Office"), ("Upstairs",))
    assert tally.skipped == {"state": 2}


@pytest.mark.parametrize(
    "answer",
    [[1, 2], None, {"exposed_entities": [1]}, {"exposed_entities": "all"}],
)
def test_an_answer_of_the_wrong_shape_is_a_shape_error(answer: object) -> None:
    with pytest.raises(ShapeError):
        exposed_ids(answer, Tally())


def test_where_home_assistant_is() -> None:
    assert websocket_url("http://ha.local:8123") == "ws://ha.local:8123/api/websocket"
    assert websocket_url("https://ha.example/") == "wss://ha.example/api/websocket"
    assert websocket_url("ws://supervisor/core/websocket") == "ws://supervisor/core/websocket"
    plain = bridge_settings(None)
    assert access(plain, {}) is None  # no access: names stay wildcards
    add_on = access(plain, {"SUPERVISOR_TOKEN": "s3cret"})
    assert add_on is not None
    assert (add_on.url, add_on.source) == (
        "ws://supervisor/core/websocket",
        "the add-on's Supervisor",
    )
    configured = bridge_settings(None, hass_url="http://ha:8123", hass_token="t0ken")
    found = access(configured, {"SUPERVISOR_TOKEN": "s3cret"})
    assert found == Access("ws://ha:8123/api/websocket", "t0ken", "hass_url")
    assert "t0ken" not in repr(found)
    assert "t0ken" not in repr(configured)


def test_a_command_known_complete_waits_the_shorter_silence() -> None:
    """The sentences' COMPLETE waits endpoint_complete_silence_ms (never below the tail), the
    word lists endpoint_silence_ms, an incomplete text the longer silence."""
    rules = EndpointRules(250, 1000, CONTINUATION_WORDS["en"], complete_silence_ms=150, tail_ms=100)
    text = "turn on the light"
    assert rules.judged_wait_ms(text, Verdict.COMPLETE, after_final=False) == 150
    assert rules.wait_ms(text, after_final=False) == 250
    assert rules.judged_wait_ms(text, Verdict.EXTENDABLE, after_final=False) == 350
    assert rules.judged_wait_ms(text, Verdict.TARGET_OPEN, after_final=False) == 600
    assert rules.judged_wait_ms(text, Verdict.TARGET_OPEN, after_final=True) == 600
    assert rules.judged_wait_ms(text, Verdict.INCOMPLETE, after_final=False) == 800
    assert rules.judged_wait_ms(text, None, after_final=False) == 800
    tail_bound = EndpointRules(250, 1000, None, complete_silence_ms=50, tail_ms=150)
    assert tail_bound.judged_wait_ms(text, Verdict.COMPLETE, after_final=False) == 150


def test_the_satellites_finished_speaking_selects_are_read_and_the_most_patient_wins() -> None:
    """The selects are found by their translation key in the entity list, malformed entries
    left out and counted; the bridge follows the most patient value any satellite asks for
    (it cannot tell which satellite speaks); values it does not know count as none."""
    tally = Tally()
    listed = {
        "entities": [
            {"ei": "select.kitchen_satellite_finished_speaking_detection", "tk": "vad_sensitivity"},
            {"ei": "select.office_satellite_finished_speaking_detection", "tk": "vad_sensitivity"},
            {"ei": "sensor.kitchen_satellite_vad", "tk": "vad_sensitivity"},  # not a select
            {"ei": "select.pipeline", "tk": "pipeline"},
            {"ei": "no-dot", "tk": "vad_sensitivity"},
            "not a mapping",
        ]
    }
    assert sensitivity_selects(listed, tally) == [
        "select.kitchen_satellite_finished_speaking_detection",
        "select.office_satellite_finished_speaking_detection",
    ]
    assert tally.skipped == {"listed entity": 2}
    assert most_patient(["default", "relaxed", "aggressive"]) is Sensitivity.RELAXED
    assert most_patient(["aggressive", "default"]) is Sensitivity.DEFAULT
    assert most_patient(["aggressive", "unavailable"]) is Sensitivity.AGGRESSIVE
    assert most_patient(["unknown", "unavailable"]) is None
    assert most_patient([]) is None
    with pytest.raises(ShapeError):
        sensitivity_selects(["a list"], tally)
