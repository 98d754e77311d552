"""End-of-command detection (pure): a voice activity detector on the audio, and Truebar's
running text with its word times, decide when a live command is over, sooner than the
client's silence timer, and never at the cost of a word.

The endpointer keeps no clock but the audio's own: it is fed 16 kHz mono s16le audio and
what Truebar has recognised so far (`Heard`: the text, where its last word ends and how far
the recogniser had heard, all in milliseconds of the stream, which is the utterance's audio),
and answers how the command ended, if it has. Its rules, once speech was heard (at least
`min_speech_ms`):
- SILENCE_AND_TEXT: a short silence passed (`silence_ms`; `modifier_silence_ms` after a word
  that often modifies a following noun, "the bedroom …", or in a question that opens with an
  auxiliary, "is the back door …"), the text is non-empty, does not end in a word that
  announces more ("for", "the", "uh"; per language), and *covers the speech*;
- TRUEBAR_FINAL: the text is Truebar's final, sent after the speech ended, it covers the
  speech, and `final_silence_ms` (or the modifier silence) followed;
- LONG_SILENCE: `max_silence_ms` of silence passed, whatever the text.
Every early end waits at least `tail_ms` after the speech, so that much audio after the
last word reaches Truebar before EOS (a recogniser needs it to commit the last word).

*Covers the speech*, the evidence model: the last word ends within `cover_margin_ms` of the
detector's end of speech, and that last word is settled. An interim's last word is
provisional (a decoder's partial result stretches it to wherever the decoder is, while the
next word is still being decoded), so it settles only on later evidence:
- it is committed text (a final's);
- or the recogniser had heard past the end of speech (the segment's endTimeMs; to within
  `HEARD_SLACK_MS`, one detector frame) and had heard `SETTLE_GAP_MS` of silence after the
  word (its end no longer follows the decoder);
- or, where segments say nothing of how far the recogniser had heard, a later interim kept
  the same words and the same end, and it came `lag_ms` (the measured delay of Truebar's
  text) after the end of speech.
Without usable word times the first rule never fires: only Truebar's final (come `lag_ms`
after the end of speech) or the long silence end a command. A language with no word list
ends on the long silence only.

With Home Assistant's sentences (a `Judge`, `home/`), the short silence is the verdict's: a
whole command nothing could change waits `complete_silence_ms`, one more words could change
`extendable_silence_ms`, one more words could retarget `target_silence_ms`, anything else
`incomplete_silence_ms`. The word list still guards: a text that ends in a word announcing
more or a hesitation never ends early, whatever the sentences say.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from .heard import Heard

if TYPE_CHECKING:  # numpy is imported where the detector runs: the sentences' process,
    import numpy as np  # which imports this module's words and verdicts, never needs it
    import numpy.typing as npt

VAD_FRAME_SAMPLES = 256
"""The detector's frame: 16 ms at 16 kHz (earshot's fixed size)."""
VAD_FRAME_BYTES = 2 * VAD_FRAME_SAMPLES
FRAME_MS = 16.0
PAUSE_FLUSH_FRAMES = 2
"""In a pause after speech, ask for the audio to go out every this many detector frames
(32 ms), so that Truebar hears the silence after the last words as it passes: its next
interim (and the evidence that the last word is settled) comes as soon as its cadence
allows, not up to a flush later. Every 80 ms cost the early end about 50 ms at the p50 on
the simulator (provisional last words, 250 ms interims: 448 → 377 ms; default: 407 →
361 ms, end of speech → transcript at the client)."""
SPEECH_THRESHOLD = 0.5
"""A frame whose speech probability reaches this counts as speech (earshot's own advice)."""
QUIET_PROBABILITY = 0.3
"""Below this a frame is confidently silent (earshot's silence sits at 0.15-0.3, clean or in
noise); see `earshot_vad`."""

HEARD_SLACK_MS = FRAME_MS
"""How far short of the detector's end of speech the recogniser's hearing may stop and still
count as having heard it: the detector puts the end of speech at the end of the 16 ms frame
it last heard speech in, so the speech itself may end anywhere in that frame, and no word
fits in it. Without it, a tail the detector still called speech for a frame after the
recogniser's caught-up interim made the bridge wait for the next interim (100-250 ms: "what
time is it" under the simulator's defaults, in Home Assistant's pipeline 428 against 326 ms
at 250 ms interims)."""
SETTLE_GAP_MS = 30
"""Silence the recogniser must have heard after an interim's last word (the segment's
endTimeMs beyond the word's end) before that end counts as the word's own: three 10 ms
frames. Every fixture keeps its words under every simulator convention with it, including a
provisional last word that trails the decoder by 40-100 ms (`provisional_trailing_250`);
40 ms cost the simulator's defaults an interim (its caught-up interim comes about 30 ms past
the recogniser's word end): Home Assistant's pipeline, commands' p50 373 ms at 40."""
DEFAULT_LAG_MS = 300.0
"""How late Truebar's text is taken to be until the bridge has measured it."""

Vad = Callable[["npt.NDArray[np.int16]"], float]
"""A voice activity detector: one 16 ms frame of 16 kHz s16 samples → speech probability."""


class Verdict(StrEnum):
    """What Home Assistant's sentences say of a running text (`sentences.Matcher`), with the
    home's names: whether it is a whole command, and what more words could still change."""

    COMPLETE = "complete"
    """Whole, and nothing this home knows would change it ("what time is it")."""
    EXTENDABLE = "extendable"
    """Whole, but more words could change what Home Assistant does: a value, a unit, another
    part ("set a timer for five minutes … and thirty seconds")."""
    TARGET_OPEN = "target_open"
    """Whole, but more words could change what it acts on: an area for a target several
    entities share, a longer name ("turn on the light … in the bedroom", "the desk … fan")."""
    INCOMPLETE = "incomplete"


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


BRIDGE_ENDINGS = frozenset((Ending.SILENCE_AND_TEXT, Ending.TRUEBAR_FINAL))
"""The endings the bridge decides (the long silence ends whatever the text says)."""


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


FILLER_WORDS: Mapping[str, frozenset[str]] = {
    "en": _words("uh um er erm hmm ah eh"),
    "sl": _words("eee ee mmm hm ehm"),
    "de": _words("äh ähm hm"),
    "fr": _words("euh heu hum ben bah"),
    "it": _words("ehm eh mmm boh"),
    "es": _words("eh em mmm este"),
    "pt": _words("hum hã ah"),
    "nl": _words("uh eh ehm uhm"),
    "hr": _words("ehm hm mmm"),
}
"""Per language: hesitations. A text never ends in one, and one Truebar's final dropped is
never put back into a transcript. A language without a list takes all of them."""
ANY_FILLER = frozenset().union(*FILLER_WORDS.values())


def filler_words(language: str) -> frozenset[str]:
    """A language's hesitations (every list's, for a language without one)."""
    return FILLER_WORDS.get(language.lower().replace("_", "-").split("-")[0], ANY_FILLER)


CONTINUATION_WORDS: Mapping[str, frozenset[str]] = {
    # Function words that announce more, and hesitations. Not "on"/"off"/"up": commands end
    # in them ("turn the light on").
    "en": _words(
        "a an the to for of at in into onto with from by and or but about as than is are "
        "was be my your our their his her its this that these those some any"
    )
    | FILLER_WORDS["en"],
    "sl": _words(
        "za na v vo s z k h pri po o od do iz čez med nad pod pred skozi proti in ter pa ali "
        "da ki ko če ker kot ampak moj moja moje tvoj naš vaš ta to tisti tista"
    )
    | FILLER_WORDS["sl"],
    "de": _words(
        "der die das den dem des ein eine einen einem einer und oder aber zu zum zur für "
        "auf an in im am mit von vom bei nach um ins mein meine"
    )
    | FILLER_WORDS["de"],
}
"""Per language (the code before any region): the words a complete command does not end in."""

SAFE_WORDS: Mapping[str, frozenset[str]] = {
    # Articles, prepositions (and their contractions), conjunctions, possessives and
    # demonstratives: closed classes, so a short list is the whole class. Used only where Home
    # Assistant's sentences judge a language that has no list above (`Completeness`).
    "fr": _words(
        "le la les l un une des du de d au aux à en dans sur sous pour par avec sans chez "
        "vers et ou mais que qu mon ma mes ton ta tes son sa ses notre nos votre vos leur "
        "leurs ce cet cette ces"
    ),
    "it": _words(
        "il lo la i gli le l un uno una di del dello della dei degli delle d a al allo alla "
        "ai agli alle da dal dallo dalla dai dagli dalle in nel nello nella nei negli nelle "
        "su sul sullo sulla sui sugli sulle con per tra fra e o ma mio mia miei mie tuo tua "
        "suo sua nostro nostra questo questa quel quella"
    ),
    "es": _words(
        "el la los las lo un una unos unas de del a al en con por para sobre entre hacia "
        "y o pero mi mis tu tus su sus ese esa"
    ),
    "pt": _words(
        "o a os as um uma uns umas de do da dos das em no na nos nas ao aos à às por pelo "
        "pela com para e ou mas meu minha seu sua este esta esse essa"
    ),
    "nl": _words(
        "de het een van in op aan met voor naar bij uit en of maar mijn jouw zijn haar ons "
        "onze deze dit die dat"
    ),
    "hr": _words(
        "u na za s sa k ka iz od do o po pri kod i ili ali a moj moja moje tvoj taj ta to "
        "ovaj ova ovo"
    ),
}
"""Per language without a list above: the function words a command cannot end in (the safe
defaults of the judged path; see `Completeness.guard_words`)."""

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
        "glavno jedilni jedilna jedilno zgornji zgornja zgornje spodnji spodnja spodnje"
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
    # Slovenian marks a yes/no question with "ali" (colloquially "a"); its wh-words
    # ("koliko je ura", "kdaj ...") open questions that end in a noun, as English "what" does,
    # and wait no longer (reviewed against the Slovenian fixtures).
    "sl": _words("ali a"),
    "de": _words("ist sind war waren hast hat haben kannst kann können wird werden"),
}
"""Per language: first words of a question whose end the words alone do not show."""

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
"""A word: letters or digits ("21" after an NLP stage that writes numbers is one)."""


def words_of(text: str) -> list[str]:
    """The text's words, lower-cased, punctuation left out."""
    return _WORD.findall(text.lower())


def last_word(text: str) -> str:
    """The text's last word, lower-cased, punctuation ignored ("" if none)."""
    words = words_of(text)
    return words[-1] if words else ""


def first_word(text: str) -> str:
    """The text's first word, lower-cased, punctuation ignored ("" if none)."""
    found = _WORD.search(text.lower())
    return found.group(0) if found else ""


def word_count(text: str) -> int:
    """How many words the text has (punctuation ignored)."""
    return len(_WORD.findall(text))


def restore_lost_words(
    final: str, interim: str, fillers: frozenset[str] = ANY_FILLER
) -> str | None:
    """Truebar's final with the words it dropped at its end, when its words are a strict
    prefix of the interim's (compared lower-cased, punctuation ignored): the final's own
    text, then the interim's missing words but its hesitations (`fillers`), before the
    final's closing punctuation. None when the final is not such a prefix (it has every
    word, or other words), or only hesitations are missing."""
    said = [w.lower() for w in _WORD.findall(final)]
    heard = _WORD.findall(interim)
    if len(said) >= len(heard) or [w.lower() for w in heard[: len(said)]] != said:
        return None
    missing = [w for w in heard[len(said) :] if w.lower() not in fillers]
    if not missing:
        return None
    body = final.rstrip()
    closing = body[len(body.rstrip(".!?…")) :]
    body = body[: len(body) - len(closing)]
    return " ".join([body, *missing]).strip() + closing


Judge = Callable[[str], Verdict | asyncio.Future[Verdict]]
"""Home Assistant's sentences, asked of a running text: its verdict, or a future one (worked
out off the event loop; the endpointer takes it when it comes)."""


@dataclass(frozen=True, slots=True)
class EndpointRules:
    """When a command counts as over (milliseconds of audio)."""

    silence_ms: float
    max_silence_ms: float
    words: frozenset[str] | None
    """Words the text may not end in; None: the language has no list (long silence only)."""
    incomplete_silence_ms: float = 800.0
    """With a sentence judge: the silence that ends a command its sentences do not complete
    (an unfinished command, or free-form speech), or one whose verdict has not come yet."""
    complete_silence_ms: float = 150.0
    """With a sentence judge: the silence that ends a command its sentences complete and
    nothing in the home could extend (Verdict.COMPLETE)."""
    extendable_silence_ms: float = 350.0
    """... a whole command more words could change (Verdict.EXTENDABLE)."""
    target_silence_ms: float = 600.0
    """... a whole command more words could retarget (Verdict.TARGET_OPEN)."""
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
    min_speech_ms: float = 300.0
    """Speech (detector frames) before any end counts: a cough is not a command (Home
    Assistant's own segmenter needs 0.3 s of speech too)."""
    final_silence_ms: float = 100.0

    def complete(self, text: str) -> bool:
        """Whether the text looks like a whole command."""
        if self.words is None:
            return False
        word = last_word(text)
        return bool(word) and word not in self.words

    def wait_ms(self, text: str, after_final: bool) -> float | None:
        """The silence after which the text may end the command, by the word lists (None:
        it may not)."""
        if not self.complete(text):
            return None
        wait = self.final_silence_ms if after_final else self.silence_ms
        if last_word(text) in self.modifiers or first_word(text) in self.openers:
            wait = max(wait, self.modifier_silence_ms)
        return max(wait, self.tail_ms)

    def judged_wait_ms(self, text: str, verdict: Verdict | None, after_final: bool) -> float | None:
        """The silence after which a text may end the command, by its sentences' verdict
        (None: not come yet). A text that ends in a word that announces more or a hesitation
        (`words`) never ends early, whatever the verdict (None: only the long silence)."""
        if self.words is not None and last_word(text) in self.words:
            return None
        if verdict is Verdict.COMPLETE:
            wait = self.final_silence_ms if after_final else self.complete_silence_ms
        elif verdict is Verdict.EXTENDABLE:
            wait = self.extendable_silence_ms
        elif verdict is Verdict.TARGET_OPEN:
            wait = self.target_silence_ms
        else:
            wait = self.incomplete_silence_ms
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
        "_committed",
        "_end_ms",
        "_final_at",
        "_frame",
        "_heard_to",
        "_judge",
        "_kept_at",
        "_max_silence",
        "_quiet",
        "_rules",
        "_settled",
        "_speech_ms",
        "_text",
        "_timed",
        "_vad",
        "_view",
        "_wait",
        "_wait_final",
        "covering_text",
        "decision",
        "lag_ms",
        "next_at",
        "now_ms",
        "paused",
        "speech_end_ms",
    )

    def __init__(self, rules: EndpointRules, vad: Vad, judge: Judge | None = None) -> None:
        self._rules = rules
        self._vad = vad
        self._judge = judge  # the language's sentences (None: the word lists)
        self.next_at = VAD_FRAME_BYTES
        """The audio's length at which the next whole detector frame is in (the caller's
        per-chunk test: `advance` only once there is a frame to give the detector); the
        detector has had the audio up to a frame before it."""
        import numpy as np  # noqa: PLC0415 - see the imports

        self._frame = np.zeros(VAD_FRAME_SAMPLES, "<i2")  # refilled per frame, never remade
        self._view = self._frame.data.cast("B")
        self._max_silence = rules.max_silence_ms
        self._wait: float | None = None  # silence that lets the text end it (None: never)
        self._wait_final: float | None = None  # ... once a final came after the speech
        self._speech_ms = 0.0
        self._text = ""
        self._end_ms: int | None = None  # the running text's last word's end (Heard)
        self._heard_to: int | None = None  # how far the recogniser had heard (Heard)
        self._settled = False  # the last word's end is its own: committed, or silence after
        self._committed = False  # the running text is all a final's
        self._kept_at: float | None = None  # audio position of a later interim that kept it
        self._timed: bool | None = None  # the text carried word times (None: no text yet)
        self._final_at: float | None = None
        self._quiet = 0  # detector frames of silence since the last speech
        self.paused = False
        """Set when a frame of silence follows speech, and every PAUSE_FLUSH_FRAMES frames of
        the pause after it: the caller sends Truebar the audio so far (and clears it)."""
        self.now_ms = 0.0
        """Milliseconds of audio the detector has seen."""
        self.speech_end_ms: float | None = None
        """Where in the audio the last speech frame ended (None: no speech yet)."""
        self.decision: Ending | None = None
        self.lag_ms = DEFAULT_LAG_MS
        """How late Truebar's text comes, in audio (the caller sets what it measured)."""
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

    def withdraw(self) -> None:
        """Take back a decision (it was made while the client's audio was not live): the
        rules go on with the next frames, on what they show then."""
        self.decision = None

    def close(self) -> None:
        """The command is over: no verdict matters any more (the judge's latest question is
        left, so it is not worked out if its turn has not come)."""
        close = getattr(self._judge, "close", None)
        if close is not None:
            close()

    @property
    def untimed(self) -> bool:
        """Truebar's text has come, never with usable word times (the short-silence rule
        cannot fire)."""
        return self._timed is False

    def text(self, heard: Heard) -> None:
        """Take what Truebar has recognised so far (see `Heard`)."""
        text, end = heard.text, heard.end_ms
        kept = text == self._text and end == self._end_ms and end is not None
        if text != self._text:
            self._text = text
            self._weigh(text)
        if heard.added:  # an empty final is no evidence that the speech is over
            self._final_at = self.now_ms
        if text:
            self._timed = bool(self._timed) or end is not None
        heard_to = heard.heard_to_ms
        self._end_ms, self._heard_to, self._committed = end, heard_to, heard.committed
        self._settled = heard.committed or (
            end is not None and heard_to is not None and heard_to - end >= SETTLE_GAP_MS
        )
        self._kept_at = self.now_ms if kept and not heard.final else None
        if self._covers():
            self.covering_text = text

    def _weigh(self, text: str) -> None:
        """The waits the new running text allows (asking its sentences once per text)."""
        rules, judge = self._rules, self._judge
        if judge is None or not text:
            self._wait = rules.wait_ms(text, after_final=False)
            self._wait_final = rules.wait_ms(text, after_final=True)
            return
        verdict = judge(text)
        if isinstance(verdict, Verdict):
            self.judged(text, verdict)
            return
        self.judged(text, None)
        verdict.add_done_callback(functools.partial(self._came, text))

    def _came(self, text: str, verdict: asyncio.Future[Verdict]) -> None:
        if not verdict.cancelled() and verdict.exception() is None:
            self.judged(text, verdict.result())

    def judged(self, text: str, verdict: Verdict | None) -> None:
        """Take the sentences' verdict on a text (None: not come yet); one that comes after
        the text has changed is dropped."""
        if text == self._text:
            rules = self._rules
            self._wait = rules.judged_wait_ms(text, verdict, after_final=False)
            self._wait_final = rules.judged_wait_ms(text, verdict, after_final=True)

    def _covers(self) -> bool:
        """Whether the running text covers the speech (the module's evidence model)."""
        end, speech_end = self._end_ms, self.speech_end_ms
        if speech_end is None:
            return False
        if self._committed and end is None:  # an untimed final: only by when it came
            final_at = self._final_at
            return final_at is not None and final_at >= speech_end + self.lag_ms
        if end is None or end < speech_end - self._rules.cover_margin_ms:
            return False
        if self._committed:
            return True
        heard_to = self._heard_to
        if heard_to is not None and self._settled and heard_to >= speech_end - HEARD_SLACK_MS:
            return True
        kept = self._kept_at
        return kept is not None and kept >= speech_end + self.lag_ms

    def _check(self) -> Ending | None:
        """The rules, after a frame of silence that follows speech (see the module)."""
        rules, end = self._rules, self.speech_end_ms
        if end is None or self._speech_ms < rules.min_speech_ms:
            return None
        silence = self.now_ms - end
        if silence >= self._max_silence:
            self.decision = Ending.LONG_SILENCE
            return self.decision
        final_at = self._final_at
        after_final = self._committed and final_at is not None and final_at >= end
        wait = self._wait_final if after_final else self._wait
        if wait is None or silence < wait or not self._covers():
            return None
        self.covering_text = self._text
        self.decision = Ending.TRUEBAR_FINAL if after_final else Ending.SILENCE_AND_TEXT
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
