"""One simulated Truebar streaming session: INITIALIZED, CONFIG, audio, EOS, FINISHED."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from .conventions import Conventions, Span, text_segment
from .recognizer import ByteCounter, Recognizer, SphinxRecognizer
from .script import ScriptLookup
from .stages import find_option, tag_language
from .state import RecognitionMode
from .words import Word, text_of

if TYPE_CHECKING:
    from .state import SimState

_LOGGER = logging.getLogger(__name__)
_IDS = itertools.count(4800)
WALL_PACE = 0.8
"""An interim needs this share of interim_interval_ms to have passed in wall time too."""


class ViolationError(Exception):
    """The client broke the protocol: ERROR, then close with policy violation."""


class StreamSession:
    """Serves one WebSocket connection of /api/pipelines/stream."""

    def __init__(
        self,
        state: SimState,
        request: web.Request,
        ws: web.WebSocketResponse,
        roles: tuple[str, ...],
    ) -> None:
        self._state = state
        self._roles = roles
        self._request = request
        self._ws = ws
        self._session_id = next(_IDS)
        self._recognizer: Recognizer | None = None
        self._punctuate = False
        self._normalise = False
        """Finals write numbers as digits (an NLP_nm stage)."""
        self._interims = False
        self._interim_text = ""
        self._since_interim = 0
        self._interim_at = float("-inf")
        """Loop time of the latest interim."""
        self._received = 0
        self._digest = hashlib.sha256()
        self._drop_at: int | None = None
        self._record: dict[str, Any] = {"sessionId": self._session_id, "finished": False}
        self._frames: list[tuple[float, int]] = []
        """(arrival on the wall clock, bytes) of every audio frame."""
        self._outbox: asyncio.Future[None] | None = None
        self._conventions: Conventions = state.conventions
        """The conventions in force when the session began (a switch applies to the next)."""
        self._segment_start = 0
        """Where the current segment began in the stream (ms): after the latest final."""
        self._last_final: list[Word] = []
        self._reader: asyncio.Future[None] | None = None
        self._inbox: deque[tuple[float, Any]] = deque()
        """Client messages with their arrival time, handled `uplink_ms` after it."""
        self._arrived = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message; with a simulated WAN latency it arrives that much later.

        Like a real network, the delay is a pipeline, not a queue: messages sent back to
        back (final segments, then FINISHED) arrive back to back, each `latency` late.
        """
        faults = self._state.faults
        kind = message.pop("type")
        text = json.dumps({faults.message_type_key: kind, **message})
        latency = faults.latency + self._conventions.downlink_ms / 1000
        if not latency:
            await self._ws.send_str(text)
            return
        due = asyncio.get_running_loop().time() + latency
        self._outbox = asyncio.ensure_future(self._deliver(self._outbox, due, text))

    async def _deliver(self, before: asyncio.Future[None] | None, due: float, text: str) -> None:
        if before is not None:
            await before  # keeps the order of messages
        await asyncio.sleep(due - asyncio.get_running_loop().time())
        with contextlib.suppress(ConnectionError):
            await self._ws.send_str(text)

    async def flush(self) -> None:
        """Wait until every delayed message is on the wire."""
        if self._outbox is not None:
            await self._outbox

    async def run(self) -> None:
        """Serve the session until it ends, however it ends."""
        counters = self._state.counters
        counters.sessions.append(self._record)
        try:
            await self.send({"type": "STATUS", "status": "INITIALIZED"})
            await self._serve()
        except ViolationError as err:
            counters.protocol_violations += 1
            _LOGGER.info("session %s: protocol violation: %s", self._session_id, err)
            await self._fail(str(err), WSCloseCode.POLICY_VIOLATION)
        except (ConnectionError, asyncio.CancelledError):
            raise
        finally:
            if self._outbox is not None:
                self._outbox.cancel()
            self._record.update(
                bytes=self._received,
                sha256=self._digest.hexdigest(),
                frames=self._frames,
            )
            if self._recognizer is not None:
                self._recognizer.close()

    async def _fail(self, text: str, code: int) -> None:
        error = {"id": self._session_id, "timestamp": int(time.time() * 1000), "message": text}
        if not self._ws.closed:
            await self.send({"type": "ERROR", "error": error})
            await self.flush()
            await self._close(code=code, message=text.encode()[:120])

    async def _serve(self) -> None:
        reader = self._reader = asyncio.ensure_future(self._read_client())
        try:
            while True:
                msg = await self._next_message()
                if msg is None or msg.type == WSMsgType.ERROR:
                    return
                if msg.type == WSMsgType.BINARY:
                    await self._audio(msg.data)
                elif msg.type == WSMsgType.TEXT and await self._text(msg.data):
                    return
        finally:
            reader.cancel()

    async def _close(self, code: int, message: bytes = b"") -> None:
        """Close the socket (the closing handshake reads it: the client reader stops first)."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._ws.close(code=code, message=message)

    async def _read_client(self) -> None:
        """Stamp every client message with its arrival (None: the socket closed)."""
        loop = asyncio.get_running_loop()
        async for msg in self._ws:
            self._inbox.append((loop.time(), msg))
            self._arrived.set()
        self._inbox.append((loop.time(), None))
        self._arrived.set()

    async def _next_message(self) -> Any:
        """The next client message, as the service sees it: `uplink_ms` after it was sent."""
        while not self._inbox:
            self._arrived.clear()
            await self._arrived.wait()
        arrived, msg = self._inbox.popleft()
        wait = arrived + self._conventions.uplink_ms / 1000 - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
        return msg

    def _behind(self) -> bool:
        """More of the client's audio has reached the service than it has handled (a
        recording sent faster than its decoding, or a backlog behind a slow decode)."""
        if not self._inbox:
            return False
        due = self._inbox[0][0] + self._conventions.uplink_ms / 1000
        return due <= asyncio.get_running_loop().time()

    async def _text(self, raw: str) -> bool:
        """Handle one text message; return True once the session is over."""
        try:
            message = json.loads(raw)
            kind = message.get("type") or message.get("messageType")
        except (ValueError, AttributeError) as err:
            raise ViolationError("Message is not a JSON object") from err
        if kind == "CONFIG":
            if self._recognizer is not None:
                raise ViolationError("Session is already configured")
            await self._configure(message.get("pipeline"))
            return self._ws.closed
        if kind == "EOS":
            if self._recognizer is None:
                raise ViolationError("EOS before CONFIG")
            self._record["eos_at"] = time.time()
            await self._finish(time.perf_counter())
            return True
        raise ViolationError(f"Unknown message type: {kind!r}")

    async def _configure(self, pipeline: Any) -> None:
        self._state.counters.pipelines.append(pipeline)
        self._check_pipeline(pipeline)
        faults = self._state.faults
        fail, faults.error_after_config = faults.take(faults.error_after_config)
        if fail:
            await self._fail("Injected fault: pipeline failed to start", WSCloseCode.INTERNAL_ERROR)
            return
        asr = pipeline[0]
        self._record["tag"] = asr["config"]["tag"]
        self._interims = bool(asr["config"].get("parameters", {}).get("enableInterims"))
        self._interims = self._interims and self._conventions.interim_interval_ms > 0
        tasks = {stage.get("task") for stage in pipeline[1:]}
        self._punctuate = self._conventions.punctuate or "NLP_pc" in tasks
        self._normalise = "NLP_nm" in tasks
        drop, faults.drop_sessions = faults.take(faults.drop_sessions)
        self._drop_at = faults.drop_after_bytes if drop else None
        self._recognizer = self._new_recognizer(str(asr["config"]["tag"]))
        recording_id = self._session_id + 5000
        self._record["recordingId"] = recording_id
        await self.send(
            {
                "type": "STATUS",
                "status": "CONFIGURED",
                "sessionId": self._session_id,
                "recordingId": recording_id,
            }
        )
        if faults.warning:
            await self.send({"type": "WARNING", "message": "Injected warning: audio level low"})

    def _check_pipeline(self, pipeline: Any) -> None:
        if not isinstance(pipeline, list) or not pipeline:
            raise ViolationError("CONFIG needs a non-empty pipeline")
        for index, stage in enumerate(pipeline):
            if not isinstance(stage, dict) or not isinstance(stage.get("config"), dict):
                raise ViolationError(f"Stage {index} is malformed")
            task, tag = stage.get("task"), str(stage["config"].get("tag", ""))
            if index == 0 and task != "ASR":
                raise ViolationError("The first stage must be ASR")
            feature = "onlineAsr" if task == "ASR" else None
            if find_option(str(task), tag, feature) is None:
                raise ViolationError(f"Unknown or non-streaming tag for {task}: {tag}")
            role = f"STAGE_{str(task).upper()}"
            if role not in self._roles and stage.get("exceptionHandlingPolicy") != "SKIP":
                raise ViolationError(f"The user lacks the role {role} for the stage {task}")

    def _new_recognizer(self, tag: str) -> Recognizer:
        """English: pocketsphinx. Other languages (no model here): the scripted recordings
        the control plane registered, recognised by their audio; other audio, and every
        language while no script is registered, goes to pocketsphinx's English model."""
        if self._state.settings.mode is RecognitionMode.BYTES:
            return ByteCounter()
        settings, decoder, pool = self._state.settings, self._state.decoder, self._state.pool
        pause, lookahead = self._conventions.final_pause_ms, settings.final_lookahead_ms

        def sphinx() -> Recognizer:
            return SphinxRecognizer(
                decoder, pause, settings.final_max_ms, decoder.complete, lookahead, pool=pool
            )

        if tag_language(tag).lower().startswith("en") or not self._state.scripts:
            return sphinx()
        return ScriptLookup(list(self._state.scripts.values()), sphinx, pause, lookahead)

    async def _audio(self, frame: bytes) -> None:
        if self._recognizer is None:
            raise ViolationError("Audio before CONFIGURED")
        if len(frame) % 2:
            raise ViolationError("Audio frame splits a 16-bit sample")
        self._received += len(frame)
        self._digest.update(frame)
        self._frames.append((time.time(), len(frame)))
        final = await self._recognizer.feed(frame)
        if final is not None:
            await self._send_finals(final)
            self._segment_start = self._received // 32
        if self._drop_at is not None and self._received >= self._drop_at:
            _LOGGER.info("session %s: injected drop", self._session_id)
            transport = self._request.transport
            if transport is not None:
                transport.abort()
            raise ConnectionResetError("injected drop")
        if self._interims:
            await self._maybe_interim(len(frame))

    async def _maybe_interim(self, size: int) -> None:
        """An interim every interim_interval_ms of audio, and at once when the recogniser
        has caught up with a pause. Audio that comes faster than real time (a recording) gets
        no more than one every WALL_PACE of the interval in wall time: a streaming decoder
        emits its partials at its own pace, and each of this simulator's interims re-decodes
        the whole segment, which for twelve recordings at full speed at once cost it seconds
        of CPU no real service spends. Nor is an interim decoded while the session is behind
        (more audio already in): the next frame's interim would supersede it at once, and
        under load each such decode made every session further behind, until sessions
        waited seconds for their upgrade (`_behind`)."""
        self._since_interim += size
        if self._behind():
            return
        conventions = self._conventions
        interval = conventions.interim_interval_ms
        now = asyncio.get_running_loop().time()
        due = self._since_interim >= interval * 32 and (
            now - self._interim_at >= WALL_PACE * interval / 1000
        )
        caught_up = self._recognizer is not None and self._recognizer.caught_up()
        if not (due or (caught_up and conventions.caught_up_interim)):
            return
        self._since_interim = 0
        self._interim_at = now
        words = await self._recognizer.partial() if self._recognizer else []
        if conventions.overlapping_interims and words:
            words = self._last_final + words
        # Again if unchanged: the client learns the text is still current.
        if words or conventions.empty_interims:
            self._interim_text = text_of(words)
            await self.send(self._segment(words, final=False))

    def _segment(
        self, words: list[Word], final: bool, first: bool = True, stop: bool = True
    ) -> dict[str, Any]:
        """A TEXT_SEGMENT whose tokens carry their words' times (as Kaldi's word alignment
        gives them) under the session's conventions; the segment spans the current segment's
        audio so far. With punctuation, the text's `first` word is capitalised and a `stop`
        ends it."""
        start = min([self._segment_start, *(word.start_ms for word in words[:1])])
        heard = self._received // 32
        if not final and self._recognizer is not None and not self._conventions.end_at_received:
            heard = self._recognizer.heard_ms()
        span = Span(start, max(heard, start))
        punctuate = self._punctuate and (final or self._conventions.punctuation_in_interims)
        if final and self._normalise:
            words = [Word(w.written or w.text, w.start_ms, w.end_ms) for w in words]
        if punctuate and first and words:
            head = words[0]
            capital = Word(head.text[:1].upper() + head.text[1:], head.start_ms, head.end_ms)
            words = [capital, *words[1:]]
        return text_segment(self._conventions, words, span, final, punctuate and stop)

    async def _finish(self, eos_at: float) -> None:
        faults = self._state.faults
        never, faults.never_finish = faults.take(faults.never_finish)
        delay = faults.finished_delay + self._conventions.finish_ms / 1000
        if delay:
            await asyncio.sleep(delay)
        assert self._recognizer is not None
        await self._send_finals(await self._recognizer.finish())
        if never:
            _LOGGER.info("session %s: injected fault: FINISHED never comes", self._session_id)
            while await self._next_message() is not None:
                pass  # hold the socket open until the client gives up
            return
        await self.send({"type": "STATUS", "status": "FINISHED", "lengthMs": self._received // 32})
        await self.flush()
        took_ms = (time.perf_counter() - eos_at) * 1000
        self._state.counters.finish_times.append((self._received, took_ms))
        self._record["finished"] = True
        self._state.counters.sessions_finished += 1
        await self._close(code=WSCloseCode.OK)

    async def _send_finals(self, words: list[Word]) -> None:
        """Commit a segment's words: send them as final segment(s) and record the text."""
        if words:
            self._record["text"] = f"{self._record.get('text', '')} {text_of(words)}".strip()
            self._last_final = list(words)
        self._interim_text = ""
        for segment in self._final_segments(words, self._state.faults.split_finals):
            await self.send(segment)
        if self._interims and self._conventions.empty_interims:
            await self.send(self._segment([], final=False))

    def _final_segments(self, words: list[Word], split: bool) -> list[dict[str, Any]]:
        if not words:
            return []
        groups = [[word] for word in words] if split else [words]
        last = len(groups) - 1
        return [
            self._segment(group, final=True, first=index == 0, stop=index == last)
            for index, group in enumerate(groups)
        ]
