"""Audio conversion: throughput (x real time) and SNR against soxr VHQ, in Home Assistant's
10 ms chunks and in satellites' 1024-frame chunks."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import soxr

from wyoming_truebar.server.audio import AudioConverter

FORMATS = ((48000, 2, 2), (44100, 2, 1), (22050, 2, 1), (16000, 2, 1))
SATELLITE_CHUNK_FRAMES = 1024
EDGE = 1600
"""Output samples skipped at each end of the SNR window (filter start-up and tail)."""


def signal(rate: int, seconds: float) -> np.ndarray:
    """Tones across the speech band, one above 8 kHz (to be filtered out) and quiet noise."""
    t = np.arange(int(rate * seconds)) / rate
    tones = sum(
        amp * np.sin(2 * np.pi * freq * t + phase)
        for freq, amp, phase in ((180, 0.2, 0), (440, 0.15, 1), (1234, 0.1, 2), (3100, 0.08, 3))
    )
    tones += 0.05 * np.sin(2 * np.pi * min(7000, rate / 2 - 100) * t)
    tones += 0.02 * np.random.default_rng(7).standard_normal(len(t))
    return np.asarray(tones, dtype=np.float64)


def pcm(mono: np.ndarray, channels: int) -> bytes:
    """Little-endian 16-bit PCM, the same signal on every channel."""
    ints = np.clip(np.rint(mono * 32768), -32768, 32767).astype("<i2")
    return np.repeat(ints[:, None], channels, axis=1).tobytes()


def convert(
    rate: int, width: int, channels: int, data: bytes, chunk_frames: int
) -> tuple[bytes, float]:
    """Convert chunk by chunk; return the output and the CPU seconds it took."""
    step = chunk_frames * width * channels
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    conv = AudioConverter(rate, width, channels)
    cpu = time.process_time()
    out = [conv.convert(chunk) for chunk in chunks]
    out.append(conv.flush())
    return b"".join(out), time.process_time() - cpu


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-noise ratio of `test` against `reference`, edges left out."""
    n = min(len(reference), len(test)) - EDGE
    ref, got = reference[EDGE:n], test[EDGE:n]
    noise = np.sum((ref - got) ** 2)
    return float(10 * np.log10(np.sum(ref**2) / noise)) if noise else float("inf")


def measure(seconds: float, repeats: int) -> list[dict[str, Any]]:
    """One row per input format and chunking: x real time (best of `repeats`), SNR in dB."""
    rows = []
    for rate, width, channels in FORMATS:
        mono = signal(rate, seconds)
        data = pcm(mono, channels)
        decoded = np.frombuffer(pcm(mono, 1), "<i2").astype(np.float64) / 32768
        reference = soxr.resample(decoded, rate, 16000, quality="VHQ")
        for chunk_frames, chunking in ((rate // 100, "10 ms"), (SATELLITE_CHUNK_FRAMES, "1024")):
            best = min(
                convert(rate, width, channels, data, chunk_frames)[1] for _ in range(repeats)
            )
            out, _ = convert(rate, width, channels, data, chunk_frames)
            got = np.frombuffer(out, "<i2").astype(np.float64) / 32768
            rows.append(
                {
                    "format": f"{rate} Hz, {8 * width}-bit, "
                    f"{'stereo' if channels == 2 else 'mono'}, {chunking} chunks",
                    "rate": rate,
                    "channels": channels,
                    "chunk_frames": chunk_frames,
                    "x_realtime": seconds / best if best else float("inf"),
                    "snr_db": snr_db(reference, got),
                }
            )
    return rows
