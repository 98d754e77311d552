"""A benchmark, not a test (collected only when named, by `script/test-ha --bench OUT`): end of
speech → `stt-end` in Home Assistant's own assist pipeline, with the bridge's endpointing off
and on, under the simulator's stream conventions (RUNS).

Each bundled command plays through a microphone in real time (half a second of quiet, the
command, 3 s of silence), ROUNDS times, then each pause fixture once, one pipeline at a
time (see AT_ONCE), with Home Assistant's default finished-speaking detection. The bridge
reads the test home's names (the suites' English and Slovenian homes) from Home Assistant's
own API. The
percentiles are the commands'; every transcript is compared with the simulator's text for
the whole clip sent directly (a difference is a word lost). The end of speech is where the
command's audio last rises above the energy floor, or its last word ends where the words
are known (truebar_sim.fixtures.speech_end_of).
Nothing here asserts a time: each configuration prints one line `HA_BENCH <json>` that the
caller collects.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
from typing import Any

import aiohttp
import pytest
from homeassistant.components.assist_pipeline.pipeline import (
    PipelineEventType,
    async_get_pipeline,
    async_update_pipeline,
)
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant

from tests.procs import Proc
from tests.truebar_client import password_grant, stream_pcm
from tests_ha.conftest import (
    SAMPLE_BYTES_PER_SECOND,
    SILENCE_SECONDS,
    HomeApi,
    Microphone,
    ha_pieces,
    own_bridge,
    set_satellite_sensitivity,
    set_up_english_home,
    start_sim,
)
from tests_ha.test_home_assistant import run_pipeline
from tests_ha.test_slovenian import set_up_home
from truebar_sim.fixtures import (
    Fixture,
    load_fixtures,
    load_pause_fixtures,
    load_slovenian_fixtures,
    speech_end_of,
)

LEAD = 16000
"""Half a second of quiet before the command (bytes)."""
ROUNDS = 1
AT_ONCE = 3
"""Pipelines at a time, as in a home with three satellites: the simulator looks its decodes up
in the record made from the fixtures (`truebar_sim/fixtures/decodes.json.gz`) and has two
decoders for the rest, so a stream's text no longer waits for the others' decodes (with one
live pocketsphinx decoder it did: p95 510 ms at 3 at a time). Every row of a table shares
this load, so the rows compare in one run."""


RUNS = (
    ("default", "off"),
    ("default", "words"),
    ("default", "on"),
    ("default", "relaxed"),
    ("default", "aggressive"),
    ("default", "off-aggressive"),
    ("interims_250", "relaxed"),
    ("interims_250", "aggressive"),
    ("interims_250", "words"),
    ("sl:default", "off"),
    ("sl:default", "words"),
    ("sl:default", "on"),
    ("sl:provisional_250", "on"),
    ("sl:network_120", "on"),
    ("interims_250", "on"),
    ("interims_500", "on"),
    ("interims_1000", "on"),
    ("interims_off", "on"),
    ("provisional_250", "on"),
    ("relative_offsets_250", "on"),
    ("coarse_segment_start_250", "on"),
    ("no_end_times_250", "on"),
    ("end_at_received_250", "on"),
    ("provisional_trailing_250", "on"),
    ("network_120", "off"),
    ("network_120", "on"),
)
"""([language:]simulator convention, endpointing) per run: English unless "sl:" (the
Slovenian fixtures, which the simulator hears by their known words). Endpointing "on" decides
by Home Assistant's sentences and the test home's names, read from Home Assistant's API as a
user's bridge does; "words" by the word lists alone (endpoint_sentences: false, the bridge
before issue 37), for the comparison in the same run. Endpointing off asks for no interims,
so its figures depend only on the network and on EOS → FINISHED: one run off per network.
"relaxed" and "aggressive": endpointing on, the home's satellite set to that "finished
speaking detection" (the bridge reads it from Home Assistant), and Home Assistant's own
detector at it (the satellite's AudioSettings); "off-aggressive": endpointing off, Home
Assistant's detector at "aggressive" (0.25 s of silence ends the turn), the words that setting
loses by itself, whatever the bridge does."""
NUMBERS = {
    "task": "NLP_nm",
    "exceptionHandlingPolicy": "SKIP",
    "config": {"tag": "TEXT_NORMALIZER:sl-SI:*:*", "parameters": {}},
}
"""The number normaliser the Slovenian runs' bridge asks for: the text each utterance is
compared with comes through it too ("pet minut" → "5 minut")."""
ISSUE_37 = ("verb_pause", "free_form", "goes_on")
"""The fixtures whose figures are reported apart: a pause after the verb, a free-form
request, a command already whole at its pause that goes on (issue 42)."""


def fixtures_of(language: str) -> tuple[list[Fixture], list[Fixture], str]:
    """The commands, the other fixtures (pauses, real voices, noise), the ASR tag of a
    language's runs."""
    if language == "sl":
        fixtures: list[Fixture] = [*load_slovenian_fixtures()]
        commands = [f for f in fixtures if getattr(f, "kind", "") in ("command", "noise")]
        return commands, [f for f in fixtures if f not in commands], "KALDI:sl-SI:*:*"
    # The real voices are in the suites' endpointing tests; here they would add a third to
    # every run of the table.
    return load_fixtures(), list(load_pause_fixtures()), "KALDI:en-US:*:*"


def kind_of(fixture: Fixture) -> str:
    """pauses (the older pause fixtures, noise), verb_pause or free_form."""
    kind = str(getattr(fixture, "kind", ""))
    return kind if kind in ISSUE_37 else "pauses"


@pytest.mark.timeout(1200)  # up to 60 utterances, AT_ONCE at a time
@pytest.mark.parametrize(("convention", "endpointing"), RUNS)
async def test_end_of_speech_to_stt_end(
    hass: HomeAssistant, home_api: HomeApi, processes: list[Proc], convention: str, endpointing: str
) -> None:
    delay_ms = 0
    language, _, preset = convention.rpartition(":")
    language = language or "en"
    sim = start_sim("--conventions", preset, "--scripts", "bundled")
    processes.append(sim.proc)
    device_id = (await set_up_home(hass))[1] if language == "sl" else None
    if language != "sl":
        await set_up_english_home(hass)
    endpointing, _, asked = endpointing.partition("-")
    sensitivity = asked or (endpointing if endpointing in SILENCE_SECONDS else "default")
    set_satellite_sensitivity(hass, sensitivity)
    env = {
        "TRUEBAR_ENDPOINTING": "false" if endpointing == "off" else "true",
        "TRUEBAR_ENDPOINT_SENTENCES": "false" if endpointing == "words" else "true",
        **({"TRUEBAR_NLP_TASKS": "NLP_nm"} if language == "sl" else {}),
        **home_api.env(),
    }
    await own_bridge(hass, sim, processes, **env)
    pipeline = async_get_pipeline(hass)
    stt_language = "sl-SI" if language == "sl" else "en-US"
    await async_update_pipeline(
        hass,
        pipeline,
        stt_engine="stt.truebar",
        stt_language=stt_language,
        language=language,
        conversation_language=language,
    )
    commands, others, tag = fixtures_of(language)
    stages = [NUMBERS] if language == "sl" else []  # as the bridge asks (TRUEBAR_NLP_TASKS)
    audio = {f: ha_pieces(f.pcm()) for f in [*commands, *others]}
    async with aiohttp.ClientSession() as http:
        token = (await password_grant(http, sim.url))["access_token"]
        direct = {
            f: (await stream_pcm(http, sim.url, token, pcm + bytes(32000), tag, stages)).text
            for f, pcm in audio.items()
        }
    silence = bytes(3 * SAMPLE_BYTES_PER_SECOND)
    kinds_seen: dict[str, list[float]] = {"commands": [], "pauses": [], "verb_pause": []}
    kinds_seen["free_form"], kinds_seen["goes_on"] = [], []
    latencies: dict[str, float] = {}
    items = [*commands * ROUNDS, *others]
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(fixture: Fixture) -> tuple[list[Any], Microphone]:
        async with gate:
            mic = Microphone(bytes(LEAD) + audio[fixture] + silence)
            quiet = SILENCE_SECONDS[sensitivity]
            return await run_pipeline(hass, mic, stt_language, device_id, None, quiet), mic

    cut, vad_ended, errors = 0, 0, 0
    failures: list[Any] = []
    cuts: list[str] = []
    for fixture, (events, mic) in zip(
        items, await asyncio.gather(*(one(f) for f in items)), strict=True
    ):
        kinds = [event.type for _, event in events]
        errors += PipelineEventType.ERROR in kinds
        failures += [e.data for _, e in events if e.type is PipelineEventType.ERROR][:1]
        vad_ended += PipelineEventType.STT_VAD_END in kinds
        ends = [(at, e) for at, e in events if e.type is PipelineEventType.STT_END]
        if not ends or mic.began_at is None:
            continue
        at, event = ends[0]
        spoken = mic.began_at + LEAD / SAMPLE_BYTES_PER_SECOND + speech_end_of(fixture)
        kinds_seen["commands" if fixture in commands else kind_of(fixture)].append(at - spoken)
        latencies[fixture.path.name] = at - spoken
        text = (event.data or {}).get("stt_output", {}).get("text")
        if text != direct[fixture]:
            cut += 1
            cuts.append(f"{fixture.path.name}: {text!r} (whole clip: {direct[fixture]!r})")
    ordered = sorted(kinds_seen["commands"])
    row = {
        "home_assistant": ha_version,
        "endpointing": endpointing != "off",
        "sentences": endpointing not in ("off", "words"),
        "sensitivity": sensitivity,
        "convention": preset,
        "language": language,
        "finished_delay_ms": delay_ms,
        "utterances": len(items),
        "answered": sum(len(v) for v in kinds_seen.values()),
        "pause_fixtures": len(others),
        "pause_p50": _p50(kinds_seen["pauses"]),
        "pause_p95": _p95(kinds_seen["pauses"]),
        "verb_pause_p50": _p50(kinds_seen["verb_pause"]),
        "free_form_p50": _p50(kinds_seen["free_form"]),
        "goes_on_p50": _p50(kinds_seen["goes_on"]),
        "latencies": latencies,
        "texts": {f.path.name: f.text for f in commands},
        "errors": errors,
        "first_error": failures[0] if failures else None,
        "vad_ended": vad_ended,
        "not_as_direct": cut,
        "cut_fixtures": cuts,
        "p50": _p50(ordered),
        "p95": _p95(ordered),
        "max": ordered[-1] if ordered else None,
    }
    print("\nHA_BENCH " + json.dumps(row), flush=True)


def _p50(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _p95(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1] if ordered else None
