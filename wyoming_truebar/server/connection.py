"""One client connection as an asyncio Protocol: bytes in, events to the handler, and the
failure contract (an `error` event, then a lingering close).

Whatever a read brings is parsed at once and every complete event in it is handled on the
spot, with no task switch per event. Reads go into one reused buffer (a BufferedProtocol):
asyncio's plain Protocol path calls recv(262144), and whether that allocation is cheap depends
on the allocator's state (a bare asyncio server here spent 18 µs of system time per read on
it). Only a step that waits (audio-stop waits for Truebar) runs as a task; events that arrive
meanwhile wait in a bounded backlog. The client's idle deadline is one timer per connection,
moved forward lazily: an event only records the time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from enum import Enum

from wyoming.error import Error
from wyoming.event import Event

from ..config.errors import BridgeError, ClientTimeoutError
from .context import BridgeContext
from .handler import BridgeHandler, Step
from .wyoming_io import EventParser, encode_event

_LOGGER = logging.getLogger(__name__)
LINGER_SECONDS = 0.5
"""After an error, how long what the client still sends is read and discarded before closing
(closing with unread data makes the kernel reset the connection, and the client could lose
the `error` event before reading it)."""
LINGER_BYTES = 1 << 20
"""... and how much of it at most."""
BACKLOG_LIMIT = 256
"""Events queued behind a waiting step before reading from the client is paused."""
READ_BUFFER = 16 * 1024
"""Bytes read from the client at most per read (a Home Assistant event is about 450 bytes;
larger events take several reads; each connection holds one such buffer)."""
UTTERANCE_CHECK = 1.0
"""Seconds between checks of an utterance's wall-clock bound (the timer is armed no later)."""


class State(Enum):
    """Where a connection stands."""

    OPEN = 1
    LINGERING = 2
    CLOSED = 3


class Connection(asyncio.BufferedProtocol):
    """Serves one client; any failure becomes `error`, then the connection closes."""

    def __init__(
        self, ctx: BridgeContext, refusal: Callable[[asyncio.BaseTransport], BridgeError | None]
    ) -> None:
        self._ctx = ctx
        self._refusal = refusal
        self._loop = asyncio.get_running_loop()
        self._parser = EventParser(ctx.settings.max_event_bytes)
        self._handler = BridgeHandler(ctx, self.write, self.fail, lambda: self._parser.version)
        self._transport: asyncio.ReadTransport | None = None
        self._out: asyncio.WriteTransport | None = None
        self._state = State.OPEN
        self._backlog: deque[Event] = deque()
        self._paused = False
        self._step: asyncio.Task[None] | None = None
        self._eof = False
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._discarded = 0
        self._read_buffer = memoryview(bytearray(READ_BUFFER))
        self._ending: asyncio.Task[None] | None = None
        self.done: asyncio.Future[None] = self._loop.create_future()
        """Resolved once the connection is closed and its utterance ended."""

    def use_output(self, out: asyncio.WriteTransport) -> None:
        """Write to another transport than the one read from (stdio)."""
        self._out = out

    @property
    def in_flight(self) -> bool:
        """Whether an utterance is still to be answered (shutdown lets it finish)."""
        return self._handler.owes_answer or self._step is not None

    # asyncio.BufferedProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start serving, or refuse the client."""
        assert isinstance(transport, asyncio.ReadTransport)
        self._transport = transport
        if self._out is None:
            assert isinstance(transport, asyncio.WriteTransport)
            self._out = transport
        refused = self._refusal(transport)
        if refused is not None:
            peer = transport.get_extra_info("peername")
            _LOGGER.warning("Refused %s: %s", peer, refused.code)
            self._send_error(refused)
            return
        self._last = self._loop.time()
        self._arm(self._last + self._ctx.settings.idle_timeout)

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where the next read goes."""
        return self._read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        """A read filled `nbytes` of the buffer."""
        self.data_received(self._read_buffer[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        """Parse what arrived and handle every complete event in it."""
        if self._state is not State.OPEN:
            self._discard(len(data))
            return
        try:
            events = self._parser.feed(data)
        except BridgeError as err:
            self.fail(err)
            return
        if events:
            self._last = self._loop.time()
            self._run(events)

    def eof_received(self) -> bool:
        """The client will send no more; answer what is pending, then close."""
        self._eof = True
        if self._state is State.LINGERING or (self._step is None and not self._backlog):
            self.close()
        return True  # keep the transport open for a transcript still being produced

    def connection_lost(self, exc: Exception | None) -> None:
        """Gone: stop waiting for Truebar and end the utterance."""
        self._state = State.CLOSED
        if self._timer is not None:
            self._timer.cancel()
        if self._step is not None:
            self._step.cancel()
        self._backlog.clear()
        ending = self._end_utterance()
        if ending is None:
            self._resolve_done()
        else:
            ending.add_done_callback(lambda _: self._resolve_done())

    def _end_utterance(self) -> asyncio.Task[None] | None:
        """Close the utterance's Truebar session, once; return the task doing it."""
        if self._ending is None and self._handler.in_utterance:
            self._ending = self._loop.create_task(self._handler.end())
        return self._ending

    # Handling events

    def _run(self, events: list[Event]) -> None:
        if self._step is not None or self._backlog:
            self._backlog.extend(events)
            self._throttle()
            return
        for index, event in enumerate(events):
            try:
                step = self._handler.handle(event)
            except Exception as err:
                self._failed(err)
                return
            if step is not None:
                self._backlog.extend(events[index + 1 :])
                self._step = self._loop.create_task(self._wait_for(step))
                self._throttle()
                return

    async def _wait_for(self, step: Step) -> None:
        try:
            keep = await step
        except Exception as err:
            self._step = None
            self._failed(err)
            return
        self._step = None
        if not keep or self._state is not State.OPEN:
            self.close()
            return
        self._last = self._loop.time()
        if self._backlog:
            events = list(self._backlog)
            self._backlog.clear()
            if self._paused and self._transport is not None:
                self._paused = False
                self._transport.resume_reading()
            self._run(events)
        elif self._eof:
            self.close()

    def _failed(self, err: Exception) -> None:
        """A BridgeError goes to the client as it is; anything else is a bug."""
        if not isinstance(err, BridgeError):
            _LOGGER.error("%s: internal error", self._handler.label, exc_info=err)
            err = BridgeError("The speech-to-text server hit an internal error")
        self.fail(err)

    def _throttle(self) -> None:
        if not self._paused and len(self._backlog) > BACKLOG_LIMIT and self._transport:
            self._paused = True
            self._transport.pause_reading()

    # The idle deadline and the utterance's wall-clock bound: one timer

    def _arm(self, when: float) -> None:
        self._timer = self._loop.call_at(when, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._state is not State.OPEN:
            return
        now, idle = self._loop.time(), self._ctx.settings.idle_timeout
        if self._step is not None:  # waiting for Truebar, not for the client (bounded there)
            self._arm(now + min(idle, UTTERANCE_CHECK))
            return
        try:
            self._handler.check_wall_clock(now)
        except BridgeError as err:
            self.fail(err)
            return
        deadline = self._last + idle
        if now >= deadline:
            self.fail(ClientTimeoutError(f"No event from the client for {idle:g} seconds"))
            return
        if self._handler.in_utterance:
            deadline = min(deadline, now + UTTERANCE_CHECK)
        self._arm(deadline)

    # Writing, failing and closing

    def write(self, data: bytes) -> bool:
        """Write to the client; False if it is gone (never raises for that)."""
        out = self._out
        if self._state is not State.OPEN or out is None or out.is_closing():
            return False
        out.write(data)
        return True

    def fail(self, err: BridgeError) -> None:
        """End the connection with `error`: log and count it, write it, then close lingering."""
        if self._state is not State.OPEN:
            return
        self._handler.failed(err)
        self._send_error(err)

    def _send_error(self, err: BridgeError) -> None:
        self.write(encode_event(Error(text=str(err), code=err.code).event()))
        self._state = State.LINGERING
        self._backlog.clear()
        if self._step is not None:
            self._step.cancel()
        self._end_utterance()
        if self._paused and self._transport is not None:
            self._transport.resume_reading()
        if self._out is not None and self._out.can_write_eof():
            self._out.write_eof()
        if self._eof:
            self.close()
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(LINGER_SECONDS, self.close)

    def _discard(self, size: int) -> None:
        self._discarded += size
        if self._discarded > LINGER_BYTES:
            self.close()

    def close(self) -> None:
        """Close the connection (what was written is still sent)."""
        if self._state is State.CLOSED:
            return
        self._state = State.CLOSED
        if self._transport is not None:
            self._transport.close()
        out: asyncio.BaseTransport | None = self._out
        if out is not None and out is not self._transport:
            out.close()

    def _resolve_done(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
