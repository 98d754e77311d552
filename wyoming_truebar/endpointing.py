"""End-of-command detection (pure): a voice activity detector on the audio, and Truebar's
running text with its word times, decide when a live command is over, sooner than the
client's silence timer, and never at the cost of a word.

The endpointer keeps no clock but the audio's own: it is fed 16 kHz mono s16le audio and the
text Truebar has recognised so far (with where, in the stream, its last word ends), and
answers how the command ended, if it has. Its rules, once speech was heard (at least
`min_speech_ms`):
- SILENCE_AND_TEXT: a short silence passed (`silence_ms`; `modifier_silence_ms` after a word
  that often modifies a following noun, "the bedroom …", or in a question that opens with an
  auxiliary, "is the back door …"), the text is non-empty, unchanged for `stable_ms`, does
  not end in a word that announces more ("for", "the", "uh"; per language), and *covers the
  speech*: its last word ends within `cover_margin_ms` of the detector's end of speech (the
  recogniser has heard the last words, not only the first ones), and Truebar has sent text
  since the speech ended;
- TRUEBAR_FINAL: Truebar sent a final after the speech ended (its own endpoint: what it
  commits then is what EOS would give), the text is complete in the same sense, and
  `final_silence_ms` (or the modifier silence) followed;
- LONG_SILENCE: `max_silence_ms` of silence passed, whatever the text.
Every early end waits at least `tail_ms` after the speech, so that much audio after the
last word reaches Truebar before EOS (a recogniser needs it to commit the last word).
Without usable word times (`untimed`) the first rule never fires: only Truebar's final or the
long silence end a command. A language with no word list ends on the long silence only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

VAD_FRAME_SAMPLES = 256
"""The detector's frame: 16 ms at 16 kHz (earshot's fixed size)."""
VAD_FRAME_BYTES = 2 * VAD_FRAME_SAMPLES
FRAME_MS = 16.0
PAUSE_FLUSH_FRAMES = 5
"""In a pause after speech, ask for the audio to go out every this many detector frames
(80 ms), so that Truebar hears the silence after the last words as it passes."""
SPEECH_THRESHOLD = 0.5
"""A frame whose speech probability reaches this counts as speech (earshot's own advice)."""
QUIET_PROBABILITY = 0.3
"""Below this a frame is confidently silent (earshot's silence sits at 0.15-0.3, clean or in
noise); see `earshot_vad`."""

Vad = Callable[[npt.NDArray[np.int16]], float]
"""A voice activity detector: one 16 ms frame of 16 kHz s16 samples → speech probability."""


class Ending(StrEnum):
    """How an utterance ended (log lines and /metrics)."""

    SILENCE_AND_TEXT = "silence_text"
    """The bridge: a short silence after text that looks complete."""
    LONG_SILENCE = "long_silence"
    """The bridge: a long silence, whatever the text."""
    TRUEBAR_FINAL = "truebar_final"
    """The bridge, on Truebar's final covering all the speech, then a little silence."""
    AUDIO_STOP = "audio_stop"
    """The client: audio-stop (its own VAD, or the end of a recording)."""


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


CONTINUATION_WORDS: Mapping[str, frozenset[str]] = {
    # Function words that announce more, and hesitations. Not "on"/"off"/"up": commands end
    # in them ("turn the light on").
    "en": _words(
        "a an the to for of at in into onto with from by and or but about as than is are "
        "was be my your our their his her its this that these those some any uh um er erm "
        "hmm ah eh"
    ),
    "sl": _words(
        "za na v vo s z k h pri po o od do iz in ter pa ali da ki ko če ker kot ampak "
        "moj moja moje tvoj naš vaš ta to tisti tista eee ee mmm hm ehm"
    ),
    "de": _words(
        "der die das den dem des ein eine einen einem einer und oder aber zu zum zur für "
        "auf an in im am mit von vom bei nach um ins äh ähm hm mein meine"
    ),
}
"""Per language (the code before any region): the words a complete command does not end in."""

MODIFIER_WORDS: Mapping[str, frozenset[str]] = {
    # Rooms, places and parts that often name the kind of a following noun ("the bedroom …
    # light", "the front … door"): a pause after them is often a pause inside a noun phrase.
    "en": _words(
        "bedroom bathroom kitchen living dining guest kids master laundry utility hall hallway "
        "front back side rear garage garden patio porch basement attic upstairs downstairs "
        "ceiling floor wall desk table bedside room main outdoor indoor"
    ),
    "sl": _words(
        "dnevni dnevna dnevno dnevne spalni spalna spalno spalne kuhinjski kuhinjska kuhinjsko "
        "kuhinjske kopalniški kopalniška kopalniško sprednji sprednja sprednje sprednjo zadnji "
        "zadnja zadnje zadnjo vhodni vhodna vhodno vhodnih garažni garažna garažno garažnih "
        "stropni stropna stropno stenski stenska stensko otroški otroška otroško delovni "
        "delovna delovno zunanji zunanja zunanje notranji notranja notranje glavni glavna "
        "glavno"
    ),
    "de": _words(
        "vordere vorderen hintere hinteren obere oberen untere unteren linke linken rechte "
        "rechten große großen kleine kleinen"
    ),
}
"""Per language: words after which a pause waits `modifier_silence_ms`."""

QUESTION_OPENERS: Mapping[str, frozenset[str]] = {
    # A yes/no question ends in its predicate ("is the back door … locked"): the words before
    # it look like a whole noun phrase, so the pause before the predicate waits longer.
    "en": _words("is are was were am do does did can could will would should has have had"),
    "sl": _words("ali a"),
    "de": _words("ist sind war waren hast hat haben kannst kann können wird werden"),
}
"""Per language: first words of a question whose end the words alone do not show."""

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def last_word(text: str) -> str:
    """The text's last word, lower-cased, punctuation ignored ("" if none)."""
    words = _WORD.findall(text.lower())
    return words[-1] if words else ""


def first_word(text: str) -> str:
    """The text's first word, lower-cased, punctuation ignored ("" if none)."""
    found = _WORD.search(text.lower())
    return found.group(0) if found else ""


def word_count(text: str) -> int:
    """How many words the text has (punctuation ignored)."""
    return len(_WORD.findall(text))


@dataclass(frozen=True, slots=True)
class EndpointRules:
    """When a command counts as over (milliseconds of audio)."""

    silence_ms: float
    max_silence_ms: float
    words: frozenset[str] | None
    """Words the text may not end in; None: the language has no list (long silence only)."""
    modifiers: frozenset[str] = frozenset()
    """Words after which a pause waits `modifier_silence_ms` (MODIFIER_WORDS)."""
    openers: frozenset[str] = frozenset()
    """First words of a question that waits `modifier_silence_ms` (QUESTION_OPENERS)."""
    modifier_silence_ms: float = 650.0
    tail_ms: float = 150.0
    """Audio after the end of speech that goes to Truebar before EOS (every early end waits
    at least this long)."""
    cover_margin_ms: float = 200.0
    """How far before the detector's end of speech the text's last word may end and still
    cover the speech: the detector hears the end 50-70 ms late, and a word's time is the
    recogniser's own alignment; a last word that ends earlier means words are missing."""
    min_speech_ms: float = 100.0
    final_silence_ms: float = 100.0
    stable_ms: float = 150.0
    """How long the text must have stayed the same (its last words arrive during the silence:
    Truebar's text lags the audio)."""
    text_lag_ms: float = FRAME_MS
    """How late Truebar's text may be: the text counts only once a text segment came this
    long after the end of speech. The bridge sends Truebar the audio so far as soon as the
    first frame of silence follows speech (`Endpointer.paused`), so one detector frame: text
    that came later was sent with the last words in hand, or after them."""

    def complete(self, text: str) -> bool:
        """Whether the text looks like a whole command."""
        if self.words is None:
            return False
        word = last_word(text)
        return bool(word) and word not in self.words

    def wait_ms(self, text: str, after_final: bool) -> float | None:
        """The silence after which the text may end the command (None: it may not)."""
        if not self.complete(text):
            return None
        wait = self.final_silence_ms if after_final else self.silence_ms
        if last_word(text) in self.modifiers or first_word(text) in self.openers:
            wait = max(wait, self.modifier_silence_ms)
        return max(wait, self.tail_ms)


def word_list(
    language: str,
    overrides: Mapping[str, frozenset[str]],
    builtin: Mapping[str, frozenset[str]] = CONTINUATION_WORDS,
) -> frozenset[str] | None:
    """A language's words from a table (`en-US` → `en`), overrides first."""
    base = language.lower().replace("_", "-").split("-")[0]
    for table in (overrides, builtin):
        if language.lower() in table:
            return table[language.lower()]
        if base in table:
            return table[base]
    return None


class Endpointer:
    """Follows one live utterance and says when the command is over (see the module)."""

    __slots__ = (
        "_end_ms",
        "_final_at",
        "_frame",
        "_heard_at",
        "_max_silence",
        "_quiet",
        "_rules",
        "_speech_ms",
        "_text",
        "_text_at",
        "_vad",
        "_view",
        "_wait",
        "_wait_final",
        "covering_text",
        "decision",
        "next_at",
        "now_ms",
        "paused",
        "speech_end_ms",
        "untimed",
    )

    def __init__(self, rules: EndpointRules, vad: Vad) -> None:
        self._rules = rules
        self._vad = vad
        self.next_at = VAD_FRAME_BYTES
        """The audio's length at which the next whole detector frame is in (the caller's
        per-chunk test: `advance` only once there is a frame to give the detector); the
        detector has had the audio up to a frame before it."""
        self._frame = np.zeros(VAD_FRAME_SAMPLES, "<i2")
        """The detector's input, refilled for every frame (no array per frame)."""
        self._view = self._frame.data.cast("B")
        self._max_silence = rules.max_silence_ms
        self._wait: float | None = None
        """The silence after which the running text may end the command (None: it may not)."""
        self._wait_final: float | None = None
        """... once Truebar sent a final after the speech."""
        self._speech_ms = 0.0
        self._text = ""
        self._text_at = 0.0
        self._end_ms: int | None = None
        """Where the running text's last word ends in the stream (None: unknown)."""
        self._final_at: float | None = None
        self._heard_at = -1.0
        self._quiet = 0
        """Detector frames of silence since the last speech."""
        self.paused = False
        """Set when a frame of silence follows speech, and every PAUSE_FLUSH_FRAMES frames of
        the pause after it: the caller sends Truebar the audio so far (and clears it)."""
        self.now_ms = 0.0
        """Milliseconds of audio the detector has seen."""
        self.speech_end_ms: float | None = None
        """Where in the audio the last speech frame ended (None: no speech yet)."""
        self.decision: Ending | None = None
        self.untimed = False
        """Text came without usable word times: the short-silence rule is off."""
        self.covering_text = ""
        """The latest running text whose last word covered the speech so far (the caller
        compares Truebar's final with it: words lost at finalisation)."""

    def advance(self, audio: bytearray) -> Ending | None:
        """Give the detector every whole frame of the utterance's audio (16 kHz mono s16le,
        from its start) not yet given; return the ending once there is one.

        The audio is the Truebar session's own buffer, read in place: the endpointer keeps
        no copy of it and is called only when `next_at` says a whole frame is in (Home
        Assistant sends 10 ms chunks, a detector frame is 16 ms), so the per-chunk cost is
        the caller's one comparison. Each frame is copied into one preallocated array for the
        detector, and the rules are checked with the text's waits worked out when the text
        came (`text`), not per frame."""
        if self.decision is not None:
            return self.decision
        view, frame, vad = self._view, self._frame, self._vad
        pos, size = self.next_at - VAD_FRAME_BYTES, len(audio)
        while size - pos >= VAD_FRAME_BYTES:
            view[:] = audio[pos : pos + VAD_FRAME_BYTES]
            pos += VAD_FRAME_BYTES
            self.now_ms += FRAME_MS
            if vad(frame) >= SPEECH_THRESHOLD:
                self._speech_ms += FRAME_MS
                self.speech_end_ms = self.now_ms
                self._quiet = 0
                continue
            if self.speech_end_ms is None:
                continue
            quiet, self._quiet = self._quiet, self._quiet + 1
            if quiet % PAUSE_FLUSH_FRAMES == 0 and quiet * FRAME_MS < self._max_silence:
                self.paused = True
            if self._check() is not None:
                break
        self.next_at = pos + VAD_FRAME_BYTES
        return self.decision

    def text(self, text: str, final: bool, end_ms: int | None = None) -> None:
        """Take what Truebar has recognised so far (committed text and the interim), and
        where its last word ends in the stream (None: no usable word times)."""
        self._heard_at = self.now_ms
        if text != self._text:
            rules = self._rules
            self._text, self._text_at = text, self.now_ms
            self._wait = rules.wait_ms(text, after_final=False)
            self._wait_final = rules.wait_ms(text, after_final=True)
        if final:
            self._final_at = self.now_ms
        if end_ms is None and text:
            self.untimed = True
        self._end_ms = end_ms
        if self._covers():
            self.covering_text = text

    def _covers(self) -> bool:
        """Whether the running text's last word reaches the end of speech (see the module)."""
        end, speech_end = self._end_ms, self.speech_end_ms
        if end is None or speech_end is None or self.untimed:
            return False
        return end >= speech_end - self._rules.cover_margin_ms

    def _check(self) -> Ending | None:
        """The rules, after a frame of silence that follows speech (see the module)."""
        rules, end = self._rules, self.speech_end_ms
        if end is None or self._speech_ms < rules.min_speech_ms:
            return None
        silence = self.now_ms - end
        if silence >= self._max_silence:
            self.decision = Ending.LONG_SILENCE
        elif self._heard_at >= end + rules.text_lag_ms:
            final_at = self._final_at
            after_final = final_at is not None and final_at >= end
            wait = self._wait_final if after_final else self._wait
            if wait is None or silence < wait:
                return None
            if after_final:
                self.decision = Ending.TRUEBAR_FINAL
            elif self.now_ms - self._text_at >= rules.stable_ms and self._covers():
                self.decision = Ending.SILENCE_AND_TEXT
        return self.decision


def earshot_vad() -> Vad:
    """A fresh earshot detector (one per utterance: it keeps state across frames) that skips
    frames in a steady silence: after two confidently silent frames in a row (below
    QUIET_PROBABILITY) the next one is not run and counts as silence, so a silence costs every
    other frame. Measured on the bundled commands, clean and in noise (benchmarks/vad.py):
    the end of speech is heard as late as with every frame run, no gap inside speech grows,
    and about 30 % fewer frames are run. Speech is never skipped: running every other frame
    throughout doubles how late the end of speech is heard."""
    import earshot  # noqa: PLC0415 - its native module loads only when endpointing is on

    predict = earshot.Detector().predict_i16
    previous, skip = 1.0, False

    def vad(frame: npt.NDArray[np.int16]) -> float:
        nonlocal previous, skip
        if skip:
            skip = False
            return 0.0
        probability: float = predict(frame)
        skip = probability < QUIET_PROBABILITY and previous < QUIET_PROBABILITY
        previous = probability
        return probability

    return vad
