"""A minimal OpenAI-compatible transcription endpoint that answers at once (the peer's backend).

POST /v1/audio/transcriptions takes the multipart upload and answers {"text": "N bytes"}, N being
the PCM bytes of the uploaded WAV, like the simulator's byte mode. --latency adds a delay before
the answer (the one message this service sends), like the simulator's per-message latency.
GET /_stub/times lists (bytes, ms from upload received to answer) for every request.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web

TIMES = web.AppKey("times", list[tuple[int, float]])
LATENCY = web.AppKey("latency", float)


def pcm_bytes(wav: bytes) -> int:
    """Size of the data chunk of a RIFF/WAVE file (0 if there is none)."""
    offset = 12
    while offset + 8 <= len(wav):
        size = int.from_bytes(wav[offset + 4 : offset + 8], "little")
        if wav[offset : offset + 4] == b"data":
            return min(size, len(wav) - offset - 8)
        offset += 8 + size + (size & 1)
    return 0


async def transcriptions(request: web.Request) -> web.Response:
    """The transcription endpoint: multipart form with a `file` field."""
    form = await request.post()
    received = time.perf_counter()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return web.json_response({"error": {"message": "file is required"}}, status=400)
    size = pcm_bytes(upload.file.read())
    if request.app[LATENCY]:
        await asyncio.sleep(request.app[LATENCY])
    request.app[TIMES].append((size, (time.perf_counter() - received) * 1000))
    return web.json_response({"text": f"{size} bytes"})


async def times(request: web.Request) -> web.Response:
    """Control: the stub's own time per request."""
    return web.json_response(request.app[TIMES])


def build_app(latency: float) -> web.Application:
    """Return the stub's application."""
    app = web.Application(client_max_size=64 << 20)
    app[TIMES] = []
    app[LATENCY] = latency
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    app.router.add_get("/_stub/times", times)
    return app


def main() -> None:
    """Entry point: `python -m benchmarks.openai_stub --port P [--latency S]`."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--latency", type=float, default=0.0)
    a = p.parse_args()
    web.run_app(build_app(a.latency), host="127.0.0.1", port=a.port, print=None)


if __name__ == "__main__":
    main()
