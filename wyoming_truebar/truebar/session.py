"""One utterance's Truebar stream: the only module that touches the Truebar WebSocket.

The session connects while the user still speaks, buffers audio until CONFIGURED, then sends
it in frames of `frame_ms` as the audio arrives: Home Assistant's 10 ms chunks are gathered,
so the bridge (and Truebar) handle a frame, not an event, per `frame_ms` of audio. At
audio-stop the rest goes out at once, directly before EOS. The utterance's audio is kept
(bounded) so that a connection lost before FINISHED can be replaced and the audio replayed
from its start, in the same frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import aiohttp

from ..config.errors import (
    AuthError,
    BridgeError,
    BridgeTimeoutError,
    ConnectionLostError,
    ProtocolError,
    ServiceError,
    ServiceUnavailableError,
    UpgradeRefusedError,
)
from ..config.settings import Settings
from .budget import RETRY_FIRST, RETRY_MAX, AnswerBudget
from .credentials import CredentialsCache
from .network import Proxy, untrusted, via, with_token
from .protocol import (
    EOS_MESSAGE,
    Message,
    Stage,
    TranscriptAssembler,
    encode_config,
    parse_message,
)

_LOGGER = logging.getLogger(__name__)

OnFinal = Callable[[str], None]
"""Called with all text committed so far (in this attempt) after each final segment."""
OnHopeless = Callable[[BridgeError], None]
"""Called when the session has failed for good while the client is still sending audio
(wrong password, missing role, a pipeline Truebar refuses): the client can hear it at once."""
OnFinished = Callable[[str], None]
"""Called with the transcript the moment FINISHED is read, before the session's task ends
(the answer goes out without waiting for the task switches that follow)."""


class StreamEvents(Protocol):
    """What the session tells a listener of its stream, time-stamped (the bridge's `Meter`,
    which learns the service's conventions and gives the endpointer the running text): loop
    times for the service's own figures, the audio's clock for text."""

    def attempt(self) -> None:
        """A new connection: its text starts afresh."""

    def config_sent(self, at: float) -> None:
        """CONFIG went out at loop time `at`."""

    def configured(self, at: float) -> None:
        """CONFIGURED came at `at`."""

    def eos_sent(self, at: float) -> None:
        """EOS went out at `at`."""

    def finished(self, at: float) -> None:
        """FINISHED came at `at`, after EOS."""

    def segment(self, message: Message, received_ms: float, ended: bool) -> None:
        """A TEXT_SEGMENT came when `received_ms` of the client's audio had come in (`ended`:
        after audio-stop)."""


class TruebarSession:
    """Streams one utterance to Truebar and returns the joined final text."""

    def __init__(  # noqa: PLR0917 - the session's collaborators, all required
        self,
        http: aiohttp.ClientSession,
        credentials: CredentialsCache,
        settings: Settings,
        stages: Sequence[Stage],
        session_id: str,
        on_final: OnFinal | None = None,
        on_finished: OnFinished | None = None,
        on_hopeless: OnHopeless | None = None,
        events: StreamEvents | None = None,
        proxy: Proxy | None = None,
    ) -> None:
        self._http = http
        self._events = events  # told of every segment and timing (None: nobody listens)
        self._credentials = credentials
        self._settings = settings
        self._config = encode_config(stages)
        self.session_id = session_id
        self._on_final, self._on_finished, self._on_hopeless = on_final, on_finished, on_hopeless
        self._proxy = proxy
        self._eos_sent = self._ended = False
        self._connected = False  # the current attempt has a WebSocket connection open
        self._budget = AnswerBudget(settings)
        self._last_error: BridgeError | None = None  # what the client hears if time runs out
        self.failed_while_speaking = 0  # attempts failed before audio-stop (then retried)
        self.audio = bytearray()  # 16 kHz mono s16le so far (replayed; the endpointer reads it)
        self._frame = settings.frame_ms * 32  # bytes of 16 kHz 16-bit mono: always even
        self._sent = 0  # bytes of `audio` on the current attempt's stream
        self._waiting = False  # the pump is caught up and waits for the next whole frame
        self._flush = False  # send the partial frame now (a pause: Truebar hears it at once)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[str] | None = None
        self.attempts = 0  # tries so far (more than one: a retry, and a replay of the audio)
        self.configured_after: float | None = None  # seconds from start() to CONFIGURED
        self.replayed_bytes = 0  # audio sent again after reconnects
        self._started_at = 0.0
        # The stream that delivered FINISHED; closed by close(), after the transcript is out.
        self._finished_ws: aiohttp.ClientWebSocketResponse | None = None

    def start(self) -> None:
        """Begin connecting in the background (call as early as possible)."""
        if self._task is None:
            self._started_at = asyncio.get_running_loop().time()
            self._task = asyncio.create_task(self._run(), name=f"truebar {self.session_id}")
            self._task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[str]) -> None:
        """A session that fails before audio-stop has failed for good (transient failures are
        retried until then): tell the client now, not when it stops speaking."""
        if task.cancelled() or self._ended:
            return
        err = task.exception()
        if err is None or self._on_hopeless is None:
            return
        if not isinstance(err, BridgeError):
            _LOGGER.error("%s: internal error", self.session_id, exc_info=err)
            err = BridgeError("The speech-to-text server hit an internal error")
        self._on_hopeless(err)

    def send(self, pcm: bytes) -> None:
        """Add 16 kHz mono s16le audio; a whole frame wakes the pump (the per-chunk hot path:
        an append and a comparison)."""
        if pcm and not self._ended:
            self.audio += pcm
            if self._waiting and len(self.audio) - self._sent >= self._frame:
                self._waiting = False
                self._wake.set()

    def flush(self) -> None:
        """Send the audio so far now, without waiting for a whole frame (once)."""
        if not self._ended and len(self.audio) > self._sent:
            self._flush = True
            if self._waiting:
                self._waiting = False
                self._wake.set()

    def end_audio(self, live_end: float = 0.0) -> None:
        """The audio is complete (audio-stop): the rest goes out now, then EOS. The budgets
        run from now, or from `live_end` if later: the loop time at which the audio would have
        ended had it come in real time (a recording sent faster than that still has its
        length to be decoded at Truebar; a live stream's live_end is now, or just before)."""
        self.start()
        if not self._ended:
            self._ended = True
            now = asyncio.get_running_loop().time()
            self._budget.stop(now, live_end, self._connected)
        self._wake.set()

    async def finish(self) -> str:
        """Send EOS after the queued audio, wait for FINISHED, return the transcript: within
        answer_deadline of the end of speech, else the error of what failed (or a timeout)."""
        self.end_audio()
        assert self._task is not None
        try:
            async with asyncio.timeout_at(self._budget.answer_by):
                return await self._task
        except TimeoutError as err:
            failed = self._last_error
            if failed is not None:
                _LOGGER.debug("%s: answer_deadline ran out after %s", self.session_id, failed.code)
                raise failed from err
            raise BridgeTimeoutError("Truebar did not finish the transcript in time") from err

    async def close(self) -> None:
        """End the session (done, client gone or failed); safe to call at any time."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, BridgeError):
                await task
        ws, self._finished_ws = self._finished_ws, None
        if ws is not None:
            # Bounded: aiohttp waits at most its close timeout for Truebar's close frame.
            with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                await ws.close()

    async def _run(self) -> str:
        """Attempt until FINISHED. Transient failures are retried while the user speaks (the
        audio is kept and replayed), then within reconnect_deadline after audio-stop, with at
        most reconnect_attempts connections after audio-stop."""
        loop, budget = asyncio.get_running_loop(), self._budget
        pause = RETRY_FIRST
        while True:
            self.attempts += 1
            try:
                return await self._attempt()
            except BridgeError as err:
                self._last_error = err
                if not err.retryable or budget.out_of_tries(loop.time()):
                    raise
                if not self._ended:
                    self.failed_while_speaking += 1
                _LOGGER.debug(
                    "%s: Truebar attempt %d failed (%s: %s); retrying in %g s, then replaying "
                    "%.2f s of audio",
                    self.session_id,
                    self.attempts,
                    err.code,
                    err,
                    pause,
                    len(self.audio) / 32000,
                )
                await asyncio.sleep(budget.pause(pause, loop.time()))
                pause = min(2 * pause, RETRY_MAX)
                if budget.out_of_tries(loop.time()):
                    raise

    async def _attempt(self) -> str:
        token = await self._credentials.access_token()
        self._budget.connecting()
        ws = await self._connect(token)
        self._connected = True
        finished = False
        try:
            await self._configure(ws)
            said = TranscriptAssembler()
            reader = asyncio.create_task(self._read(ws, said))
            reader.add_done_callback(lambda _: self._wake.set())
            try:
                await self._pump(ws, reader)
                async with asyncio.timeout(self._settings.finish_timeout + self._budget.extra):
                    await reader
            except TimeoutError as err:
                raise BridgeTimeoutError("Truebar did not send FINISHED in time") from err
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, BridgeError):
                    await reader
            finished = True
            return said.text
        except (aiohttp.ClientError, ConnectionError) as err:
            raise ConnectionLostError(
                "The connection to Truebar was lost", detail=type(err).__name__
            ) from err
        finally:
            self._connected = False
            if finished:
                # The closing handshake costs a round trip: do it after the transcript is out.
                self._finished_ws = ws
            else:
                await ws.close()

    async def _configure(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """INITIALIZED, CONFIG, CONFIGURED: the attempt's stream is ready for audio."""
        await self._expect_status(ws, "INITIALIZED", configured=False)
        loop, events = asyncio.get_running_loop(), self._events
        if events is not None:
            events.attempt()
        await ws.send_str(self._config)
        sent = loop.time()
        await self._expect_status(ws, "CONFIGURED", configured=False)
        if events is not None:
            events.config_sent(sent)
            events.configured(loop.time())
        if self.configured_after is None:
            self.configured_after = loop.time() - self._started_at
        if self.attempts > 1:
            self.replayed_bytes += len(self.audio)
        _LOGGER.debug("%s: Truebar session configured", self.session_id)

    async def _connect(self, token: str) -> aiohttp.ClientWebSocketResponse:
        s = self._settings
        url, headers = s.stt_ws_url, {"Authorization": f"Bearer {token}"}
        if s.token_in_url:
            url, headers = with_token(url, token), {}
        try:
            async with asyncio.timeout(s.connect_timeout):
                ws: aiohttp.ClientWebSocketResponse = await self._http.ws_connect(
                    url,
                    headers=headers,
                    heartbeat=s.heartbeat,
                    max_msg_size=4 << 20,
                    **via(self._proxy),
                )
                return ws
        except aiohttp.WSServerHandshakeError as err:
            if err.status == 401:
                self._credentials.invalidate(token)
                raise UpgradeRefusedError("Truebar refused the access token") from err
            if err.status == 403:
                raise AuthError("The Truebar user may not use streaming pipelines") from err
            raise ServiceUnavailableError(
                f"Truebar refused the stream (HTTP {err.status})"
            ) from err
        except TimeoutError as err:
            raise ServiceUnavailableError("Connecting to Truebar timed out") from err
        except (aiohttp.ClientError, OSError) as err:
            raise untrusted(err, "Truebar") or ServiceUnavailableError(
                "Cannot reach Truebar", detail=type(err).__name__
            ) from err

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> Message:
        """Return the next text message; a close or a socket error ends the attempt."""
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                return parse_message(msg.data)
            if msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                raise ConnectionLostError(
                    "Truebar closed the stream before FINISHED",
                    detail=f"close code {ws.close_code}",
                )
            # Binary and ping frames carry nothing for us.

    async def _expect_status(
        self, ws: aiohttp.ClientWebSocketResponse, status: str, configured: bool
    ) -> None:
        try:
            async with asyncio.timeout(self._settings.setup_timeout):
                while True:
                    message = await self._receive(ws)
                    if message.kind == "STATUS" and message.status == status:
                        return
                    self._other(message, configured)
        except TimeoutError as err:
            raise BridgeTimeoutError(f"Truebar did not send {status} in time") from err

    def _other(self, message: Message, configured: bool) -> None:
        """Handle messages that need no reply: warnings, errors, unknown kinds."""
        if message.kind == "ERROR":
            _LOGGER.warning(
                "%s: Truebar ERROR (id %s): %s", self.session_id, message.error_id, message.text
            )
            error = ServiceError(f"Truebar reported an error: {message.text}")
            # An ERROR before CONFIGURED is about the pipeline itself: a retry cannot help.
            error.retryable = configured
            raise error
        if message.kind == "WARNING":
            _LOGGER.info("%s: Truebar warning: %s", self.session_id, message.text)
        else:
            _LOGGER.debug("%s: ignoring Truebar message %s", self.session_id, message.kind)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, said: TranscriptAssembler) -> None:
        """Collect final segments until FINISHED; tell the listener of every segment."""
        events = self._events
        while True:
            message = await self._receive(ws)
            if message.kind == "TEXT_SEGMENT":
                added = message.final and said.add_final(message.tokens)
                if added and self._on_final is not None:
                    self._on_final(said.text)
                if events is not None:
                    # The wall clock becomes the audio's here, once: what had come in by now.
                    events.segment(message, len(self.audio) / 32, self._ended)
            elif message.kind == "STATUS":
                if message.status == "FINISHED":
                    if self._eos_sent:
                        if events is not None:
                            events.finished(asyncio.get_running_loop().time())
                        if self._on_finished is not None:
                            self._on_finished(said.text)
                    return
            else:
                self._other(message, configured=True)

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse, reader: asyncio.Task[None]) -> None:
        """Send the utterance's audio from its start in frames, keep up with new audio, and
        after audio-stop send the rest and EOS."""
        self._sent = 0
        self._eos_sent = False
        while True:
            ended = self._ended
            flush, self._flush = self._flush, False
            await self._send_frames(ws, everything=ended or flush)
            if reader.done():
                reader.result()  # raises the reader's error
                raise ProtocolError("Truebar sent FINISHED before the end of the audio")
            if ended:
                self._eos_sent = True  # before the await: FINISHED may be read while it drains
                if self._events is not None:
                    self._events.eos_sent(asyncio.get_running_loop().time())
                await ws.send_str(EOS_MESSAGE)
                return
            if self._ended or self._flush or len(self.audio) - self._sent >= self._frame:
                continue  # more arrived while a frame was being written
            self._wake.clear()
            self._waiting = True
            try:
                await self._wake.wait()
            finally:
                self._waiting = False

    async def _send_frames(self, ws: aiohttp.ClientWebSocketResponse, everything: bool) -> None:
        """Send every whole frame not yet sent; with `everything`, the partial last one too."""
        audio, frame = self.audio, self._frame
        while len(audio) - self._sent >= frame or (everything and self._sent < len(audio)):
            start = self._sent
            self._sent = min(len(audio), start + frame)
            await ws.send_bytes(bytes(audio[start : self._sent]))
