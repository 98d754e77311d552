"""One Wyoming connection's utterances: describe, transcribe, audio in, transcript or error out.

Events are handled synchronously as they are parsed (audio goes straight into the Truebar
session's buffer); only audio-stop, which waits for Truebar, returns a coroutine for the
connection to run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from wyoming.asr import Transcribe, Transcript
from wyoming.event import Event

from ..config.errors import (
    BridgeError,
    BusyError,
    ClientProtocolError,
    LanguageError,
    UtteranceTooLongError,
)
from ..ending.endpointing import (
    BRIDGE_ENDINGS,
    DEFAULT_LAG_MS,
    Endpointer,
    earshot_vad,
    filler_words,
    restore_lost_words,
    word_count,
)
from ..ending.live import PACE_MARK, Pace, Sensitivity, reads_early, rules_for, sensitivity_of
from ..ending.meter import Meter
from ..truebar.session import TruebarSession
from .audio import AudioConverter
from .context import BridgeContext
from .languages import PROGRAM_NAME, Choice
from .report import report
from .streaming import TranscriptStream
from .utterance import (
    CLIENT_NAMES,
    NAME_CHARS,
    Utterance,
    audio_format,
    client_names,
    speech_end,
)
from .wyoming_io import encode_event

_LOGGER = logging.getLogger(__name__)
WALL_SLACK = 10.0
"""Seconds of wall time an utterance may take beyond max_utterance_seconds (client jitter)."""

Write = Callable[[bytes], bool]
"""Writes bytes to the client; False if the client has gone."""
Fail = Callable[[BridgeError], None]
"""Ends the connection with an error (written, then a lingering close)."""
Step = Coroutine[Any, Any, bool]
"""An asynchronous step of the handler; its result False ends the connection."""
ClientVersion = Callable[[], str | None]
"""The Wyoming version the client's latest event header said (None: none)."""


class BridgeHandler:
    """Serves one client's events; raises BridgeError for anything that ends the connection."""

    def __init__(
        self, ctx: BridgeContext, write: Write, fail: Fail, version: ClientVersion | None = None
    ) -> None:
        self._ctx = ctx
        self._write = write
        self._fail = fail
        self._version = version
        self._request: Transcribe | None = None
        self._names: tuple[str, ...] = ()
        """The client's transcript_names, checked (`client_names`)."""
        self._utterance: Utterance | None = None
        self.label = "connection"
        """The session id of the current (or last) utterance, for log lines."""

    @property
    def in_utterance(self) -> bool:
        """Whether an utterance is in progress."""
        return self._utterance is not None

    @property
    def owes_answer(self) -> bool:
        """Whether an utterance in progress has not been answered yet (graceful shutdown waits
        for it; one the bridge answered early only waits for the client's audio-stop)."""
        return self._utterance is not None and not self._utterance.answered

    @property
    def wall_deadline(self) -> float | None:
        """Loop time by which the current utterance must be over, if one is in progress."""
        return self._utterance.wall_deadline if self._utterance is not None else None

    def handle(self, event: Event) -> Step | None:
        """Handle one event; return a coroutine if the rest must wait for it."""
        kind = event.type
        if kind == "audio-chunk":
            self._audio_chunk(event)
        elif kind == "describe":
            self._write(self._ctx.info_bytes)
        elif kind == "transcribe":
            self._request = Transcribe.from_event(event)
            self._names, cut = client_names(event.data.get("transcript_names"))
            if cut:
                _LOGGER.warning(
                    "%s: transcript_names: took %d of the client's names (at most %d, each at "
                    "most %d characters)",
                    self.label,
                    len(self._names),
                    CLIENT_NAMES,
                    NAME_CHARS,
                )
            if self._utterance is None:
                self._begin()
        elif kind == "audio-start":
            self._audio_start(event)
        elif kind == "audio-stop":
            return self._audio_stop()
        elif kind == "select-program" and event.data.get("name") not in (None, PROGRAM_NAME):
            _LOGGER.warning(
                "%s: client selected program %r; only %r exists",
                self.label,
                event.data.get("name"),
                PROGRAM_NAME,
            )
        else:
            _LOGGER.debug("%s: ignoring event %s", self.label, kind)
        return None

    def failed(self, err: BridgeError) -> None:
        """Count and log a failure (the connection writes the error and closes)."""
        self._ctx.metrics.utterances.labels("error", err.code).inc()
        detail = f" ({err.detail})" if err.detail else ""
        _LOGGER.warning("%s: failed with %s: %s%s", self.label, err.code, err, detail)

    async def end(self) -> None:
        """End the utterance in progress, if any (done, failed, or the client left)."""
        utt, self._utterance = self._utterance, None
        if utt is not None:
            if utt.endpointer is not None:
                utt.endpointer.close()
            early = utt.early
            if early is not None and not early.done() and early is not asyncio.current_task():
                early.cancel()
            await self._release(utt)

    async def _release(self, utt: Utterance) -> None:
        """Close the utterance's Truebar session and give its place back, once."""
        if not utt.released:
            utt.released = True
            self._ctx.active -= 1
            await utt.session.close()

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
        _LOGGER.warning("%s: no tag for language %r; using %s", self.label, wanted, fallback.tag)
        return fallback

    def _begin(self) -> None:
        ctx = self._ctx
        choice = self._choose()
        if ctx.active >= ctx.settings.max_sessions:
            raise BusyError("The speech-to-text server is busy; try again shortly")
        self.label = ctx.next_id()
        stream = TranscriptStream(self._write, choice.language) if ctx.settings.streaming else None
        endpointer = self._endpointer(choice) if self._endpointing_wanted() else None
        loop = asyncio.get_running_loop()
        pace = Pace()
        session = TruebarSession(
            ctx.http,
            ctx.credentials,
            ctx.settings,
            ctx.stages(choice, endpointer is not None),
            self.label,
            on_final=stream.committed if stream is not None else None,
            on_finished=self._answer,
            on_hopeless=self._fail,
            events=Meter(
                ctx.conventions,
                live=lambda: pace.live(loop.time(), pace.audio_seconds),
                on_text=endpointer.text if endpointer is not None else None,
            ),
            proxy=ctx.ws_proxy,
        )
        ctx.active += 1
        now = loop.time()
        self._utterance = Utterance(
            session,
            choice,
            now,
            pace,
            stream=stream,
            wall_deadline=now + ctx.settings.max_utterance_seconds + WALL_SLACK,
            endpointer=endpointer,
        )
        session.start()
        _LOGGER.debug("%s: utterance started (%s)", self.label, choice.tag)

    def _endpointer(self, choice: Choice) -> Endpointer:
        """The utterance's endpointer: its language's rules at the sensitivity asked for,
        Home Assistant's sentences with the names the client sent, the text lag learned so
        far."""
        ctx = self._ctx
        judge = ctx.completeness.judge_for(choice.language, self._names)
        guard = ctx.completeness.guard_words(choice.language) if judge is not None else None
        rules = rules_for(ctx.settings, choice.language, guard, self._sensitivity())
        endpointer = Endpointer(rules, earshot_vad(), judge)
        endpointer.lag_ms = ctx.conventions.lag_ms(DEFAULT_LAG_MS)
        return endpointer

    def _sensitivity(self) -> Sensitivity:
        """How patient to be: the client's vad_sensitivity (wyoming 1.10), else the most
        patient of the home's satellites (read from Home Assistant), else the default."""
        asked = self._request.vad_sensitivity if self._request is not None else None
        found = sensitivity_of(asked) if asked is not None else None
        home = self._ctx.home
        if found is None and home is not None:
            found = home.sensitivity
        return found or Sensitivity.DEFAULT

    def _endpointing_wanted(self) -> bool:
        """Endpointing is on in the settings, the client did not opt out, and it can take an
        early answer (its context may ask for endpointing whatever its version says)."""
        if not self._ctx.settings.endpointing:
            return False
        context = self._request.context if self._request is not None else None
        asked = context.get("endpointing") if isinstance(context, dict) else None
        if isinstance(asked, bool):
            return asked
        version = self._version() if self._version is not None else None
        if reads_early(version):
            return True
        _LOGGER.debug(
            "%s: not endpointed: a wyoming %s client reads only after audio-stop",
            self.label,
            version,
        )
        return False

    def _audio_start(self, event: Event) -> None:
        if self._utterance is None:
            self._begin()
        assert self._utterance is not None
        self._set_format(*audio_format(event.data, None))

    def _set_format(self, rate: int, width: int, channels: int) -> None:
        utt = self._utterance
        assert utt is not None
        if utt.converter is not None:
            utt.session.send(utt.converter.flush())
            utt.seconds_before = utt.audio_seconds()
        utt.converter = AudioConverter(
            rate, width, channels, batch_seconds=self._ctx.settings.frame_ms / 1000
        )
        utt.bytes_before = utt.input_bytes
        left = max(0.0, self._ctx.settings.max_utterance_seconds - utt.seconds_before)
        utt.max_input_bytes = utt.input_bytes + int(left * utt.converter.input_bytes_per_second)
        utt.pace.bytes_per_mark = int(PACE_MARK * utt.converter.input_bytes_per_second)

    def _audio_chunk(self, event: Event) -> None:
        """The hot path: 100 times a second per Home Assistant stream."""
        utt = self._utterance
        if utt is None or utt.converter is None:
            raise ClientProtocolError("audio-chunk came before audio-start")
        if utt.stopped:
            return  # the bridge ended the command: the rest is read and dropped
        data = event.data
        if data is not utt.format_data:
            conv = utt.converter
            current = (conv.rate, conv.width, conv.channels)
            fmt = audio_format(data, current)
            if fmt != current:
                self._set_format(*fmt)
            utt.format_data = data
        payload = event.payload or b""
        if not utt.input_bytes:
            utt.first_audio = asyncio.get_running_loop().time()
        utt.input_bytes += len(payload)
        if utt.input_bytes > utt.max_input_bytes:
            raise UtteranceTooLongError(
                f"The utterance is longer than {self._ctx.settings.max_utterance_seconds:g} seconds"
            )
        session = utt.session
        session.send(utt.converter.convert(payload))
        if utt.pace.due(utt.input_bytes):  # the one rule for live audio (live.Pace)
            utt.pace.add(asyncio.get_running_loop().time(), utt.audio_seconds(), utt.input_bytes)
        endpointer = utt.endpointer
        if endpointer is not None and len(session.audio) >= endpointer.next_at:
            self._endpoint(utt, endpointer)  # a whole detector frame is in (16 ms of audio)

    def _endpoint(self, utt: Utterance, endpointer: Endpointer) -> None:
        """The detector's next frames; the pace of the client's audio; the end if it came."""
        ended = endpointer.advance(utt.session.audio)
        if endpointer.paused:  # the speaker paused: Truebar gets the last words now
            endpointer.paused = False
            utt.session.flush()
        if ended is not None:
            self._maybe_end(utt, endpointer)

    def _maybe_end(self, utt: Utterance, endpointer: Endpointer) -> None:
        """The endpointer says the command is over: end it now if the audio is live."""
        now = asyncio.get_running_loop().time()
        if not utt.pace.live(now, utt.audio_seconds()):
            # A recording (or a burst): its whole text comes at audio-stop. The decision is
            # withdrawn, not kept for later: only a decision made while the audio is live
            # ends a command (one kept would fire once the pace turned live, on evidence
            # from before); the detector goes on with the audio that is in.
            while endpointer.decision is not None:
                endpointer.withdraw()
                endpointer.advance(utt.session.audio)
            return
        assert endpointer.decision is not None
        endpointer.close()
        utt.ending = endpointer.decision
        utt.speech_ended = speech_end(utt, now)
        self._stop_audio(utt)
        utt.early = asyncio.get_running_loop().create_task(self._answer_early(utt))

    async def _answer_early(self, utt: Utterance) -> None:
        """Finish a command the bridge ended: the transcript goes out before audio-stop, the
        Truebar session closes; the connection keeps reading until audio-stop or the close."""
        try:
            await self._complete(utt)
        except BridgeError as err:
            self._fail(err)
            return
        except Exception as err:  # a bug, reported as one
            _LOGGER.error("%s: internal error", self.label, exc_info=err)
            self._fail(BridgeError("The speech-to-text server hit an internal error"))
            return
        await self._release(utt)

    def check_wall_clock(self, now: float) -> None:
        """Fail an utterance that has taken too long in wall time (a client trickling audio)."""
        utt = self._utterance
        if utt is not None and not utt.answered and now > utt.wall_deadline:
            raise UtteranceTooLongError(
                f"The utterance is longer than {self._ctx.settings.max_utterance_seconds:g} seconds"
            )

    def _stop_audio(self, utt: Utterance) -> None:
        """The audio is complete: the rest of it and EOS go out now. The answer budget runs
        from now, or from when the audio would have ended had it come live, if later (a
        recording sent at full speed: Truebar still has its length to decode)."""
        if utt.converter is not None:
            utt.session.send(utt.converter.flush())
        live_end = utt.first_audio + utt.audio_seconds() if utt.first_audio else 0.0
        utt.session.end_audio(live_end)
        utt.stopped = asyncio.get_running_loop().time()

    def _audio_stop(self) -> Step:
        """The returned step waits for the transcript (written by `_answer` the moment
        Truebar sends FINISHED); after an early answer there is nothing more to say."""
        utt = self._utterance
        if utt is None:
            raise ClientProtocolError("audio-stop came before audio-start")
        if utt.stopped:
            return self._after_early(utt)
        self._stop_audio(utt)
        if utt.endpointer is not None and utt.pace.live(utt.stopped, utt.audio_seconds()):
            utt.speech_ended = speech_end(utt, utt.stopped)
        return self._finish(utt)

    async def _after_early(self, utt: Utterance) -> bool:
        """audio-stop after the bridge ended the command: no answer, no error."""
        if utt.early is not None and not utt.early.done():
            await asyncio.wait([utt.early])
        await self.end()
        self._request = None
        return utt.delivered

    def _answer(self, text: str) -> None:
        """Write the transcript (streaming clients: the rest of the stream, then it). When
        the bridge ended the command on an interim whose words cover the speech, and Truebar's
        final then dropped some of them at its end, the interim's words are answered: the
        evidence the command was ended on (a client's own end leaves the final as it is)."""
        utt = self._utterance
        if utt is None or utt.answered:
            return
        utt.answered = asyncio.get_running_loop().time()
        heard = utt.endpointer
        if heard is not None and utt.ending in BRIDGE_ENDINGS:
            fillers = filler_words(utt.choice.language)
            restored = restore_lost_words(text, heard.covering_text, fillers)
            if restored is not None:
                utt.restored = word_count(restored) - word_count(text)
                text = restored
        utt.text = text
        if utt.stream is not None:
            utt.delivered = utt.stream.finish(text)
        else:
            transcript = Transcript(text=text, language=utt.choice.language)
            utt.delivered = self._write(encode_event(transcript.event()))

    async def _finish(self, utt: Utterance) -> bool:
        await self._complete(utt)
        await self.end()
        self._request = None
        return utt.delivered

    async def _complete(self, utt: Utterance) -> None:
        """Wait for the transcript, answer, count and log the utterance."""
        text = await utt.session.finish()
        self._answer(text)  # if FINISHED did not already answer (it always should)
        report(self._ctx, self.label, utt, utt.text)
