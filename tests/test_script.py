"""The simulator's scripted recognition (pure): a recording whose words and times are known
is heard as the audio passes each word, wherever it starts in the stream."""

from __future__ import annotations

from truebar_sim.fixtures import load_slovenian_fixtures
from truebar_sim.script import Script, ScriptLookup, ScriptRecognizer, script_entries
from truebar_sim.words import Word

WORDS = [Word("nastavi", 300, 800), Word("pet", 900, 1200, "5"), Word("minut", 1800, 2200)]


class Fallback(ScriptRecognizer):
    """What hears audio no script knows (here: one word, whatever it is)."""

    def __init__(self) -> None:
        super().__init__([Word("fallback", 0, 10)], pause_ms=0, lookahead_ms=0)


async def feed_ms(recognizer: ScriptRecognizer | ScriptLookup, ms: int) -> list[Word] | None:
    return await recognizer.feed(bytes(ms * 32))


async def test_words_are_heard_as_the_audio_passes_them_and_a_pause_ends_a_segment() -> None:
    heard = ScriptRecognizer(list(WORDS), pause_ms=500, lookahead_ms=150)
    assert await feed_ms(heard, 1000) is None
    assert [w.text for w in await heard.partial()] == ["nastavi"]
    assert heard.caught_up()  # 80 ms after "nastavi"... and once only
    assert not heard.caught_up()
    assert await feed_ms(heard, 700) == WORDS[:2]  # 500 ms of silence after "pet": a final
    assert await heard.partial() == []
    assert await feed_ms(heard, 600) is None  # 2300 ms: "minut" heard, 100 ms after it
    assert await heard.finish() == []  # EOS now: "minut" has no 150 ms of audio after it
    again = ScriptRecognizer(list(WORDS), pause_ms=0)
    await feed_ms(again, 2400)
    assert await again.finish() == WORDS  # no finals mid-stream: all at EOS


async def test_a_recording_is_known_by_its_audio_wherever_it_starts_among_alike_ones() -> None:
    """Four commands begin "ugasni luč v ...": until the audio tells them apart, only the
    words they agree on are heard; then the one played, shifted to where it starts."""
    fixtures = load_slovenian_fixtures()
    scripts = [Script.from_json(entry) for entry in script_entries(fixtures)["scripts"]]
    played = next(f for f in fixtures if f.text == "ugasni luč v spalnici")
    assert sum(f.text.startswith("ugasni luč v") for f in fixtures) >= 3
    lead = bytes(16000)  # half a second before the recording starts
    lookup = ScriptLookup(scripts, Fallback)
    pcm = lead + played.pcm() + bytes(32000)
    heard: list[str] = []
    for offset in range(0, len(pcm), 3200):
        final = await lookup.feed(pcm[offset : offset + 3200])
        heard += [w.text for w in final or []]
        if final:
            assert [(w.text, w.start_ms) for w in final] == [
                (w.text, w.start_ms + 500) for w in played.words
            ]
    assert heard == played.text.split()
    unknown = ScriptLookup(scripts, Fallback)
    await unknown.feed(bytes(range(256)) * 400)  # sound no script has: the fallback hears it
    assert [w.text for w in await unknown.finish()] == ["fallback"]
