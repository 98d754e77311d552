"""Record the decodes the bundled English fixtures' audio asks for, as the tests frame it
(truebar_sim/fixtures/decodes.json.gz): every grid point of an interim, every pause, every
final (`truebar_sim.recognizer.rehearse`), for the clip followed by two seconds of silence
(the project's own suite) and for the clip after half a second and before three seconds of
silence (Home Assistant's suites). Every test process then looks them up instead of decoding
the same audio again. Run it after changing a fixture or the phrases (tests/test_sim.py fails
while the record was made with another grammar):

    .venv/bin/python script/record_decodes.py
"""

from __future__ import annotations

import asyncio
import time

from truebar_sim.fixtures import default_phrases, endpointing_fixtures
from truebar_sim.recognizer import (
    SharedDecoder,
    decoder_pool,
    rehearse,
    write_recorded_decodes,
)

SECOND = 32000
FRAMINGS = ((0, 2 * SECOND), (SECOND // 2, 3 * SECOND))
"""(silence before, silence after) the clip, in bytes, as the suites play it."""


async def main() -> None:
    """Decode every framing of every fixture (two decoder processes), then write the record."""
    phrases = tuple(default_phrases())
    decoder = SharedDecoder(phrases, use_record=False)
    pool = decoder_pool(phrases, 2)
    await pool.warm()
    began = time.perf_counter()
    clips = [
        bytes(before) + pcm[: len(pcm) - len(pcm) % 320] + bytes(after)
        for fixture in endpointing_fixtures()
        for pcm in [fixture.pcm()]
        for before, after in FRAMINGS
    ]
    counts = await asyncio.gather(*(rehearse(decoder, clip, pool) for clip in clips))
    written = write_recorded_decodes(decoder)
    print(
        f"recorded {written} decodes of {len(clips)} clips ({sum(counts)} decoded) in "
        f"{time.perf_counter() - began:.0f} s"
    )


if __name__ == "__main__":
    asyncio.run(main())
