"""What asking Home Assistant's sentences costs (section 12): each running text of the bundled
commands (every word prefix, as interims show them) judged against a home of 200 exposed
entities, 20 areas and 3 floors, in English and Slovenian, with the names and with names as
wildcards; how late the event loop's 10 ms ticks come while the judge works in the
sentences' process, on a thread (and, for comparison, when the same matching runs on the
loop); and the bridge's resident
memory with the English, Slovenian and German sentences loaded.

bash script/bench --only-sentences    # this section alone, into the existing results.json
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from truebar_sim.fixtures import endpointing_fixtures, load_slovenian_fixtures
from wyoming_truebar.ending.endpointing import CONTINUATION_WORDS, MODIFIER_WORDS, words_of
from wyoming_truebar.home.completeness import Completeness
from wyoming_truebar.home.continuations import HomeIndex, extension
from wyoming_truebar.home.names import HomeNames, Name
from wyoming_truebar.home.sentences import Guards, matcher, sentence_grammar, slot_lists

ROOMS_EN = [
    "kitchen",
    "bedroom",
    "bathroom",
    "office",
    "hallway",
    "garage",
    "garden",
    "attic",
    "basement",
    "porch",
    "nursery",
    "study",
    "laundry",
    "pantry",
    "patio",
    "balcony",
    "cellar",
    "lounge",
    "gym",
    "library",
]
KINDS_EN = [
    ("light", "light", None),
    ("lamp", "light", None),
    ("ceiling fan", "fan", None),
    ("blinds", "cover", "blind"),
    ("window", "cover", "window"),
    ("speaker", "media_player", None),
    ("heater", "climate", None),
    ("door lock", "lock", None),
    ("plug", "switch", None),
    ("tv", "media_player", None),
]
ROOMS_SL = [
    "kuhinja",
    "spalnica",
    "kopalnica",
    "pisarna",
    "hodnik",
    "garaža",
    "vrt",
    "podstrešje",
    "klet",
    "veranda",
    "otroška",
    "delovna",
    "pralnica",
    "shramba",
    "terasa",
    "balkon",
    "vinska",
    "dnevna",
    "telovadnica",
    "knjižnica",
]
KINDS_SL = [
    ("luč", "light", None),
    ("svetilka", "light", None),
    ("ventilator", "fan", None),
    ("senčila", "cover", "blind"),
    ("okno", "cover", "window"),
    ("zvočnik", "media_player", None),
    ("grelec", "climate", None),
    ("ključavnica", "lock", None),
    ("vtičnica", "switch", None),
    ("televizija", "media_player", None),
]


def home(rooms: list[str], kinds: list[tuple[str, str, str | None]]) -> HomeNames:
    """200 entities (every kind in every room), 20 areas, 3 floors."""
    names = tuple(
        Name(f"{room} {kind}", domain, cls) for room in rooms for kind, domain, cls in kinds
    )
    return HomeNames(names, tuple(rooms), ("ground floor", "first floor", "attic floor"))


def running_texts(texts: list[str]) -> list[str]:
    """Every word prefix of every command, once (what interims show as a command grows)."""
    found: dict[str, None] = {}
    for text in texts:
        words = text.split()
        for end in range(1, len(words) + 1):
            found[" ".join(words[:end])] = None
    return list(found)


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95, max in milliseconds."""
    ordered = sorted(values)
    rank = max(0, round(0.95 * len(ordered)) - 1)
    return {
        "p50": statistics.median(ordered) * 1000,
        "p95": ordered[rank] * 1000,
        "max": ordered[-1] * 1000,
        "calls": len(ordered),
    }


def costs(language: str, texts: list[str], names: HomeNames) -> dict[str, Any]:
    """Per call cost with the names and with wildcards (each text judged once, warm): the
    whole judgement (hassil's match, then what could follow) and the walk alone."""
    found = matcher(language)
    guards = Guards(CONTINUATION_WORDS[language], MODIFIER_WORDS[language])
    grammar = sentence_grammar(language, build=True)
    assert grammar is not None
    rows: dict[str, Any] = {}
    for label, home in (("names", names), ("wildcards", HomeNames())):
        lists, index = slot_lists(home), HomeIndex(home)
        found.judge("warm up", lists, index, guards, grammar)
        seconds, walks = [], []
        for text in texts:
            started = time.perf_counter()
            found.judge(text, lists, index, guards, grammar)
            seconds.append(time.perf_counter() - started)
            started = time.perf_counter()
            extension(grammar, words_of(text), index)
            walks.append(time.perf_counter() - started)
        rows[label] = percentiles(seconds)
        rows[f"{label}, what could follow (the walk alone)"] = percentiles(walks)
    return rows


async def loop_lag(texts: list[str], names: HomeNames, where: str) -> float:
    """The latest a 10 ms tick came (ms) while every text was judged once, the matching in
    the sentences' process (as the bridge runs it), on a thread, or on the event loop; the
    English sentences loaded and their grammar built before."""
    completeness = Completeness(process=where == "process")
    completeness.set_names(names)
    await completeness.warm(["en"], "en")
    judge = completeness.judge_for("en")
    assert judge is not None
    lists, index = slot_lists(names), HomeIndex(names)
    english = matcher("en")
    guards = Guards(CONTINUATION_WORDS["en"], MODIFIER_WORDS["en"])
    grammar = sentence_grammar("en", build=True)
    assert grammar is not None
    late = 0.0
    done = asyncio.Event()

    async def ticks() -> None:
        nonlocal late
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            late = max(late, time.perf_counter() - before - 0.01)

    ticking = asyncio.create_task(ticks())
    await asyncio.sleep(0.05)
    for text in texts:
        if where != "loop":
            verdict = judge(text)
            if isinstance(verdict, asyncio.Future):
                await verdict
        else:
            english.judge(text, lists, index, guards, grammar)
            await asyncio.sleep(0)
    done.set()
    await ticking
    completeness.close()
    return late * 1000


RSS_PROBE = """
import json, resource
from pathlib import Path
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
import wyoming_truebar.__main__  # the bridge's modules, as it starts
before = rss()
from wyoming_truebar.home.continuations import HomeIndex
from wyoming_truebar.home.names import HomeNames
from wyoming_truebar.home.sentences import Guards, matcher, sentence_grammar, slot_lists
for lang in ("en", "sl", "de"):
    found = matcher(lang)
    found.judge("a", slot_lists(HomeNames()), HomeIndex(HomeNames()), Guards(), None)
middle = rss()
grammar = sentence_grammar("en", build=True)
print(json.dumps({"before_mb": before, "after_mb": middle, "grammar_mb": rss()}))
"""


def memory() -> dict[str, float]:
    """Resident memory of a fresh process with the bridge's modules, before and after the
    three languages' sentences are loaded (and matched once)."""
    done = subprocess.run(
        [sys.executable, "-c", RSS_PROBE], capture_output=True, text=True, check=True
    )
    data: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def run(smoke: bool = False) -> dict[str, Any]:
    """The section's figures."""
    english = running_texts([f.text for f in endpointing_fixtures()])
    slovenian = running_texts([f.text for f in load_slovenian_fixtures()])
    if smoke:
        english, slovenian = english[:10], slovenian[:10]
    names_en, names_sl = home(ROOMS_EN, KINDS_EN), home(ROOMS_SL, KINDS_SL)
    results: dict[str, Any] = {
        "entities": len(names_en.entities),
        "texts": {"en": len(english), "sl": len(slovenian)},
        "cost": {"en": costs("en", english, names_en), "sl": costs("sl", slovenian, names_sl)},
        "loop_lag_ms": {
            "in a process": asyncio.run(loop_lag(english, names_en, "process")),
            "on its thread": asyncio.run(loop_lag(english, names_en, "thread")),
            "on the event loop": asyncio.run(loop_lag(english, names_en, "loop")),
        },
        "memory": memory(),
        "words": {"en": max(len(words_of(t)) for t in english)},
    }
    return results


def section(results: dict[str, Any]) -> list[str]:
    """Section 12 of results.md."""
    lines = [
        "## 12. Home Assistant's sentences: what deciding a command is complete costs",
        "",
        f"Every word prefix of the bundled commands ({results['texts']['en']} English, "
        f"{results['texts']['sl']} Slovenian running texts), each judged once against a home of "
        f"{results['entities']} exposed entities, 20 areas and 3 floors (hassil and "
        "home-assistant-intents as Home Assistant 2026.10 installs them), after a first match "
        "of the language. Milliseconds per call:",
        "",
        "| language | names | p50 | p95 | max |",
        "|---|---|---|---|---|",
    ]
    for language, rows in results["cost"].items():
        for label, row in rows.items():
            lines.append(
                f"| {language} | {label} | {row['p50']:.1f} | {row['p95']:.1f} | {row['max']:.1f} |"
            )
    lag = results["loop_lag_ms"]
    memory = results["memory"]
    lines += [
        "",
        "The latest the event loop's 10 ms ticks came while every English text was judged: "
        f"{lag.get('in a process', float('nan')):.1f} ms with the matching in the sentences' "
        f"process (as the bridge runs it), {lag['on its thread']:.1f} ms on a thread of the "
        f"bridge (endpoint_sentences_process: false), {lag['on the event loop']:.1f} ms had the "
        "matching run on the loop.",
        "",
        f"Resident memory of a fresh process with the bridge's modules: {memory['before_mb']:.0f}"
        f" MB; with the English, Slovenian and German sentences loaded and matched once: "
        f"{memory['after_mb']:.0f} MB (+{memory['after_mb'] - memory['before_mb']:.0f} MB); "
        "with the English grammar (what could follow) built too: "
        f"{memory.get('grammar_mb', memory['after_mb']):.0f} MB (the bridge builds one at start, "
        "the others' when their language is first spoken).",
    ]
    return lines
