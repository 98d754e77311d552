"""Streaming PCM conversion (no I/O): any rate, width and channel count to 16 kHz mono s16le."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from ..config.errors import BadAudioError

TARGET_RATE = 16000
TARGET_WIDTH = 2
TARGET_CHANNELS = 1
MIN_RATE, MAX_RATE = 4000, 384000
MAX_CHANNELS = 8

Samples = npt.NDArray[np.float32]


def _decode(raw: bytes, width: int) -> Samples:
    """Decode little-endian PCM (unsigned 8-bit, signed 16/24/32-bit) to floats on the 16-bit
    scale (full scale is +-32768), so that 16-bit input needs no scaling at all."""
    if width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float32)
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) * 256.0
    if width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = (value << 8) >> 8  # sign-extend from 24 bits
        return value.astype(np.float32) * (1 / 256)
    return np.frombuffer(raw, "<i4").astype(np.float32) * (1 / 65536)


def _encode(samples: Samples) -> bytes:
    """Encode floats on the 16-bit scale to s16le, rounding and clipping (in place)."""
    np.rint(samples, out=samples)
    np.clip(samples, -32768, 32767, out=samples)
    encoded: bytes = samples.astype("<i2").tobytes()
    return encoded


class AudioConverter:
    """Converts one stream chunk by chunk; a chunk may end inside a sample frame.

    With `batch_seconds`, input that needs converting is gathered until that much has come
    and converted at once: the resampler's cost is mostly per call, and Home Assistant's 10 ms
    chunks would make 100 calls a second (the audio leaves in frames of frame_ms anyway). Audio
    that passes through untouched (16 kHz mono 16-bit) is never held back.
    """

    def __init__(self, rate: int, width: int, channels: int, batch_seconds: float = 0.0) -> None:
        if not MIN_RATE <= rate <= MAX_RATE:
            raise BadAudioError(f"Unsupported sample rate {rate} Hz")
        if width not in (1, 2, 3, 4):
            raise BadAudioError(f"Unsupported sample width {width} bytes")
        if not 1 <= channels <= MAX_CHANNELS:
            raise BadAudioError(f"Unsupported channel count {channels}")
        self.rate, self.width, self.channels = rate, width, channels
        self._frame = width * channels
        self._carry = b""
        self._batch = int(batch_seconds * rate) * self._frame
        self._pending = bytearray()
        self.passthrough = (rate, width, channels) == (TARGET_RATE, TARGET_WIDTH, TARGET_CHANNELS)
        self._resampler = (
            None
            if rate == TARGET_RATE
            else soxr.ResampleStream(rate, TARGET_RATE, channels, dtype="float32", quality="VHQ")
        )

    def convert(self, data: bytes) -> bytes:
        """Return the converted audio of the next chunk (may be empty)."""
        if self._batch and not self.passthrough:
            self._pending += data
            if len(self._pending) < self._batch:
                return b""
            data = bytes(self._pending)
            self._pending.clear()
        return self._convert(data)

    def _convert(self, data: bytes) -> bytes:
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
            samples = samples.reshape(-1, self.channels)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        return self._downmix_encode(samples)

    def flush(self) -> bytes:
        """Return what is still held: the gathered input, converted, and the resampler's tail
        (a partial frame is dropped)."""
        held = self._convert(bytes(self._pending)) if self._pending else b""
        self._pending.clear()
        self._carry = b""
        if self._resampler is None:
            return held
        shape = (0, self.channels) if self.channels > 1 else (0,)
        tail = self._resampler.resample_chunk(np.zeros(shape, np.float32), last=True)
        return held + self._downmix_encode(tail)

    def _downmix_encode(self, samples: Samples) -> bytes:
        # Channels are mixed after resampling: soxr resamples both channels of 48 kHz stereo
        # faster than numpy can average them at 48 kHz (benchmarks/results.md, conversion).
        if self.channels > 1:
            samples = samples.sum(axis=1, dtype=np.float32)
            samples *= 1 / self.channels
        return _encode(samples)

    @property
    def input_bytes_per_second(self) -> int:
        """Bytes of input audio per second (for utterance-length accounting)."""
        return self.rate * self._frame
