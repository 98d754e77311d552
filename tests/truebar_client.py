"""A minimal client that follows shared/truebar-protocol.md, for testing the simulator."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp

TOKEN_PATH = "/realms/truebar/protocol/openid-connect/token"


async def password_grant(
    http: aiohttp.ClientSession, base: str, user: str = "demo", password: str = "demo"
) -> dict[str, Any]:
    """Run the password grant and return the response body (raises on failure)."""
    form = {
        "grant_type": "password",
        "username": user,
        "password": password,
        "client_id": "truebar-client",
    }
    async with http.post(base + TOKEN_PATH, data=form) as resp:
        resp.raise_for_status()
        body: dict[str, Any] = await resp.json()
        return body


def join_tokens(tokens: list[dict[str, Any]], text: str = "", prev_right: bool = True) -> str:
    """Join tokens by the handedness rules (the doc's quickstart)."""
    for token in tokens:
        piece = token.get("text") or ""
        if not piece:
            continue
        if text and not prev_right and not token.get("isLeftHanded"):
            text += " "
        text += piece
        prev_right = bool(token.get("isRightHanded"))
    return text


@dataclass
class StreamResult:
    """What one streamed session produced."""

    text: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None


def kind(message: dict[str, Any]) -> str:
    """The message discriminator, read from `type` or `messageType`."""
    return str(message.get("type") or message.get("messageType"))


async def stream_pcm(
    http: aiohttp.ClientSession,
    base: str,
    token: str,
    pcm: bytes,
    tag: str = "KALDI:en-US:*:*",
    extra_stages: list[dict[str, Any]] | None = None,
    interims: bool = False,
    frame: int = 3200,
    realtime: bool = False,
) -> StreamResult:
    """Stream PCM through one session and collect every message and the final text
    (`realtime`: each frame when its last sample was spoken)."""
    result = StreamResult()
    pipeline = [
        {
            "task": "ASR",
            "exceptionHandlingPolicy": "THROW",
            "config": {"tag": tag, "parameters": {"enableInterims": interims}},
        }
    ]
    pipeline += extra_stages or []
    url = base.replace("http", "ws", 1) + "/api/pipelines/stream"
    async with http.ws_connect(url, headers={"Authorization": f"Bearer {token}"}) as ws:

        async def receive() -> dict[str, Any]:
            msg = await asyncio.wait_for(ws.receive(), 10)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise EOFError(msg.type)
            data: dict[str, Any] = json.loads(msg.data)
            result.messages.append(data)
            return data

        assert (await receive())["status"] == "INITIALIZED"
        await ws.send_str(json.dumps({"type": "CONFIG", "pipeline": pipeline}))
        configured = await receive()
        if configured.get("status") != "CONFIGURED":
            await ws.receive()
            result.close_code = ws.close_code
            return result
        for offset in range(0, len(pcm), frame):
            await ws.send_bytes(pcm[offset : offset + frame])
            if realtime:
                await asyncio.sleep(frame / 32000)
        await ws.send_str(json.dumps({"type": "EOS", "lockSession": False}))
        prev_right = True
        while True:
            message = await receive()
            if kind(message) == "TEXT_SEGMENT" and message["textSegment"]["isFinal"]:
                tokens = message["textSegment"]["tokens"]
                result.text = join_tokens(tokens, result.text, prev_right if result.text else True)
                prev_right = bool(tokens[-1].get("isRightHanded")) if tokens else prev_right
            if kind(message) == "STATUS" and message["status"] == "FINISHED":
                break
        await ws.receive()
        result.close_code = ws.close_code
    return result
