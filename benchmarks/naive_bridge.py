"""The naive bridge: the reference the bridge's CPU is compared with (benchmarks only).

What a first Wyoming → Truebar bridge looks like, written the obvious way with the `wyoming`
library's own server and event handler (every event parsed into an `Event`, every chunk read
through `AudioChunk.from_event`) and aiohttp's WebSocket client: one password grant per
process, a Truebar session per utterance opened at audio-start, each Wyoming chunk sent as its
own binary frame the moment it comes, EOS at audio-stop, the finals joined by their
handedness, the transcript at FINISHED. No conversion (Home Assistant's audio is already
16 kHz mono s16le), no batching, no endpointing, no retries.

    python -m benchmarks.naive_bridge --uri tcp://127.0.0.1:PORT --sim http://127.0.0.1:SIM
"""

from __future__ import annotations

import argparse
import asyncio
import json
from functools import partial
from typing import Any

import aiohttp
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk
from wyoming.event import Event
from wyoming.info import AsrModel, AsrProgram, Attribution, Describe, Info
from wyoming.server import AsyncEventHandler, AsyncServer

TOKEN_PATH = "/realms/truebar/protocol/openid-connect/token"
ATTRIBUTION = Attribution(name="benchmarks", url="https://example.invalid")


class Shared:
    """One HTTP session and one access token for every connection."""

    def __init__(self, sim: str, user: str, password: str) -> None:
        self.sim = sim
        self.form = {
            "grant_type": "password",
            "username": user,
            "password": password,
            "client_id": "truebar-client",
        }
        self.http: aiohttp.ClientSession | None = None
        self.token: str | None = None

    async def access_token(self) -> str:
        if self.http is None:
            self.http = aiohttp.ClientSession()
        if self.token is None:
            async with self.http.post(self.sim + TOKEN_PATH, data=self.form) as resp:
                resp.raise_for_status()
                self.token = str((await resp.json())["access_token"])
        return self.token


class NaiveHandler(AsyncEventHandler):
    """One Wyoming connection: one Truebar session per utterance."""

    def __init__(self, shared: Shared, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shared = shared
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(info().event())
            return True
        if AudioChunk.is_type(event.type):
            if self.ws is not None:
                await self.ws.send_bytes(AudioChunk.from_event(event).audio)
            return True
        if event.type == "audio-start":
            await self.open()
            return True
        if event.type == "audio-stop":
            text = await self.finish()
            await self.write_event(Transcript(text=text).event())
            return False
        return True

    async def open(self) -> None:
        shared = self.shared
        token = await shared.access_token()
        assert shared.http is not None
        url = shared.sim.replace("http", "ws", 1) + "/api/pipelines/stream"
        ws = await shared.http.ws_connect(url, headers={"Authorization": f"Bearer {token}"})
        await ws.receive_json()  # INITIALIZED
        asr = {"tag": "KALDI:en-US:*:*", "parameters": {"enableInterims": False}}
        stage = {"task": "ASR", "exceptionHandlingPolicy": "THROW", "config": asr}
        await ws.send_str(json.dumps({"type": "CONFIG", "pipeline": [stage]}))
        await ws.receive_json()  # CONFIGURED
        self.ws = ws

    async def finish(self) -> str:
        ws, text, glue = self.ws, "", False
        assert ws is not None
        await ws.send_str(json.dumps({"type": "EOS", "lockSession": False}))
        while True:
            message = await ws.receive_json()
            kind = message.get("type") or message.get("messageType")
            if kind == "TEXT_SEGMENT" and message["textSegment"]["isFinal"]:
                for token in message["textSegment"]["tokens"]:
                    if token.get("text"):
                        if text and glue and not token.get("isLeftHanded"):
                            text += " "
                        text += token["text"]
                        glue = not token.get("isRightHanded")
            if kind == "STATUS" and message.get("status") == "FINISHED":
                break
        await ws.close()
        self.ws = None
        return text


def info() -> Info:
    """The one model this bridge offers."""
    model = AsrModel(
        name="naive",
        description="naive",
        attribution=ATTRIBUTION,
        installed=True,
        version="1",
        languages=["en"],
    )
    program = AsrProgram(
        name="naive",
        description="naive",
        attribution=ATTRIBUTION,
        installed=True,
        version="1",
        models=[model],
    )
    return Info(asr=[program])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uri", required=True)
    parser.add_argument("--sim", required=True)
    parser.add_argument("--user", default="demo")
    args = parser.parse_args()
    shared = Shared(args.sim, args.user, "demo")  # the simulator's demo account
    server = AsyncServer.from_uri(args.uri)
    await server.run(partial(NaiveHandler, shared))


if __name__ == "__main__":
    asyncio.run(main())
