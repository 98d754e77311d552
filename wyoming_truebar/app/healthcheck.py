"""`wyoming-truebar-health`: exit 0 if the server answers Describe with an ASR program in time.

Used as the container HEALTHCHECK; it asks the real server over the Wyoming protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from wyoming.client import AsyncClient
from wyoming.info import Describe, Info


def local_uri(uri: str) -> str:
    """The address to check: a wildcard bind (0.0.0.0, ::) is reached on loopback."""
    for wildcard, loopback in (
        ("tcp://0.0.0.0:", "tcp://127.0.0.1:"),
        ("tcp://[::]:", "tcp://[::1]:"),
    ):
        if uri.startswith(wildcard):
            return loopback + uri[len(wildcard) :]
    return uri


async def check(uri: str, seconds: float) -> str | None:
    """Return None if healthy, else the reason."""
    try:
        async with asyncio.timeout(seconds), AsyncClient.from_uri(uri) as client:
            await client.write_event(Describe().event())
            event = await client.read_event()
    except (OSError, TimeoutError) as err:
        return f"no answer from {uri}: {type(err).__name__}"
    if event is None or not Info.is_type(event.type):
        return f"{uri} did not answer Describe with Info"
    if not Info.from_event(event).asr:
        return f"{uri} offers no speech-to-text program"
    return None


def run(argv: Sequence[str] | None = None) -> None:
    """Entry point of `wyoming-truebar-health`."""
    parser = argparse.ArgumentParser(prog="wyoming-truebar-health", description=__doc__)
    parser.add_argument(
        "--uri",
        default=os.environ.get("TRUEBAR_URI", "tcp://127.0.0.1:10300"),
        help="server to ask (default: env TRUEBAR_URI, wildcard hosts → loopback)",
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default: 3)")
    args = parser.parse_args(argv)
    reason = asyncio.run(check(local_uri(args.uri), args.timeout))
    if reason:
        print(f"unhealthy: {reason}", file=sys.stderr)
        sys.exit(1)
    print("healthy")


if __name__ == "__main__":
    run()
