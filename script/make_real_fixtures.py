"""Make the real-voice fixtures (truebar_sim/fixtures/real/) from recordings that ship with
pocketsphinx's source package on PyPI (its test data: CMU's own recordings under
pocketsphinx's BSD-style licence, and LibriVox readings, which are in the public domain),
each as recorded and in steady brown noise.

Run by hand, once, with the sdist unpacked somewhere (the fixtures are committed; nothing
fetches them at run time):
    pip download --no-deps --no-binary :all: pocketsphinx==5.1.1   (or take the .tar.gz)
    tar xzf pocketsphinx-5.1.1.tar.gz
    python script/make_real_fixtures.py pocketsphinx-5.1.1
"""

from __future__ import annotations

import json
import sys
import wave
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "truebar_sim" / "fixtures" / "real"
SOURCES = [
    ("test/data/goforward.raw", "go forward ten meters", "cmu"),
    ("test/data/cards/001.wav", "ten of clubs", "cmu"),
    ("test/data/cards/003.wav", "seven of clubs", "cmu"),
    ("test/data/cards/004.wav", "five five", "cmu"),
    ("test/data/cards/005.wav", "eight of spades four of clubs seven of hearts", "cmu"),
    (
        "test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
        "he was not an ill disposed young man",
        "librivox",
    ),
    (
        "test/data/librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
        "he might even have been made amiable himself",
        "librivox",
    ),
]
IN_NOISE = ("go forward ten meters", "seven of clubs", "he was not an ill disposed young man")
NOISE_RMS = 150.0
"""Steady brown noise (a fan) under the whole recording: about -47 dBFS, 20-25 dB below the
speech, under the simulator's loudness floor for speech (300)."""
LICENCES = {
    "cmu": "CMU's recording from pocketsphinx's test data, BSD-style licence (pocketsphinx "
    "LICENSE: Copyright (c) 1999-2016 Carnegie Mellon University)",
    "librivox": "LibriVox reading of Sense and Sensibility (public domain), from "
    "pocketsphinx's test data",
}


def read(path: Path) -> bytes:
    """16 kHz mono s16le samples of a .raw or .wav file."""
    if path.suffix == ".raw":
        return path.read_bytes()
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        return wav.readframes(wav.getnframes())


def brown_noise(samples: int, seed: int) -> np.ndarray:
    """Brown noise (integrated white noise, high-passed to stay centred) at NOISE_RMS.
    (script/make_slovenian_fixtures.py uses it too.)"""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.standard_normal(samples))
    walk -= np.convolve(walk, np.ones(801) / 801, mode="same")  # drift removed
    return walk * (NOISE_RMS / float(np.sqrt(np.mean(walk * walk))))


def write_wav(path: Path, samples: np.ndarray) -> None:
    """One fixture WAV (16 kHz mono s16le) from samples (clipped to 16 bits)."""
    pcm = np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(pcm)


def main(source: Path) -> None:
    """Write every fixture and real.json from the unpacked sdist at `source`."""
    OUT.mkdir(parents=True, exist_ok=True)
    listing: list[dict[str, object]] = []
    for index, (relative, text, origin) in enumerate(SOURCES):
        pcm = read(source / relative)
        stem = text.replace(" ", "_")
        speech = np.frombuffer(pcm, "<i2").astype(np.float64)
        write_wav(OUT / f"{stem}.wav", speech)
        entry = {"file": f"{stem}.wav", "text": text, "noise": False, "licence": LICENCES[origin]}
        listing.append(entry)
        if text in IN_NOISE:
            write_wav(OUT / f"{stem}_noise.wav", speech + brown_noise(len(speech), seed=index))
            listing.append({**entry, "file": f"{stem}_noise.wav", "noise": True})
    comment = (
        "Real recorded human speech (16 kHz mono s16le), as recorded and in steady brown "
        "noise. Made by script/make_real_fixtures.py from pocketsphinx 5.1.1's source "
        "package (its test data); each entry names its licence."
    )
    write_listing(OUT / "real.json", comment, listing)


def write_listing(path: Path, comment: str, listing: list[dict[str, object]]) -> None:
    """A fixture folder's listing: what its files are, and each file's entry."""
    text = json.dumps({"comment": comment, "fixtures": listing}, indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
