"""One Wyoming connection: describe, transcribe, audio in, transcript or error out."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from wyoming.asr import Transcribe, Transcript
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe

from .audio import AudioConverter
from .context import BridgeContext
from .errors import (
    BridgeError,
    BusyError,
    ClientProtocolError,
    ClientTimeoutError,
    LanguageError,
    UtteranceTooLongError,
)
from .languages import PROGRAM_NAME, Choice
from .streaming import TranscriptStream
from .truebar import TruebarSession
from .wyoming_io import linger, read_event, write_event

_LOGGER = logging.getLogger(__name__)
WALL_SLACK = 10.0
"""Seconds of wall time an utterance may take beyond max_utterance_seconds (client jitter)."""


def audio_format(
    data: dict[str, Any], current: tuple[int, int, int] | None
) -> tuple[int, int, int]:
    """Read rate, width and channels of an audio event; missing fields keep `current`."""
    values = []
    for index, key in enumerate(("rate", "width", "channels")):
        value = data.get(key, None if current is None else current[index])
        if not isinstance(value, int) or isinstance(value, bool):
            raise ClientProtocolError(f"The audio event has no valid {key}")
        values.append(value)
    return values[0], values[1], values[2]


@dataclass
class Utterance:
    """The state of the utterance in progress on a connection."""

    session: TruebarSession
    choice: Choice
    started: float
    converter: AudioConverter | None = None
    input_bytes: int = 0
    max_input_bytes: int = 0
    max_wall_seconds: float = 0.0
    stream: TranscriptStream | None = None


class BridgeHandler:
    """Serves one client connection; any failure becomes `error`, then the connection closes."""

    def __init__(
        self, ctx: BridgeContext, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._ctx = ctx
        self._reader = reader
        self._writer = writer
        self._request: Transcribe | None = None
        self._utterance: Utterance | None = None
        self._label = "connection"

    async def run(self) -> None:
        """Read events until the client leaves, fails, or is failed."""
        try:
            while await self._next():
                pass
        except BridgeError as err:
            await self._fail(err)
        except Exception:
            _LOGGER.exception("%s: internal error", self._label)
            await self._fail(BridgeError("The speech-to-text server hit an internal error"))
        finally:
            await self._end_utterance()
            self._writer.close()

    async def refuse(self, err: BridgeError) -> None:
        """Answer a connection that may not be served with `error`, then close it."""
        _LOGGER.warning("Refused %s: %s", self._writer.get_extra_info("peername"), err.code)
        await write_event(Error(text=str(err), code=err.code).event(), self._writer)
        await linger(self._reader, self._writer)
        self._writer.close()

    async def _next(self) -> bool:
        settings = self._ctx.settings
        try:
            async with asyncio.timeout(settings.idle_timeout):
                event = await read_event(self._reader, settings.max_event_bytes)
        except TimeoutError as err:
            raise ClientTimeoutError(
                f"No event from the client for {settings.idle_timeout:g} seconds"
            ) from err
        except ConnectionError:
            return False
        if event is None:
            return False
        return await self.handle_event(event)

    async def _fail(self, err: BridgeError) -> None:
        self._ctx.metrics.utterances.labels("error", err.code).inc()
        _LOGGER.warning(
            "%s: failed with %s: %s%s",
            self._label,
            err.code,
            err,
            f" ({err.detail})" if err.detail else "",
        )
        await write_event(Error(text=str(err), code=err.code).event(), self._writer)
        await linger(self._reader, self._writer)

    async def handle_event(self, event: Event) -> bool:
        """Handle one event; False ends the connection."""
        if Describe.is_type(event.type):
            return await write_event(self._ctx.info, self._writer)
        if Transcribe.is_type(event.type):
            self._request = Transcribe.from_event(event)
            if self._utterance is None:
                self._begin()
            return True
        if event.type == "audio-start":
            self._audio_start(event)
            return True
        if event.type == "audio-chunk":
            await self._audio_chunk(event)
            return True
        if event.type == "audio-stop":
            return await self._audio_stop()
        if event.type == "select-program" and event.data.get("name") not in (None, PROGRAM_NAME):
            _LOGGER.warning(
                "%s: client selected program %r; only %r exists",
                self._label,
                event.data.get("name"),
                PROGRAM_NAME,
            )
            return True
        _LOGGER.debug("%s: ignoring event %s", self._label, event.type)
        return True

    def _choose(self) -> Choice:
        languages = self._ctx.languages
        request = self._request
        if request is not None and request.name:
            by_name = languages.by_model_name(request.name)
            if by_name is not None:
                return by_name
        wanted = request.language if request is not None else None
        choice = languages.resolve(wanted)
        if choice is not None:
            return choice
        if self._ctx.settings.strict_language:
            raise LanguageError(f"Language {wanted!r} is not offered by this server")
        fallback = languages.default()
        _LOGGER.warning("%s: no tag for language %r; using %s", self._label, wanted, fallback.tag)
        return fallback

    def _begin(self) -> None:
        ctx = self._ctx
        choice = self._choose()
        if ctx.active >= ctx.settings.max_sessions:
            raise BusyError("The speech-to-text server is busy; try again shortly")
        self._label = ctx.next_id()
        stream = TranscriptStream(self._writer, choice.language) if ctx.settings.streaming else None
        session = TruebarSession(
            ctx.http,
            ctx.credentials,
            ctx.settings,
            ctx.stages(choice),
            self._label,
            on_final=stream.committed if stream is not None else None,
        )
        ctx.active += 1
        self._utterance = Utterance(
            session,
            choice,
            asyncio.get_running_loop().time(),
            stream=stream,
            max_wall_seconds=ctx.settings.max_utterance_seconds + WALL_SLACK,
        )
        session.start()
        _LOGGER.debug("%s: utterance started (%s)", self._label, choice.tag)

    def _audio_start(self, event: Event) -> None:
        if self._utterance is None:
            self._begin()
        assert self._utterance is not None
        self._set_format(*audio_format(event.data, None))

    def _set_format(self, rate: int, width: int, channels: int) -> None:
        utt = self._utterance
        assert utt is not None
        if utt.converter is not None:
            utt.session.queue(utt.converter.flush())
        utt.converter = AudioConverter(rate, width, channels)
        seconds = self._ctx.settings.max_utterance_seconds
        utt.max_input_bytes = utt.input_bytes + int(seconds * utt.converter.input_bytes_per_second)

    async def _audio_chunk(self, event: Event) -> None:
        utt = self._utterance
        if utt is None or utt.converter is None:
            raise ClientProtocolError("audio-chunk came before audio-start")
        conv = utt.converter
        current = (conv.rate, conv.width, conv.channels)
        fmt = audio_format(event.data, current)
        if fmt != current:
            self._set_format(*fmt)
            conv = utt.converter
        payload = event.payload or b""
        utt.input_bytes += len(payload)
        # Audio length bounds the buffer; the wall clock bounds a client that trickles audio.
        too_slow = asyncio.get_running_loop().time() - utt.started > utt.max_wall_seconds
        if utt.input_bytes > utt.max_input_bytes or too_slow:
            raise UtteranceTooLongError(
                f"The utterance is longer than {self._ctx.settings.max_utterance_seconds:g} seconds"
            )
        await utt.session.send(conv.convert(payload))

    async def _audio_stop(self) -> bool:
        utt = self._utterance
        if utt is None:
            raise ClientProtocolError("audio-stop came before audio-start")
        if utt.converter is not None:
            utt.session.queue(utt.converter.flush())
        stopped = asyncio.get_running_loop().time()
        text = await utt.session.finish()
        latency = asyncio.get_running_loop().time() - stopped
        if utt.stream is not None:
            sent = await utt.stream.finish(text)
        else:
            transcript = Transcript(text=text, language=utt.choice.language)
            sent = await write_event(transcript.event(), self._writer)
        seconds = utt.input_bytes / utt.converter.input_bytes_per_second if utt.converter else 0.0
        self._record(utt, seconds, latency)
        shown = f": {text!r}" if self._ctx.settings.log_transcripts else ""
        _LOGGER.info(
            "%s: ok, language %s, %.2f s of audio, transcript in %.0f ms, %d attempt(s)%s",
            self._label,
            utt.choice.language,
            seconds,
            latency * 1000,
            utt.session.attempts,
            shown,
        )
        _LOGGER.debug("%s: transcript text: %r", self._label, text)
        await self._end_utterance()
        self._request = None
        return sent

    def _record(self, utt: Utterance, seconds: float, latency: float) -> None:
        """Update the metrics for a successful utterance."""
        m, session = self._ctx.metrics, utt.session
        m.utterances.labels("ok", "").inc()
        m.audio_seconds.inc(seconds)
        m.latency.observe(latency)
        if session.configured_after is not None:
            m.time_to_configured.observe(session.configured_after)
        if session.attempts > 1:
            m.reconnects.inc(session.attempts - 1)
            m.replayed_seconds.inc(session.replayed_bytes / 32000)

    async def _end_utterance(self) -> None:
        utt, self._utterance = self._utterance, None
        if utt is not None:
            self._ctx.active -= 1
            await utt.session.close()
