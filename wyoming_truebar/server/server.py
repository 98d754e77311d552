"""The listening side: accepts Wyoming connections on tcp://, unix:// or stdio://."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys
from urllib.parse import urlparse

from ..config.errors import BridgeError, ForbiddenError, ServiceUnavailableError
from .connection import Connection
from .context import BridgeContext

_LOGGER = logging.getLogger(__name__)
STOP_TIMEOUT = 1.0
"""Seconds connections still open after the grace period get to take their error and close."""


class _StdinReader(asyncio.Protocol):
    """stdin for a Connection: the end of stdin is only the client's EOF (stdout stays open)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._connection.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._connection.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection.eof_received()


class _StdoutWriter(asyncio.Protocol):
    """stdout for a Connection: its end is the end of the connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection.connection_lost(exc)


class BridgeServer:
    """Runs one Connection per client and can stop gracefully."""

    def __init__(self, ctx: BridgeContext) -> None:
        self._ctx = ctx
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self.address: str = ""
        """What the server listens on, as a URI (with the real port when 0 was asked)."""

    def _connection(self) -> Connection:
        connection = Connection(self._ctx, self._refusal)
        self._connections.add(connection)
        connection.done.add_done_callback(lambda _: self._connections.discard(connection))
        return connection

    def _refusal(self, transport: asyncio.BaseTransport) -> BridgeError | None:
        networks = self._ctx.settings.allowed_networks
        if not networks:
            return None
        peer = transport.get_extra_info("peername")
        if not isinstance(peer, tuple):
            return None  # unix sockets and pipes: guarded by file permissions instead
        try:
            address = ipaddress.ip_address(peer[0])
        except ValueError:
            address = None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address is not None and any(address in network for network in networks):
            return None
        return ForbiddenError("This client is not allowed to connect")

    async def start(self, uri: str) -> None:
        """Start listening (tcp or unix); stdio is served by serve_stdio."""
        loop = asyncio.get_running_loop()
        parsed = urlparse(uri)
        if parsed.scheme == "tcp":
            self._server = await loop.create_server(
                self._connection, host=parsed.hostname, port=parsed.port or 0
            )
            host, port = self._server.sockets[0].getsockname()[:2]
            self.address = f"tcp://{host}:{port}"
        elif parsed.scheme == "unix":
            self._server = await loop.create_unix_server(self._connection, path=parsed.path)
            self.address = uri
        else:
            raise ValueError(f"cannot listen on {uri}")
        _LOGGER.info("Listening on %s", self.address)

    async def serve_stdio(self) -> None:
        """Serve a single client over stdin/stdout (for piping)."""
        loop = asyncio.get_running_loop()
        connection = self._connection()
        out, _ = await loop.connect_write_pipe(lambda: _StdoutWriter(connection), sys.stdout)
        connection.use_output(out)
        await loop.connect_read_pipe(lambda: _StdinReader(connection), sys.stdin)
        await connection.done

    async def stop(self, grace: float) -> None:
        """Stop accepting; close idle connections; let utterances in flight finish for up to
        `grace` seconds; then end the rest with an error."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            if not connection.in_flight:
                connection.close()
        pending = [c.done for c in self._connections]
        if not pending:
            return
        _LOGGER.info("Waiting up to %g s for %d utterance(s) in flight", grace, len(pending))
        _, late = await asyncio.wait(pending, timeout=grace)
        if late:
            for connection in list(self._connections):
                connection.fail(ServiceUnavailableError("The speech-to-text server is stopping"))
            await asyncio.wait(late, timeout=STOP_TIMEOUT)

    @property
    def connections(self) -> int:
        """Open client connections."""
        return len(self._connections)
