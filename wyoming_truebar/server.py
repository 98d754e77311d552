"""The listening side: accepts Wyoming connections on tcp://, unix:// or stdio://."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys
from urllib.parse import urlparse

from wyoming.event import async_get_stdin

from .context import BridgeContext
from .errors import ForbiddenError
from .handler import BridgeHandler
from .wyoming_io import HEADER_LIMIT

_LOGGER = logging.getLogger(__name__)


class BridgeServer:
    """Runs one BridgeHandler per connection and can stop gracefully."""

    def __init__(self, ctx: BridgeContext) -> None:
        self._ctx = ctx
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.address: str = ""
        """What the server listens on, as a URI (with the real port when 0 was asked)."""

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            handler = BridgeHandler(self._ctx, reader, writer)
            if self._allowed(writer):
                await handler.run()
            else:
                await handler.refuse(ForbiddenError("This client is not allowed to connect"))
        except asyncio.CancelledError:
            # Cancelled at shutdown after the grace period. This is the connection's outermost
            # frame: end quietly (Python 3.11's stream callback logs cancelled tasks as errors).
            writer.close()
        finally:
            self._tasks.discard(task)

    def _allowed(self, writer: asyncio.StreamWriter) -> bool:
        networks = self._ctx.settings.allowed_networks
        if not networks:
            return True
        peer = writer.get_extra_info("peername")
        if not isinstance(peer, tuple):
            return True  # unix sockets and pipes: guarded by file permissions instead
        try:
            address = ipaddress.ip_address(peer[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in networks)

    async def start(self, uri: str) -> None:
        """Start listening (tcp or unix); stdio is served by serve_stdio."""
        parsed = urlparse(uri)
        if parsed.scheme == "tcp":
            self._server = await asyncio.start_server(
                self._on_connect, host=parsed.hostname, port=parsed.port, limit=HEADER_LIMIT
            )
            host, port = self._server.sockets[0].getsockname()[:2]
            self.address = f"tcp://{host}:{port}"
        elif parsed.scheme == "unix":
            self._server = await asyncio.start_unix_server(
                self._on_connect, path=parsed.path, limit=HEADER_LIMIT
            )
            self.address = uri
        else:
            raise ValueError(f"cannot listen on {uri}")
        _LOGGER.info("Listening on %s", self.address)

    async def serve_stdio(self) -> None:
        """Serve a single client over stdin/stdout (for piping)."""
        reader = await async_get_stdin()
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, sys.stdout
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        await BridgeHandler(self._ctx, reader, writer).run()

    async def stop(self, grace: float) -> None:
        """Stop accepting, let utterances in flight finish for up to `grace` s, then cancel."""
        if self._server is not None:
            self._server.close()
        pending = set(self._tasks)
        if pending:
            _LOGGER.info("Waiting up to %g s for %d connection(s)", grace, len(pending))
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=1.0)

    @property
    def connections(self) -> int:
        """Open client connections."""
        return len(self._tasks)
