"""The HTTP API: /metrics moves with utterances; /healthz follows Truebar's availability."""

from __future__ import annotations

import re

import aiohttp

from tests.conftest import Sim, sim_settings, start_bridge, start_sim
from tests.wyoming_client import transcribe
from truebar_sim.demo import free_port
from truebar_sim.fixtures import load_fixtures

PCM = load_fixtures()[0].pcm()


def metric(text: str, name: str) -> float:
    """The value of one sample line (name with labels, exactly as exposed)."""
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name} not in metrics"
    return float(match.group(1))


async def test_metrics_move_after_utterances(sim: Sim, http: aiohttp.ClientSession) -> None:
    running = await start_bridge(sim, http_port=0)
    try:
        for _ in range(3):
            await transcribe(running.port, PCM)
        sim.state.faults.error_after_config = 1
        await transcribe(running.port, PCM)
        sim.state.faults.update({"drop_after_bytes": 6400, "drop_sessions": 1})
        await transcribe(running.port, PCM)
        async with http.get(f"http://127.0.0.1:{running.http_port}/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
    finally:
        await running.close()
    assert metric(text, 'wyoming_truebar_utterances_total{code="",outcome="ok"}') == 4
    assert (
        metric(text, 'wyoming_truebar_utterances_total{code="service_error",outcome="error"}') == 1
    )
    assert metric(text, "wyoming_truebar_transcript_latency_seconds_count") == 4
    assert metric(text, "wyoming_truebar_time_to_configured_seconds_count") == 4
    assert metric(text, "wyoming_truebar_audio_seconds_total") == round(4 * len(PCM) / 32000, 6)
    assert metric(text, 'wyoming_truebar_token_grants_total{grant_type="password"}') == 1
    assert metric(text, "wyoming_truebar_reconnects_total") == 1
    assert metric(text, "wyoming_truebar_replayed_audio_seconds_total") > 0
    assert metric(text, "wyoming_truebar_sessions_in_flight") == 0


async def test_healthz_follows_truebar(http: aiohttp.ClientSession) -> None:
    port = free_port()
    sim = await start_sim(sim_settings(), port=port)
    running = await start_bridge(sim, http_port=0)
    url = f"http://127.0.0.1:{running.http_port}/healthz"
    try:
        async with http.get(url) as resp:
            assert resp.status == 200
            assert (await resp.json())["status"] == "ok"
        await sim.runner.cleanup()  # Truebar goes away
        async with http.get(url) as resp:
            body = await resp.json()
            assert resp.status == 503
        assert body["status"] == "unhealthy"
        assert any("unreachable" in reason for reason in body["reasons"])
        sim = await start_sim(sim_settings(), port=port)  # and comes back
        async with http.get(url) as resp:
            assert resp.status == 200
        assert (await transcribe(running.port, PCM)).text == load_fixtures()[0].text
    finally:
        await running.close()
        await sim.runner.cleanup()


async def test_healthz_reports_bad_credentials(sim: Sim, http: aiohttp.ClientSession) -> None:
    running = await start_bridge(sim, http_port=0, password="wrong")
    try:
        async with http.get(f"http://127.0.0.1:{running.http_port}/healthz") as resp:
            body = await resp.json()
            assert resp.status == 503
    finally:
        await running.close()
    assert any("auth_failed" in reason for reason in body["reasons"])
    assert "wrong" not in str(body)
