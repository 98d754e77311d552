"""The simulator's scripted recognition (pure): a recording whose words and times are known
is heard as the audio passes each word, wherever it starts in the stream."""

from __future__ import annotations

from truebar_sim.fixtures import load_slovenian_fixtures, script_entries
from truebar_sim.recognizer import Silent, Word
from truebar_sim.script import Script, ScriptLookup, ScriptRecognizer, fingerprint

WORDS = [Word("nastavi", 300, 800), Word("pet", 900, 1200, "5"), Word("minut", 1800, 2200)]


def feed_ms(recognizer: ScriptRecognizer | ScriptLookup, ms: int) -> list[Word] | None:
    return recognizer.feed(bytes(ms * 32))


def test_words_are_heard_as_the_audio_passes_them_and_a_pause_ends_a_segment() -> None:
    heard = ScriptRecognizer(list(WORDS), pause_ms=500, lookahead_ms=150)
    assert feed_ms(heard, 1000) is None
    assert [w.text for w in heard.partial()] == ["nastavi"]
    assert heard.caught_up()  # 80 ms after "nastavi"... and once only
    assert not heard.caught_up()
    assert feed_ms(heard, 700) == WORDS[:2]  # 500 ms of silence after "pet": a final
    assert heard.partial() == []
    assert feed_ms(heard, 600) is None  # 2300 ms: "minut" heard, 100 ms after it
    assert heard.finish() == []  # EOS now: "minut" has no 150 ms of audio after it
    again = ScriptRecognizer(list(WORDS), pause_ms=0)
    feed_ms(again, 2400)
    assert again.finish() == WORDS  # no finals mid-stream: all at EOS


def test_a_recording_is_known_by_its_audio_wherever_it_starts() -> None:
    fixture = load_slovenian_fixtures()[0]
    pcm = fixture.pcm()
    entries = script_entries([fixture])["scripts"]
    scripts = dict(Script.from_json(entry) for entry in entries)
    lead = bytes(16000)  # half a second before the recording starts
    lookup = ScriptLookup(scripts, Silent)
    final = lookup.feed(lead + pcm + bytes(32000))  # a final in the silence after it
    assert final is not None
    assert [(w.text, w.start_ms) for w in final] == [
        (w.text, w.start_ms + 500) for w in fixture.words
    ]
    other = ScriptLookup(scripts, Silent)
    other.feed(bytes(pcm[:100]) + bytes(range(256)) * 200)
    assert other.finish() == []
    assert fingerprint(bytes(32000)) is None
