"""The bundled spoken fixtures: short home-automation commands with their text."""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .words import Word


@dataclass(frozen=True, slots=True)
class Fixture:
    """One spoken command: its WAV path and the words in it."""

    path: Path
    text: str
    language: str = "en"

    def pcm(self) -> bytes:
        """Return the raw 16 kHz mono s16le samples of the WAV file."""
        with wave.open(str(self.path), "rb") as wav:
            return wav.readframes(wav.getnframes())


def speech_end_seconds(pcm: bytes, floor: int = 300) -> float:
    """Where the speech in 16 kHz s16le audio ends: after its last sample above `floor`."""
    import numpy as np  # noqa: PLC0415 - the simulator's extra has it; fixtures alone need not

    samples = np.abs(np.frombuffer(pcm, "<i2").astype(np.int32))
    loud = np.nonzero(samples > floor)[0]
    return float(loud[-1] + 1) / 16000 if len(loud) else 0.0


def fixture_dir() -> Path:
    """Return the folder that holds the fixture WAVs and fixtures.json."""
    return Path(str(resources.files("truebar_sim") / "fixtures"))


def load_fixtures() -> list[Fixture]:
    """Return every bundled fixture, in the order of fixtures.json."""
    folder = fixture_dir()
    listing = json.loads((folder / "fixtures.json").read_text(encoding="utf-8"))
    return [Fixture(folder / item["file"], item["text"]) for item in listing["fixtures"]]


@dataclass(frozen=True, slots=True)
class PauseFixture(Fixture):
    """A command spoken with a pause inside (`before` ... `after`), or followed by noise."""

    kind: str = "function_word"
    """function_word (never to be cut), noun_phrase and misheard (the hard cases: a pause
    inside a noun phrase; a pause after a function word the recogniser does not hear), or
    noise."""
    language: str = "en"
    pause_ms: int = 0
    before: str = ""
    """The words before the pause."""

    def with_pause(self, pause_ms: int) -> bytes:
        """The recording with its pause (the longest quiet run inside the speech) set to
        pause_ms of silence."""
        import numpy as np  # noqa: PLC0415 - the simulator's extra has it; fixtures alone need not

        samples = np.frombuffer(self.pcm(), "<i2")
        loud = np.nonzero(np.abs(samples.astype(np.int32)) > QUIET_SAMPLE)[0]
        at = int(np.argmax(np.diff(loud)))
        start, end = int(loud[at]) + 1, int(loud[at + 1])
        silence = np.zeros(pause_ms * 16, "<i2")
        return bytes(np.concatenate([samples[:start], silence, samples[end:]]).tobytes())


QUIET_SAMPLE = 64
"""A sample at most this loud (of 32768) is quiet: the pause between a fixture's two parts."""


def load_pause_fixtures(languages: tuple[str, ...] | None = ("en",)) -> list[PauseFixture]:
    """Return the bundled pause fixtures of these languages (None: all), in the order of
    pauses/pauses.json. English by default: the simulator recognises English only."""
    folder = fixture_dir() / "pauses"
    listing = json.loads((folder / "pauses.json").read_text(encoding="utf-8"))
    return [
        PauseFixture(
            folder / item["file"],
            f"{item['before']} {item['after']}".strip(),
            kind=item["kind"],
            language=item["language"],
            pause_ms=item["pause_ms"],
            before=item["before"],
        )
        for item in listing["fixtures"]
        if languages is None or item["language"] in languages
    ]


def load_real_fixtures() -> list[Fixture]:
    """Return the real recorded human speech (real/real.json: pocketsphinx's test recordings
    and LibriVox readings, as recorded and in steady noise)."""
    folder = fixture_dir() / "real"
    listing = json.loads((folder / "real.json").read_text(encoding="utf-8"))
    return [Fixture(folder / item["file"], item["text"]) for item in listing["fixtures"]]


@dataclass(frozen=True, slots=True)
class ScriptedFixture(Fixture):
    """A recording whose words and word times are known from how it was made (the simulator
    hears it by them: truebar_sim/script.py)."""

    language: str = "sl"
    kind: str = "command"
    words: tuple[Word, ...] = ()

    def written(self) -> str:
        """The text as a normalising NLP stage writes it ("pet minut" → "5 minut")."""
        return " ".join(word.written or word.text for word in self.words)


def speech_end_of(fixture: Fixture) -> float:
    """Where a fixture's speech ends (seconds): its last word's end where the words are known
    (in steady noise the audio's energy never falls), else by energy."""
    if isinstance(fixture, ScriptedFixture) and fixture.words:
        return fixture.words[-1].end_ms / 1000
    return speech_end_seconds(fixture.pcm())


def load_slovenian_fixtures() -> list[ScriptedFixture]:
    """Return the Slovenian fixtures (sl/sl.json), in its order."""
    folder = fixture_dir() / "sl"
    listing = json.loads((folder / "sl.json").read_text(encoding="utf-8"))
    return [
        ScriptedFixture(
            folder / item["file"],
            item["text"],
            kind=item["kind"],
            words=tuple(
                Word(w["text"], w["start_ms"], w["end_ms"], w.get("written")) for w in item["words"]
            ),
        )
        for item in listing["fixtures"]
    ]


def endpointing_fixtures() -> list[Fixture]:
    """Every English fixture the endpointing tests play: the commands, the pause fixtures
    and the real recordings."""
    return [*load_fixtures(), *load_pause_fixtures(), *load_real_fixtures()]


def default_phrases() -> list[str]:
    """Return the phrase list the simulator recognises by default: every English command of
    the bundled fixtures, whole and with pauses, and the real recordings' sentences."""
    phrases: list[str] = []
    for fixture in endpointing_fixtures():
        if fixture.text not in phrases:
            phrases.append(fixture.text)
    return phrases
