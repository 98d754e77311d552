"""What a finished utterance leaves behind: its INFO line, its metrics, and a word about words
Truebar's final dropped (no I/O beyond logging)."""

from __future__ import annotations

import logging

from ..ending.endpointing import Endpointer, word_count
from .context import BridgeContext
from .utterance import Utterance

_LOGGER = logging.getLogger("wyoming_truebar.server.handler")
"""The handler's logger: an utterance's lines keep one name whichever module writes them."""


def report(ctx: BridgeContext, label: str, utt: Utterance, text: str) -> None:
    """Count and log a successful utterance (its transcript has been written)."""
    latency = utt.answered - utt.stopped
    seconds = utt.audio_seconds()
    _record(ctx, utt, seconds, latency)
    shown = f": {text!r}" if ctx.settings.log_transcripts else ""
    speech = ""
    if utt.speech_ended:
        speech = f", {(utt.answered - utt.speech_ended) * 1000:.0f} ms after the end of speech"
    _LOGGER.info(
        "%s: ok, language %s, %.2f s of audio, ended by %s, transcript %.0f ms after the "
        "end of the command%s, %d attempt(s)%s",
        label,
        utt.choice.language,
        seconds,
        utt.ending,
        latency * 1000,
        speech,
        utt.session.attempts,
        shown,
    )
    _LOGGER.debug("%s: transcript text: %r", label, text)
    if utt.restored:
        ctx.metrics.words_restored.inc()
        _LOGGER.info(
            "%s: Truebar's final dropped %d word(s) of the interim the command was ended on; "
            "answered with them",
            label,
            utt.restored,
        )
    if utt.endpointer is not None:
        _check_words(ctx, label, utt.endpointer, text)


def _check_words(ctx: BridgeContext, label: str, heard: Endpointer, text: str) -> None:
    """Say when Truebar's final has fewer words than its last interim that covered the
    speech (a recogniser's finalisation drops words it had heard), and when its tokens
    carried no word times (the bridge then ends commands on its final or the long
    silence only; said once per process)."""
    lost = word_count(heard.covering_text) - word_count(text)
    if lost > 0:
        ctx.metrics.words_lost.inc()
        _LOGGER.info(
            "%s: Truebar's final has %d word(s) fewer than its interim that covered the speech",
            label,
            lost,
        )
    learned = ctx.conventions
    if learned.known() and not learned.logged:
        learned.logged = True
        _LOGGER.info(
            "Truebar's stream conventions, as learned: %s",
            "; ".join(learned.describe(ctx.settings.endpoint_silence_ms)),
        )
    if heard.untimed and learned.untimed and not learned.said_untimed:
        learned.said_untimed = True
        _LOGGER.info(
            "%s: Truebar's text segments carry no usable word times: endpointing ends a "
            "command only on Truebar's final or on endpoint_max_silence_ms of silence",
            label,
        )


def _record(ctx: BridgeContext, utt: Utterance, seconds: float, latency: float) -> None:
    """Update the metrics for a successful utterance."""
    m, session = ctx.metrics, utt.session
    m.utterances.labels("ok", "").inc()
    m.audio_seconds.inc(seconds)
    m.latency.observe(latency)
    m.endings.labels(utt.ending).inc()
    if utt.speech_ended:
        m.speech_to_transcript.observe(utt.answered - utt.speech_ended)
    if session.configured_after is not None:
        m.time_to_configured.observe(session.configured_after)
    if session.attempts > 1:
        m.reconnects.inc(session.attempts - 1)
        m.replayed_seconds.inc(session.replayed_bytes / 32000)
    if session.failed_while_speaking:
        m.saved.inc()
