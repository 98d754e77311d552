"""Streaming PCM conversion (no I/O): any rate, width and channel count to 16 kHz mono s16le."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from .errors import BadAudioError

TARGET_RATE = 16000
TARGET_WIDTH = 2
TARGET_CHANNELS = 1
MIN_RATE, MAX_RATE = 4000, 384000
MAX_CHANNELS = 8

Samples = npt.NDArray[np.float32]


def _decode(raw: bytes, width: int) -> Samples:
    """Decode little-endian PCM (unsigned 8-bit, signed 16/24/32-bit) to floats in [-1, 1)."""
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    if width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = (value << 8) >> 8  # sign-extend from 24 bits
        return value.astype(np.float32) / 8388608.0
    return np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0


def _encode(samples: Samples) -> bytes:
    """Encode floats to s16le, rounding and clipping."""
    scaled = np.rint(samples * 32768.0)
    encoded: bytes = np.clip(scaled, -32768, 32767).astype("<i2").tobytes()
    return encoded


class AudioConverter:
    """Converts one stream chunk by chunk; a chunk may end inside a sample frame."""

    def __init__(self, rate: int, width: int, channels: int) -> None:
        if not MIN_RATE <= rate <= MAX_RATE:
            raise BadAudioError(f"Unsupported sample rate {rate} Hz")
        if width not in (1, 2, 3, 4):
            raise BadAudioError(f"Unsupported sample width {width} bytes")
        if not 1 <= channels <= MAX_CHANNELS:
            raise BadAudioError(f"Unsupported channel count {channels}")
        self.rate, self.width, self.channels = rate, width, channels
        self._frame = width * channels
        self._carry = b""
        self.passthrough = (rate, width, channels) == (TARGET_RATE, TARGET_WIDTH, TARGET_CHANNELS)
        self._resampler = (
            None
            if rate == TARGET_RATE
            else soxr.ResampleStream(rate, TARGET_RATE, 1, dtype="float32", quality="HQ")
        )

    def convert(self, data: bytes) -> bytes:
        """Return the converted audio of the next chunk (may be empty)."""
        if self._carry:
            data = self._carry + data
        usable = len(data) - len(data) % self._frame
        self._carry = data[usable:]
        if self.passthrough:
            # 16 kHz mono 16-bit goes through untouched: same bytes, no copy when aligned.
            return data if not self._carry else data[:usable]
        if not usable:
            return b""
        samples = _decode(data[:usable], self.width)
        if self.channels > 1:
            samples = samples.reshape(-1, self.channels).mean(axis=1, dtype=np.float32)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        return _encode(samples)

    def flush(self) -> bytes:
        """Return the resampler's tail at the end of the stream (a partial frame is dropped)."""
        self._carry = b""
        if self._resampler is None:
            return b""
        return _encode(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))

    @property
    def input_bytes_per_second(self) -> int:
        """Bytes of input audio per second (for utterance-length accounting)."""
        return self.rate * self._frame
