"""Passwords and tokens never appear in logs (at DEBUG), error texts, reprs or command lines."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.procs import bridge_process, sim_process
from tests.wyoming_client import transcribe
from truebar_sim.fixtures import load_fixtures

PASSWORD = "Pw-s3cret-Zq8x"
PCM = load_fixtures()[0].pcm()


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_no_secret_in_any_output() -> None:
    replies = []
    async with sim_process(
        "--debug",
        "--user",
        f"demo:{PASSWORD}",
        "--access-lifetime",
        "2",
        "--refresh-lifetime",
        "60",
    ) as sim:
        url = f"http://127.0.0.1:{sim.port}"
        async with (
            bridge_process(
                url, "--debug", "--reconnect-deadline", "1", TRUEBAR_PASSWORD=PASSWORD
            ) as bridge,
            aiohttp.ClientSession() as http,
        ):
            for _ in range(4):  # with 2-second tokens: password and refresh grants
                replies.append(await transcribe(bridge.port, PCM))
                await asyncio.sleep(0.8)
            faults = {"unauthorized_upgrades": 1}
            async with http.post(url + "/_sim/faults", json=faults):
                pass
            replies.append(await transcribe(bridge.port, PCM))
            async with http.post(url + "/_sim/faults", json={"error_after_config": 1}):
                pass
            replies.append(await transcribe(bridge.port, PCM))
            await asyncio.sleep(2.5)  # the token expires while the endpoint is down
            async with http.post(url + "/_sim/faults", json={"token_endpoint_down": True}):
                pass
            replies.append(await transcribe(bridge.port, PCM))
            async with http.get(url + "/_sim/tokens") as resp:
                tokens = await resp.json()
            async with http.get(url + "/_sim/counters") as resp:
                grants = (await resp.json())["grants"]
            bridge_cmdline = " ".join(bridge.proc.args)  # type: ignore[arg-type]
        bridge_output = bridge.output()
    assert grants["password"] >= 1
    assert grants["refresh_token"] >= 1
    assert [r.error_code for r in replies[-2:]] == ["service_error", "service_unavailable"]
    assert "DEBUG" in bridge_output
    secrets = [PASSWORD, *tokens]
    assert len(tokens) >= 4
    seen = [bridge_output, sim.output(), bridge_cmdline, repr([r.events for r in replies])]
    for secret in secrets:
        for text in seen:
            assert secret not in text
        # Not even a recognisable part of one.
        for text in seen:
            assert secret[3:15] not in text
