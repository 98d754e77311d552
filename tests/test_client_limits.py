"""What a client may send, bounded (issue 43): transcript_names checked and cut, a decision
made while the audio was not live never fires later, and the length budget spans the whole
utterance whatever its formats; over real sockets, the server healthy after each."""

from __future__ import annotations

import logging

from tests.conftest import Sim, sim_settings, start_bridge, start_sim
from tests.home import home_names
from tests.test_hostile import START, event, raw_exchange
from tests.virtual_time import captured, on_virtual_time
from tests.wyoming_client import transcribe
from truebar_sim.fixtures import load_fixtures
from wyoming_truebar.server.utterance import CLIENT_NAMES, NAME_CHARS, client_names

FIXTURE = load_fixtures()[0]
PCM = FIXTURE.pcm()
FORMAT = {"rate": 16000, "width": 2, "channels": 1}


def test_transcript_names_are_checked_and_cut() -> None:
    assert client_names(None) == ((), False)
    assert client_names(["desk", "desk fan"]) == (("desk", "desk fan"), False)
    many, cut = client_names([f"lamp {i}" for i in range(10_000)])
    assert (len(many), cut) == (CLIENT_NAMES, True)
    long, cut = client_names(["x" * (NAME_CHARS + 1), "porch"])
    assert (long, cut) == (("porch",), True)


async def test_a_bad_transcript_names_is_a_clear_error_and_the_server_stays_healthy(
    sim: Sim,
) -> None:
    bridge = await start_bridge(sim, endpointing=True)
    try:
        for bad in ("porch lamp", ["porch lamp", 7], {"name": "porch"}, [None]):
            asked = event("transcribe", {"language": "en", "transcript_names": bad})
            answer = await raw_exchange(bridge.port, asked + START)
            assert [e["data"]["code"] for e in answer] == ["bad_request"], bad
            assert "transcript_names must be a list of strings" in answer[0]["data"]["text"]
        handler = logging.getLogger("wyoming_truebar.server.handler")
        with captured(handler) as lines:
            names = [f"lamp {i}" for i in range(10_000)]
            reply = await transcribe(bridge.port, PCM, transcript_names=names)
        assert reply.text == FIXTURE.text
        assert any(f"took {CLIENT_NAMES} of the client's names" in line for line in lines)
        assert (await transcribe(bridge.port, PCM)).text == FIXTURE.text  # healthy
    finally:
        await bridge.close()


@on_virtual_time
async def test_a_decision_made_during_a_burst_never_fires_later() -> None:
    """A satellite that first sends its buffered audio at once (a burst: the command and a
    second of silence), then streams live: the end the detector found in the burst is not
    kept; the command spoken live after it comes back whole."""
    sim = await start_sim(sim_settings())
    bridge = await start_bridge(sim, endpointing=True)
    bridge.ctx.completeness.set_names(home_names("en"))
    second = next(f for f in load_fixtures() if f.text == "lock the front door")
    burst = PCM + bytes(32000)
    live = second.pcm() + bytes(64000)
    try:
        reply = await transcribe(
            bridge.port, burst + live, realtime=True, fast_bytes=len(burst), timeout=30
        )
    finally:
        await bridge.close()
        await sim.runner.cleanup()
    assert reply.text is not None
    assert reply.text.endswith(second.text), reply.text


async def test_the_length_budget_spans_every_format(sim: Sim) -> None:
    """A client that changes its audio format back and forth gets no more than
    max_utterance_seconds in all."""
    bridge = await start_bridge(sim, max_utterance_seconds=2)
    try:
        second = bytes(32000)
        slow = {"rate": 8000, "width": 2, "channels": 1}
        chunks = b"".join(
            event("audio-chunk", *((FORMAT, second) if i % 2 == 0 else (slow, second[:16000])))
            for i in range(6)
        )
        asked = event("transcribe", {"language": "en"})
        answer = await raw_exchange(bridge.port, asked + START + chunks)
        assert [e["data"]["code"] for e in answer if e["type"] == "error"] == ["too_long"]
        healthy = await transcribe(bridge.port, PCM[:48000])  # 1.5 s
        assert healthy.error_code is None
        assert healthy.text is not None
    finally:
        await bridge.close()
