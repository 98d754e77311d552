"""The state of one utterance in progress on a connection (no I/O), and the audio format
its events name."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ..config.errors import ClientProtocolError
from ..ending.endpointing import Ending, Endpointer
from ..ending.live import Pace
from ..truebar.session import TruebarSession
from .audio import AudioConverter
from .languages import Choice
from .streaming import TranscriptStream


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


CLIENT_NAMES = 200
"""transcript_names a client may send: at most this many are taken (the first), each of at
most NAME_CHARS characters (longer ones are left out): each name becomes up to 16 slot
values of the sentences (one per domain it may have), built per set of names."""
NAME_CHARS = 60


def client_names(value: object) -> tuple[tuple[str, ...], bool]:
    """A transcribe event's transcript_names, checked: the names taken, and whether some
    were left out (too many, or too long). Anything but a list of strings is the client's
    mistake (ClientProtocolError)."""
    if value is None:
        return (), False
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ClientProtocolError("transcript_names must be a list of strings")
    kept = tuple(name for name in value[:CLIENT_NAMES] if len(name) <= NAME_CHARS)
    return kept, len(kept) < len(value)


@dataclass
class Utterance:
    """The state of the utterance in progress on a connection."""

    session: TruebarSession
    choice: Choice
    started: float
    pace: Pace
    """Whether the client's audio comes in real time (the one rule for it)."""
    converter: AudioConverter | None = None
    format_data: dict[str, Any] | None = None
    """The data object the current format was read from (parses of repeated chunk data are
    shared, so the same object means the same format)."""
    input_bytes: int = 0
    max_input_bytes: int = 0
    seconds_before: float = 0.0
    """Seconds of audio that came in formats before the current one (the length budget
    spans the whole utterance, whatever its formats)."""
    bytes_before: int = 0
    """input_bytes when the current format began."""
    wall_deadline: float = 0.0
    stream: TranscriptStream | None = None
    stopped: float = 0.0
    """Loop time of audio-stop."""
    answered: float = 0.0
    """Loop time the transcript was written (0 until then)."""
    delivered: bool = False
    """Whether the client was still there to take it."""
    endpointer: Endpointer | None = None
    """Decides when a live command is over (None: endpointing is off for this utterance)."""
    ending: Ending = Ending.AUDIO_STOP
    early: asyncio.Task[None] | None = None
    """Finishes an utterance the bridge ended itself, while the client may still send audio."""
    speech_ended: float = 0.0
    """Loop time at which speech ended, as the voice activity detector heard it (else 0)."""
    released: bool = False
    """Its Truebar session is closed and its place among max_sessions given back."""
    text: str = ""
    """The transcript answered."""
    restored: int = 0
    """Words of the interim that ended the command, answered though Truebar's final dropped
    them."""
    first_audio: float = 0.0
    """Loop time of the first audio chunk (0 until then): with the audio's length, when the
    audio would have ended had it been spoken live."""

    def audio_seconds(self) -> float:
        """Seconds of the client's audio so far (in every format it came in)."""
        conv = self.converter
        if conv is None:
            return 0.0
        return self.seconds_before + (self.input_bytes - self.bytes_before) / (
            conv.input_bytes_per_second
        )


def speech_end(utt: Utterance, now: float) -> float:
    """Loop time at which speech ended, as the voice activity detector heard it (0: none)."""
    heard = utt.endpointer
    if heard is None or heard.speech_end_ms is None:
        return 0.0
    return now - (heard.now_ms - heard.speech_end_ms) / 1000
