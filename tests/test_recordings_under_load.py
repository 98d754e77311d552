"""Recordings sent at full speed, twelve at once, with tokens that live three seconds (issue 25):
the answer budget runs from the later of audio-stop and the moment the audio would have ended
had it been spoken live, so Truebar gets each recording's decode time and no answer is a
`timeout`. The bridge and the simulator run as real processes, as in production."""

from __future__ import annotations

import asyncio

import pytest

from tests.procs import bridge_process, sim_process
from tests.wyoming_client import Reply, transcribe
from truebar_sim.fixtures import load_fixtures

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # it loads the machine itself

FIXTURES = load_fixtures()
ROOMS = 12
SECONDS = 20.0


@pytest.mark.timeout(120)
async def test_twelve_recordings_at_full_speed_with_three_second_tokens() -> None:
    async with sim_process("--access-lifetime", "3") as sim:
        url = f"http://127.0.0.1:{sim.port}"
        # The defaults, endpointing on as shipped: a recording must never be ended early.
        async with bridge_process(url, TRUEBAR_ENDPOINTING="true") as bridge:
            loop = asyncio.get_running_loop()
            until = loop.time() + SECONDS
            replies: list[tuple[str, Reply]] = []

            async def room(index: int) -> None:
                turn = index
                while loop.time() < until:
                    fixture = FIXTURES[turn % len(FIXTURES)]
                    turn += ROOMS
                    reply = await transcribe(bridge.port, fixture.pcm(), timeout=30)
                    replies.append((fixture.text, reply))

            await asyncio.gather(*(room(i) for i in range(ROOMS)))
            log = bridge.output()
    assert len(replies) >= 2 * ROOMS
    errors = [reply.error_code for _, reply in replies if reply.error_code is not None]
    assert errors == [], errors
    wrong = [(text, reply.text) for text, reply in replies if reply.text != text]
    assert wrong == []
    assert "timeout" not in log
