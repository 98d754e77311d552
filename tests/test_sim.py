"""The simulator itself, over real sockets: grants, discovery, strict checks, faults."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiohttp
import pytest

from tests.conftest import Sim, sim_settings, start_sim
from tests.truebar_client import TOKEN_PATH, kind, password_grant, stream_pcm
from tests.virtual_time import on_virtual_time
from truebar_sim.fixtures import default_phrases, load_fixtures
from truebar_sim.recognizer import (
    SphinxRecognizer,
    build_grammar,
    recorded_decodes,
    shared_decoder,
)
from truebar_sim.words import text_of

FIXTURES = load_fixtures()
PCM = FIXTURES[0].pcm()


async def grant(
    http: aiohttp.ClientSession, sim: Sim, path: str = TOKEN_PATH, **form: str
) -> tuple[int, dict[str, object]]:
    form.setdefault("client_id", "truebar-client")
    async with http.post(sim.url + path, data=form) as resp:
        if resp.content_type != "application/json":
            return resp.status, {"text": await resp.text()}
        return resp.status, await resp.json()


async def test_password_then_refresh_grant_with_rotation(
    sim: Sim, http: aiohttp.ClientSession
) -> None:
    status, body = await grant(http, sim, grant_type="password", username="demo", password="demo")
    assert status == 200
    assert body["expires_in"] == 900
    assert body["refresh_expires_in"] == 1800
    assert body["token_type"] == "Bearer"
    first_refresh = str(body["refresh_token"])
    status, body = await grant(http, sim, grant_type="refresh_token", refresh_token=first_refresh)
    assert status == 200
    assert body["refresh_token"] != first_refresh
    # Rotation: the used refresh token is dead now.
    status, body = await grant(http, sim, grant_type="refresh_token", refresh_token=first_refresh)
    assert status == 400
    assert body["error"] == "invalid_grant"
    counters = await sim.counters(http)
    assert counters["grants"] == {"password": 1, "refresh_token": 1}
    assert counters["rejected_grants"] == 1


async def test_older_auth_path_works(sim: Sim, http: aiohttp.ClientSession) -> None:
    status, _ = await grant(
        http, sim, "/auth" + TOKEN_PATH, grant_type="password", username="demo", password="demo"
    )
    assert status == 200


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password", "username": "demo", "password": "wrong"}, 401, "invalid_grant"),
        (
            {"grant_type": "password", "username": "nobody", "password": "demo"},
            401,
            "invalid_grant",
        ),
        ({"grant_type": "refresh_token", "refresh_token": "rt.bogus"}, 400, "invalid_grant"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"grant_type": "password", "client_id": "other"}, 401, "unauthorized_client"),
    ],
)
async def test_rejected_grants_are_keycloak_shaped(
    sim: Sim, http: aiohttp.ClientSession, form: dict[str, str], status: int, error: str
) -> None:
    got_status, body = await grant(http, sim, **form)
    assert (got_status, body["error"]) == (status, error)
    assert "error_description" in body


async def test_tokens_expire() -> None:
    running = await start_sim(sim_settings(access_lifetime=1, refresh_lifetime=1))
    try:
        async with aiohttp.ClientSession() as http:
            body = await password_grant(http, running.url)
            await asyncio.sleep(1.1)
            status, err = await grant(
                http, running, grant_type="refresh_token", refresh_token=body["refresh_token"]
            )
            assert (status, err["error"]) == (400, "invalid_grant")
            async with http.get(
                running.url + "/api/pipelines/stages",
                headers={"Authorization": f"Bearer {body['access_token']}"},
            ) as r:
                assert r.status == 401
    finally:
        await running.runner.cleanup()


async def test_discovery_needs_bearer_and_lists_streaming_tags(
    sim: Sim, http: aiohttp.ClientSession
) -> None:
    async with http.get(sim.url + "/api/pipelines/stages") as resp:
        assert resp.status == 401
    token = (await password_grant(http, sim.url))["access_token"]
    async with http.get(
        sim.url + "/api/pipelines/stages", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        stages = await resp.json()
    asr = next(s for s in stages if s["task"] == "ASR")
    online = {o["tag"].split(":")[1] for o in asr["configOptions"] if "onlineAsr" in o["features"]}
    assert {"en-US", "sl-SI", "de-DE"} <= online
    assert any("onlineAsr" not in o["features"] for o in asr["configOptions"])
    assert any(s["task"] == "NLP_pc" for s in stages)
    async with http.get(sim.url + "/api/info") as resp:
        assert resp.status == 200


async def test_upgrade_needs_valid_token_header_or_query(
    sim: Sim, http: aiohttp.ClientSession
) -> None:
    ws_url = sim.url.replace("http", "ws") + "/api/pipelines/stream"
    for headers, query in (
        ({}, ""),
        ({"Authorization": "Bearer at.bogus"}, ""),
        ({}, "?access_token=x"),
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await http.ws_connect(ws_url + query, headers=headers)
        assert err.value.status == 401
    token = (await password_grant(http, sim.url))["access_token"]
    async with http.ws_connect(f"{ws_url}?access_token={token}") as ws:
        assert json.loads((await ws.receive()).data)["status"] == "INITIALIZED"
    counters = await sim.counters(http)
    assert (counters["ws_rejections"], counters["ws_connects"]) == (3, 1)


async def test_full_session_recognises_a_fixture(sim: Sim, http: aiohttp.ClientSession) -> None:
    token = (await password_grant(http, sim.url))["access_token"]
    result = await stream_pcm(http, sim.url, token, PCM)
    assert result.text == FIXTURES[0].text
    kinds = [(kind(m), m.get("status")) for m in result.messages]
    assert kinds[0] == ("STATUS", "INITIALIZED")
    assert kinds[1] == ("STATUS", "CONFIGURED")
    assert kinds[-1] == ("STATUS", "FINISHED")
    assert result.messages[1]["sessionId"]
    assert result.messages[1]["recordingId"]
    assert result.messages[-1]["lengthMs"] == len(PCM) // 32
    assert result.close_code == 1000
    counters = await sim.counters(http)
    assert counters["pipelines"][0][0]["config"]["tag"] == "KALDI:en-US:*:*"
    assert counters["sessions_finished"] == 1
    assert counters["peak_sessions"] == 1


async def test_most_fixtures_are_recognised(sim: Sim, http: aiohttp.ClientSession) -> None:
    token = (await password_grant(http, sim.url))["access_token"]
    right = 0
    for fixture in FIXTURES:
        result = await stream_pcm(http, sim.url, token, fixture.pcm())
        right += result.text == fixture.text
    print(f"recognised {right} of {len(FIXTURES)} fixtures")
    assert right >= len(FIXTURES) - 2


async def test_damaged_audio_gives_a_wrong_transcript(
    sim: Sim, http: aiohttp.ClientSession
) -> None:
    token = (await password_grant(http, sim.url))["access_token"]
    # Byte-swapped samples: what a wrong endianness on the way would do.
    swapped = bytearray(PCM)
    swapped[0::2], swapped[1::2] = PCM[1::2], PCM[0::2]
    result = await stream_pcm(http, sim.url, token, bytes(swapped))
    assert result.text != FIXTURES[0].text


@on_virtual_time
async def test_interims_come_before_finals() -> None:
    """Live audio (a recording at full speed gets no interim while the service is behind)."""
    sim = await start_sim(sim_settings())
    async with aiohttp.ClientSession() as http:
        token = (await password_grant(http, sim.url))["access_token"]
        result = await stream_pcm(http, sim.url, token, PCM, interims=True, realtime=True)
    await sim.runner.cleanup()
    interims = [
        m for m in result.messages if kind(m) == "TEXT_SEGMENT" and not m["textSegment"]["isFinal"]
    ]
    assert interims
    assert result.text == FIXTURES[0].text


async def test_punctuation_stage_capitalises_and_adds_full_stop(
    sim: Sim, http: aiohttp.ClientSession
) -> None:
    token = (await password_grant(http, sim.url))["access_token"]
    pc = {
        "task": "NLP_pc",
        "exceptionHandlingPolicy": "SKIP",
        "config": {"tag": "NEMO_PUNCTUATOR:en-US:*:*", "parameters": {}},
    }
    result = await stream_pcm(http, sim.url, token, PCM, extra_stages=[pc])
    expected = FIXTURES[0].text
    assert result.text == expected[0].upper() + expected[1:] + "."


async def test_byte_mode_reports_exact_bytes(byte_sim: Sim, http: aiohttp.ClientSession) -> None:
    token = (await password_grant(http, byte_sim.url))["access_token"]
    result = await stream_pcm(http, byte_sim.url, token, b"\x01\x02" * 12345)
    assert result.text == "24690 bytes"
    session = (await byte_sim.counters(http))["sessions"][0]
    assert session["bytes"] == 24690
    assert len(session["sha256"]) == 64


async def _violate(
    sim: Sim, http: aiohttp.ClientSession, *steps: str | bytes
) -> tuple[list[dict[str, object]], int | None]:
    """Open a session, send steps (str = text, bytes = binary), collect until close."""
    token = (await password_grant(http, sim.url))["access_token"]
    ws_url = sim.url.replace("http", "ws") + "/api/pipelines/stream"
    messages = []
    async with http.ws_connect(ws_url, headers={"Authorization": f"Bearer {token}"}) as ws:
        for step in steps:
            if isinstance(step, bytes):
                await ws.send_bytes(step)
            else:
                await ws.send_str(step)
        async for msg in ws:
            messages.append(json.loads(msg.data))
        return messages, ws.close_code


CONFIG = json.dumps(
    {
        "type": "CONFIG",
        "pipeline": [
            {
                "task": "ASR",
                "exceptionHandlingPolicy": "THROW",
                "config": {"tag": "KALDI:en-US:*:*", "parameters": {}},
            }
        ],
    }
)


@pytest.mark.parametrize(
    ("steps", "reason"),
    [
        ((b"\x00\x00",), "Audio before CONFIGURED"),
        ((CONFIG.replace("en-US", "xx-XX"),), "Unknown or non-streaming tag"),
        ((CONFIG.replace("KALDI:en-US:*:*", "WHISPER:sl-SI:*:*"),), "Unknown or non-streaming tag"),
        ((CONFIG, CONFIG), "already configured"),
        ((CONFIG, b"\x00\x00\x00"), "splits a 16-bit sample"),
        (('{"type": "EOS"}',), "EOS before CONFIG"),
        (("not json",), "not a JSON object"),
    ],
)
async def test_strict_checks_send_error_then_policy_close(
    sim: Sim, http: aiohttp.ClientSession, steps: tuple[str | bytes, ...], reason: str
) -> None:
    messages, code = await _violate(sim, http, *steps)
    error = messages[-1]
    assert kind(error) == "ERROR"
    assert reason in str(error["error"]["message"])  # type: ignore[index]
    assert code == 1008
    assert (await sim.counters(http))["protocol_violations"] == 1


async def test_control_endpoint_sets_and_rejects_faults(
    sim: Sim, http: aiohttp.ClientSession
) -> None:
    async with http.post(sim.url + "/_sim/faults", json={"unauthorized_upgrades": 2}) as resp:
        assert (await resp.json())["unauthorized_upgrades"] == 2
    async with http.post(sim.url + "/_sim/faults", json={"no_such_fault": 1}) as resp:
        assert resp.status == 400
    async with http.post(sim.url + "/_sim/reset") as resp:
        assert resp.status == 200
    async with http.get(sim.url + "/_sim/faults") as resp:
        assert (await resp.json())["unauthorized_upgrades"] == 0


async def test_fault_unauthorized_upgrades(sim: Sim, http: aiohttp.ClientSession) -> None:
    sim.state.faults.unauthorized_upgrades = 1
    token = (await password_grant(http, sim.url))["access_token"]
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await stream_pcm(http, sim.url, token, PCM)
    assert (await stream_pcm(http, sim.url, token, PCM)).text == FIXTURES[0].text


async def test_fault_error_after_config(sim: Sim, http: aiohttp.ClientSession) -> None:
    sim.state.faults.error_after_config = 1
    token = (await password_grant(http, sim.url))["access_token"]
    result = await stream_pcm(http, sim.url, token, PCM)
    assert kind(result.messages[-1]) == "ERROR"
    assert result.close_code == 1011


async def test_fault_drop_after_bytes(byte_sim: Sim, http: aiohttp.ClientSession) -> None:
    byte_sim.state.faults.update({"drop_after_bytes": 6400, "drop_sessions": 1})
    token = (await password_grant(http, byte_sim.url))["access_token"]
    with pytest.raises((EOFError, aiohttp.ClientError, ConnectionError)):
        await stream_pcm(http, byte_sim.url, token, PCM)
    # Only the next session was hit; the one after works.
    assert (await stream_pcm(http, byte_sim.url, token, PCM)).text == f"{len(PCM)} bytes"


async def test_fault_finished_delayed_and_never(byte_sim: Sim, http: aiohttp.ClientSession) -> None:
    token = (await password_grant(http, byte_sim.url))["access_token"]
    byte_sim.state.faults.finished_delay = 0.3
    loop = asyncio.get_running_loop()
    start = loop.time()
    await stream_pcm(http, byte_sim.url, token, PCM)
    assert loop.time() - start >= 0.3
    byte_sim.state.faults.update({"finished_delay": 0.0, "never_finish": 1})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(stream_pcm(http, byte_sim.url, token, PCM), 1.0)


async def test_fault_token_endpoint_down(sim: Sim, http: aiohttp.ClientSession) -> None:
    sim.state.faults.token_endpoint_down = True
    status, _ = await grant(http, sim, grant_type="password", username="demo", password="demo")
    assert status == 503
    assert (await sim.counters(http))["token_endpoint_errors"] == 1


async def test_fault_message_type_split_finals_and_warning(
    sim: Sim, http: aiohttp.ClientSession
) -> None:
    sim.state.faults.update(
        {"message_type_key": "messageType", "split_finals": True, "warning": True}
    )
    token = (await password_grant(http, sim.url))["access_token"]
    result = await stream_pcm(http, sim.url, token, PCM)
    assert all("messageType" in m and "type" not in m for m in result.messages)
    finals = [m for m in result.messages if kind(m) == "TEXT_SEGMENT"]
    assert len(finals) == len(FIXTURES[0].text.split())
    assert any(kind(m) == "WARNING" for m in result.messages)
    assert result.text == FIXTURES[0].text


async def test_fault_latency_delays_every_message(
    byte_sim: Sim, http: aiohttp.ClientSession
) -> None:
    token = (await password_grant(http, byte_sim.url))["access_token"]
    byte_sim.state.faults.latency = 0.1
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await stream_pcm(http, byte_sim.url, token, b"\x00" * 3200)
    # upgrade, INITIALIZED, CONFIGURED, then final segment and FINISHED (sent back to back,
    # they arrive back to back: the delay is a pipeline, as on a real network)
    assert loop.time() - start >= 0.4
    assert result.text == "3200 bytes"


def test_grammar_is_one_phrase_of_the_list_or_its_start() -> None:
    grammar = build_grammar(["Turn on the light!", "stop", "turn on"])
    alternatives = "( turn on the light ) | ( turn on the ) | ( turn on ) | ( turn ) | ( stop )"
    assert f"public <command> = {alternatives};" in grammar
    with pytest.raises(ValueError, match="no words"):
        build_grammar(["!!"])


def test_help_documents_every_fault() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "truebar_sim", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in (
        "--unauthorized-upgrades",
        "--error-after-config",
        "--drop-after-bytes",
        "--finished-delay",
        "--never-finish",
        "--token-endpoint-down",
        "--message-type-key",
        "--split-finals",
        "--warning",
        "--latency",
        "--mode",
    ):
        assert flag in out


async def test_the_quiet_tail_of_a_whole_command_is_not_decoded_as_speech() -> None:
    """After a whole command, its fading tail and the microphone's silence make a segment of
    their own: never loud, so not speech, whatever a decode of it would guess (seen under
    load: "Open the garage door. Eight.")."""
    decoder = shared_decoder(tuple(default_phrases()))
    garage = next(f for f in load_fixtures() if f.path.name == "open_the_garage_door.wav")
    recognizer = SphinxRecognizer(decoder, 300, 20000, decoder.complete)
    finals: list[str] = []
    pcm = garage.pcm() + bytes(64000)
    for offset in range(0, len(pcm), 320):
        words = await recognizer.feed(pcm[offset : offset + 320])
        if words:
            finals.append(text_of(words))
    finals.append(text_of(await recognizer.finish()))
    assert finals == ["open the garage door", ""]


def test_the_recorded_decodes_were_made_with_the_bundled_phrases() -> None:
    """A changed fixture or phrase list makes the record stale (it is then not used, and every
    test process decodes for itself): run script/record_decodes.py."""
    decoder = shared_decoder(tuple(default_phrases()))
    assert recorded_decodes(decoder.grammar_digest), (
        "run: .venv/bin/python script/record_decodes.py"
    )
