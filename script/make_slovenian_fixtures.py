"""Make the Slovenian fixtures (truebar_sim/fixtures/sl/): commands Home Assistant's Slovenian
sentences understand, each word synthesised apart with espeak-ng's Slovenian voice and joined
with natural gaps, so every word's time is known; the words and times go beside the audio in
sl.json, and the simulator "hears" the recording by them (truebar_sim/script.py).

Needs `apt-get install espeak-ng sox`. Run by hand; the fixtures are committed:
    python script/make_slovenian_fixtures.py
"""

from __future__ import annotations

import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from make_real_fixtures import brown_noise, write_listing, write_wav  # this folder's own

OUT = Path(__file__).resolve().parent.parent / "truebar_sim" / "fixtures" / "sl"
LEAD_MS = 300
GAP_MS = 70
"""Between words of one phrase, as in connected speech."""
TAIL_MS = 300
WRITTEN = {"pet": "5", "dvajset": "20", "petdeset": "50", "deset": "10", "tri": "3"}
WRITTEN["trideset"] = "30"
"""How a normalising NLP stage writes the number words the fixtures use."""

# (words; "…NNN" marks a pause of NNN ms after the word before it, kind, in noise)
FIXTURES: list[tuple[str, str, bool]] = [
    ("prižgi luč v kuhinji", "command", False),
    ("ugasni luč v kuhinji", "command", False),
    ("prižgi luč v dnevni sobi", "command", False),
    ("ugasni luč v spalnici", "command", False),
    ("prižgi ventilator v spalnici", "command", False),
    ("odpri garažna vrata", "command", False),
    ("zapri garažna vrata", "command", False),
    ("zakleni vhodna vrata", "command", False),
    ("odkleni vhodna vrata", "command", False),
    ("koliko je ura", "command", False),
    ("nastavi časovnik za pet minut", "command", False),
    ("nastavi temperaturo na dvajset stopinj", "command", False),
    ("nastavi svetlost v kuhinji na petdeset odstotkov", "command", False),
    ("zaustavi radio", "command", False),
    ("nadaljuj radio", "command", False),
    ("ugasni luč v dnevni sobi", "command", False),
    ("prižgi luč v …500 kuhinji", "function_word", False),
    ("nastavi časovnik za …600 pet minut", "function_word", False),
    ("zakleni vhodna …400 vrata", "noun_phrase", False),
    ("ugasni luč v spalni …350 sobi", "noun_phrase", False),
    ("prižgi luč v kuhinji", "noise", True),
    ("koliko je ura", "noise", True),
    ("odpri garažna vrata", "noise", True),
    ("zapri …500 garažna vrata", "verb_pause", False),
    ("odpri …600 garažna vrata", "verb_pause", False),
    ("prižgi …450 luč v kuhinji", "verb_pause", False),
    ("ugasni …550 luč v spalnici", "verb_pause", False),
    ("zakleni …500 vhodna vrata", "verb_pause", False),
    ("odkleni …400 vhodna vrata", "verb_pause", False),
    ("nastavi …500 časovnik za deset minut", "verb_pause", False),
    ("nastavi …450 temperaturo na dvajset stopinj", "verb_pause", False),
    ("povej mi šalo …500 o mačkah", "free_form", False),
    ("prižgi luči …450 v kuhinji", "goes_on", False),
    ("ugasni luč …450 v spalnici", "goes_on", False),
    ("prižgi luč …450 v spalnici", "goes_on", False),
    ("ugasni luči …450 v kuhinji", "goes_on", False),
    ("prižgi luči …300 v dnevni sobi", "goes_on", False),
    ("prižgi ventilator …450 v spalnici", "goes_on", False),
    ("nastavi časovnik za pet minut …300 in trideset sekund", "goes_on", False),
]
CHANGES = {"nastavi časovnik za pet minut …300 in trideset sekund": "value"}
"""What the rest of a goes_on fixture changes in the test home (else: its target)."""


def synthesise(word: str, folder: Path) -> np.ndarray:
    """One word in espeak-ng's Slovenian voice, 16 kHz mono, silence trimmed."""
    raw, wav = folder / "raw.wav", folder / "word.wav"
    # Fixed commands of Debian's espeak-ng and sox (a developer's tool, not run by tests);
    # sox -D: no dither, so the fixtures come out the same every time.
    espeak = ["espeak-ng", "-v", "sl", "-s", "150", "-w", str(raw), word]
    subprocess.run(espeak, check=True)  # noqa: S603
    sox = ["sox", "-D", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav)]
    subprocess.run(sox, check=True)  # noqa: S603
    with wave.open(str(wav), "rb") as data:
        samples = np.frombuffer(data.readframes(data.getnframes()), "<i2").astype(np.float64)
    loud = np.nonzero(np.abs(samples) > 200)[0]
    return samples[max(0, loud[0] - 80) : loud[-1] + 160]  # 5 ms before, 10 ms after


def build(spec: str, folder: Path) -> tuple[np.ndarray, list[dict[str, object]], str, int]:
    """The recording, its words with times, its text, and the pause in it (ms)."""
    parts = [np.zeros(LEAD_MS * 16)]
    at, words, pause = LEAD_MS, [], 0
    for token in spec.split():
        if token.startswith("…"):
            pause = int(token[1:])
            parts.append(np.zeros((pause - GAP_MS) * 16))
            at += pause - GAP_MS
            continue
        if words:
            parts.append(np.zeros(GAP_MS * 16))
            at += GAP_MS
        audio = synthesise(token, folder)
        length = len(audio) // 16
        entry: dict[str, object] = {"text": token, "start_ms": at, "end_ms": at + length}
        if token in WRITTEN:
            entry["written"] = WRITTEN[token]
        words.append(entry)
        parts.append(audio[: length * 16])
        at += length
    parts.append(np.zeros(TAIL_MS * 16))
    text = " ".join(str(word["text"]) for word in words)
    return np.concatenate(parts), words, text, pause


def main() -> None:
    """Write every fixture and sl.json."""
    OUT.mkdir(parents=True, exist_ok=True)
    listing = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (spec, kind, noisy) in enumerate(FIXTURES):
            samples, words, text, pause = build(spec, Path(tmp))
            # A pause shows as a double underscore, as in the English pause fixtures' names.
            stem = "_".join("" if t.startswith("…") else t for t in spec.split())
            stem = stem.translate(str.maketrans("čšž", "csz")) + ("_noise" if noisy else "")
            if noisy:
                samples = samples + brown_noise(len(samples), seed=index)
            name = stem + ".wav"
            write_wav(OUT / name, samples)
            entry = {"file": name, "text": text, "kind": kind, "pause_ms": pause, "words": words}
            if kind == "goes_on":
                entry["changes"] = CHANGES.get(spec, "target")
            listing.append(entry)
    comment = (
        "Slovenian commands Home Assistant's Slovenian sentences understand (espeak-ng sl, each "
        "word synthesised apart and joined with 70 ms gaps, 16 kHz mono s16le). words: each "
        "word's times in the recording (ms) and, for numbers, how a normalising NLP stage "
        "writes it. kind: command, function_word (a pause after a preposition), noun_phrase (a "
        "pause after a modifier), noise (steady brown noise throughout), verb_pause (a pause of "
        "400-600 ms right after the verb, while the speaker finds the name), free_form (a "
        "request for a conversation agent that already sounds whole at its pause; no intent), "
        "goes_on (a command already whole at its pause that goes on with more of the same "
        "request; changes: what the rest changes in the test home, its target or a value). "
        "Regenerate with script/make_slovenian_fixtures.py."
    )
    write_listing(OUT / "sl.json", comment, listing)


if __name__ == "__main__":
    main()
