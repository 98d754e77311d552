"""PCM conversion invariants (pure, no I/O)."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from truebar_sim.fixtures import load_fixtures
from wyoming_truebar.config.errors import BadAudioError
from wyoming_truebar.server.audio import AudioConverter

PCM = load_fixtures()[0].pcm()


def encode(samples: np.ndarray, width: int) -> bytes:
    """Float samples (frames x channels) in [-1, 1) to little-endian PCM of a width."""
    if width == 1:
        return bytes(np.clip(np.rint(samples * 128 + 128), 0, 255).astype(np.uint8).tobytes())
    scale = float(1 << (8 * width - 1))
    ints = np.clip(np.rint(samples * scale), -scale, scale - 1).astype("<i8")
    raw = ints.astype("<i8").tobytes()
    return b"".join(raw[i : i + width] for i in range(0, len(raw), 8))


def convert_chunked(conv: AudioConverter, data: bytes, size: int) -> bytes:
    out = [conv.convert(data[i : i + size]) for i in range(0, len(data), size)]
    return b"".join(out) + conv.flush()


def test_passthrough_is_untouched_and_uncopied() -> None:
    conv = AudioConverter(16000, 2, 1)
    chunk = PCM[:2048]
    assert conv.convert(chunk) is chunk
    assert convert_chunked(AudioConverter(16000, 2, 1), PCM, 1001) == PCM


@pytest.mark.parametrize(
    ("rate", "width", "channels"),
    [
        (48000, 2, 2),
        (44100, 2, 1),
        (22050, 2, 1),
        (48000, 4, 1),
        (48000, 3, 2),
        (16000, 1, 1),
        (8000, 2, 1),
        (16000, 2, 6),
    ],
)
def test_chunked_equals_whole(rate: int, width: int, channels: int) -> None:
    t = np.arange(rate) / rate
    tone = 0.4 * np.sin(2 * np.pi * 440 * t)
    data = encode(np.repeat(tone[:, None], channels, axis=1), width)
    whole = convert_chunked(AudioConverter(rate, width, channels), data, len(data))
    # 333 bytes: chunks end inside samples and inside frames.
    chunked = convert_chunked(AudioConverter(rate, width, channels), data, 333)
    assert chunked == whole
    assert abs(len(whole) // 2 - 16000) <= 2
    # Gathered into 100 ms batches (what the bridge does): still the same bytes.
    batched = AudioConverter(rate, width, channels, batch_seconds=0.1)
    assert convert_chunked(batched, data, 333) == whole


def test_batching_never_holds_back_16k_mono() -> None:
    converter = AudioConverter(16000, 2, 1, batch_seconds=0.1)
    assert converter.convert(b"\x01\x02" * 160) == b"\x01\x02" * 160
    held = AudioConverter(48000, 2, 2, batch_seconds=0.1)
    assert held.convert(bytes(4 * 480)) == b""  # 10 ms of 48 kHz stereo: waits for 100 ms
    assert len(held.flush()) == 2 * 160  # audio-stop: converted at once, with the tail


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    n = min(len(reference), len(test))
    ref, got = reference[:n], test[:n]
    noise = np.sum((ref - got) ** 2)
    return float(10 * np.log10(np.sum(ref**2) / max(noise, 1e-20)))


@pytest.mark.parametrize(
    ("rate", "width", "channels"),
    [(48000, 2, 2), (44100, 2, 1), (22050, 2, 1), (48000, 4, 1), (48000, 3, 2)],
)
def test_snr_against_reference_resampler(rate: int, width: int, channels: int) -> None:
    # Speech-like test signal: the fixture, up-sampled by the reference (soxr VHQ).
    speech = np.frombuffer(PCM, "<i2").astype(np.float64) / 32768
    src = soxr.resample(speech, 16000, rate, quality="VHQ")
    data = encode(np.repeat(src[:, None], channels, axis=1), width)
    reference = soxr.resample(src, rate, 16000, quality="VHQ")
    out = convert_chunked(AudioConverter(rate, width, channels), data, 4096)
    got = np.frombuffer(out, "<i2").astype(np.float64) / 32768
    assert snr_db(reference, got) >= 70


def test_downmix_averages_channels() -> None:
    left = np.full(160, 0.5)
    right = np.full(160, -0.25)
    data = encode(np.stack([left, right], axis=1), 2)
    out = np.frombuffer(AudioConverter(16000, 2, 2).convert(data), "<i2")
    assert set(out.tolist()) == {4096}


@pytest.mark.parametrize(
    ("rate", "width", "channels"),
    [(0, 2, 1), (16000, 7, 1), (16000, 0, 1), (16000, 2, 0), (16000, 2, 9), (10**7, 2, 1)],
)
def test_impossible_formats_are_bad_audio(rate: int, width: int, channels: int) -> None:
    with pytest.raises(BadAudioError):
        AudioConverter(rate, width, channels)
