"""The results file: the issue's targets checked, then every figure as Markdown tables."""

from __future__ import annotations

import statistics
from typing import Any

Row = dict[str, Any]


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _pcts(p: dict[str, float | None], keys: tuple[str, ...] = ("p50", "p95", "p99", "max")) -> str:
    return " / ".join(_ms(p[k]) for k in keys)


def _ok(row: Row) -> str:
    fails = ", ".join(f"{k} ×{v}" for k, v in sorted(row["failures"].items()))
    return f"{row['ok']}/{row['utterances']}" + (f" ({fails})" if fails else "")


def _worst(rows: list[Row], key: str) -> float:
    values = [r["overhead_ms"][key] for r in rows if r["overhead_ms"][key] is not None]
    return max(values) if values else float("inf")


def targets(results: Row) -> list[Row]:
    """Each target of issue 6 with what was measured and whether it holds."""
    out: list[Row] = []

    def check(name: str, measured: str, met: bool) -> None:
        out.append({"target": name, "measured": measured, "met": bool(met)})

    lengths = results["lengths"]
    sats = lengths[0]["satellites"] if lengths else 0
    worst50, worst99 = _worst(lengths, "p50"), _worst(lengths, "p99")
    check(
        f"overhead p50 ≤ 1 ms at {sats} satellites, every length",
        f"{worst50:.2f} ms (worst length)",
        worst50 <= 1,
    )
    check(
        f"overhead p99 ≤ 5 ms at {sats} satellites, every length",
        f"{worst99:.2f} ms (worst length)",
        worst99 <= 5,
    )
    mono = [r for r in results["scale"] if r["format"] == "16000 Hz mono"]
    stereo = [r for r in results["scale"] if r["format"] != "16000 Hz mono"]
    top = mono[-1]
    top_p99 = top["overhead_ms"]["p99"] or float("inf")
    check(
        f"{top['satellites']} satellites: zero failures, overhead p99 ≤ 20 ms",
        f"{top['utterances'] - top['ok']} failures, p99 {top_p99:.2f} ms",
        top["ok"] == top["utterances"] and top_p99 <= 20,
    )
    busiest = max(mono, key=lambda r: r["satellites"] if r["satellites"] <= 100 else 0)
    cpu16 = busiest["server_cpu_ms_per_audio_s"]
    check(
        "server CPU ≤ 1 ms per second of 16 kHz audio",
        f"{cpu16:.2f} ms ({busiest['satellites']} satellites)",
        cpu16 <= 1,
    )
    cpu48 = stereo[0]["server_cpu_ms_per_audio_s"]
    check(
        "server CPU ≤ 3 ms per second of 48 kHz stereo audio",
        f"{cpu48:.2f} ms ({stereo[0]['satellites']} satellites)",
        cpu48 <= 3,
    )
    converting = [r for r in results["conversion"] if r["rate"] != 16000]
    slowest = min(r["x_realtime"] for r in converting)
    noisiest = min(r["snr_db"] for r in converting)
    check("conversion ≥ 1000× real time", f"{slowest:.0f}× (slowest format)", slowest >= 1000)
    check("conversion SNR ≥ 70 dB", f"{noisiest:.1f} dB (worst format)", noisiest >= 70)
    first = statistics.median(results["startup"]["first_info_ms"])
    idle = statistics.median(results["startup"]["idle_rss_mb"])
    check("first Info within 1 s of start", f"{first:.0f} ms (median)", first <= 1000)
    check("idle memory ≤ 60 MB", f"{idle:.1f} MB RSS (median)", idle <= 60)
    return out


def _table(columns: list[str], cells: list[list[str]]) -> list[str]:
    """A Markdown table: header, separator, one line per row of cells."""
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(row) + " |" for row in cells),
    ]


P50_99 = ("p50", "p99")


def _length_table(rows: list[Row]) -> list[str]:
    columns = [
        "utterance",
        "ok",
        "overhead p50 / p95 / p99 / max (ms)",
        "audio-stop → transcript p50 / p99 (ms)",
        "simulator's own EOS → FINISHED p50 (ms)",
    ]
    return _table(
        columns,
        [
            [
                f"{r['seconds']:g} s",
                _ok(r),
                _pcts(r["overhead_ms"]),
                _pcts(r["latency_ms"], P50_99),
                _ms(r["backend_ms"]["p50"]),
            ]
            for r in rows
        ],
    )


def _scale_table(rows: list[Row]) -> list[str]:
    columns = [
        "satellites",
        "audio",
        "ok",
        "overhead p50 / p95 / p99 / max (ms)",
        "server CPU ms per audio s",
        "server CPU % of a core",
        "server peak RSS (MB)",
        "simulator CPU ms per audio s",
        "load generator CPU ms per audio s",
    ]
    return _table(
        columns,
        [
            [
                str(r["satellites"]),
                r["format"],
                _ok(r),
                _pcts(r["overhead_ms"]),
                f"{r['server_cpu_ms_per_audio_s']:.2f}",
                f"{r['server_cpu_percent']:.0f}",
                f"{r['server_peak_mb']:.1f}",
                f"{r['backend_cpu_ms_per_audio_s']:.2f}",
                f"{r['load_cpu_ms_per_audio_s']:.2f}",
            ]
            for r in rows
        ],
    )


def _peer_table(rows: list[Row]) -> list[str]:
    columns = [
        "added latency",
        "utterance",
        "server",
        "ok",
        "overhead p50 / p99 (ms)",
        "audio-stop → transcript p50 / p99 (ms)",
        "backend's own time p50 (ms)",
        "server CPU ms per audio s",
    ]
    ordered = sorted(rows, key=lambda r: (r["wan_latency_ms"], r["seconds"], r["server"]))
    return _table(
        columns,
        [
            [
                f"{r['wan_latency_ms']:.0f} ms",
                f"{r['seconds']:g} s",
                r["server"],
                _ok(r),
                _pcts(r["overhead_ms"], P50_99),
                _pcts(r["latency_ms"], P50_99),
                _ms(r["backend_ms"]["p50"]),
                f"{r['server_cpu_ms_per_audio_s']:.2f}",
            ]
            for r in ordered
        ],
    )


def markdown(results: Row) -> str:
    """The whole results file."""
    meta = results["meta"]
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} at commit `{meta['commit']}`"
        + (" (**smoke run: tiny sizes, figures not meaningful**)" if meta["smoke"] else "")
        + ".",
        "",
        f"Machine: {meta['machine']}. Audio: {meta['chunk']}.",
        "",
        "## Targets",
        "",
        *_table(
            ["target", "measured", "met"],
            [
                [t["target"], t["measured"], "yes" if t["met"] else "**no**"]
                for t in results["targets"]
            ],
        ),
    ]
    lines += ["", *_sections(results), "", "## How this is measured", "", *meta["notes"]]
    return "\n".join(lines) + "\n"


def _sections(results: Row) -> list[str]:
    sats = results["lengths"][0]["satellites"]
    latency = results["lengths_wan"][0]["wan_latency_ms"]
    lines = [f"## 1. Bridge overhead by utterance length ({sats} concurrent satellites)", ""]
    lines += [*_length_table(results["lengths"]), ""]
    lines += [f"## 2. The same with every simulator message arriving {latency:.0f} ms late", ""]
    lines += [*_length_table(results["lengths_wan"]), ""]
    lines += ["## 3. Scale: concurrent real-time satellites", "", *_scale_table(results["scale"])]
    lines += ["", "## 4. Audio conversion (1024-frame chunks)", ""]
    lines += _table(
        ["input", "× real time", "SNR vs soxr VHQ (dB)"],
        [
            [r["format"], f"{r['x_realtime']:.0f}", f"{r['snr_db']:.1f}"]
            for r in results["conversion"]
        ],
    )
    start = results["startup"]
    lines += ["", "## 5. Start-up and idle memory", ""]
    lines += [
        f"- Start to first Info answer (ms, each run): "
        f"{', '.join(f'{v:.0f}' for v in start['first_info_ms'])}",
        f"- Idle resident memory 2 s after start (MB, each run): "
        f"{', '.join(f'{v:.1f}' for v in start['idle_rss_mb'])}",
        "",
    ]
    side = results["side_by_side"]
    lines += ["## Side by side: wyoming-truebar and wyoming-openai", ""]
    if "skipped" in side:
        lines += [f"Not run: {side['skipped']}."]
    else:
        lines += [f"wyoming-openai {side['peer_version']} (buffering mode).", ""]
        lines += _peer_table(side["rows"])
    prof = results["profile"]
    lines += ["", "## Profile of the bridge under load (py-spy, own time of busy samples)", ""]
    if "skipped" in prof:
        lines += [f"Not run: {prof['skipped']}."]
    else:
        lines += _table(
            ["busy %", "function"],
            [[f"{p['busy_percent']:.1f}", f"`{p['function']}`"] for p in prof["top"]],
        )
    return lines
