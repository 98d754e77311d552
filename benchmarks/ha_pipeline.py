"""End of speech → `stt-end` in Home Assistant's own assist pipeline (HA 2026), endpointing off
vs on: runs tests_ha/bench_pipeline.py through `script/test-ha --bench` (its own venv or
chroot, built on first use) and renders its rows."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

TOP = Path(__file__).resolve().parent.parent


async def run() -> dict[str, Any]:
    """The pipeline benchmark's rows, or why there are none."""
    with tempfile.TemporaryDirectory(prefix="ha-bench-") as folder:
        out = Path(folder) / "rows.json"
        script = str(TOP / "script" / "ha_suites.py")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, script, "--bench", str(out), cwd=TOP
        )
        code = await proc.wait()
        if code != 0 or not out.is_file():
            return {"skipped": f"script/test-ha --bench exited {code}"}
        data: dict[str, Any] = json.loads(out.read_text())
        return data


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.0f}"


def section(result: dict[str, Any]) -> list[str]:
    """The report's section (Markdown lines)."""
    lines = ["## 11. In Home Assistant's own pipeline: end of speech → stt-end", ""]
    if "skipped" in result:
        return [*lines, f"Not run: {result['skipped']}.", ""]
    rows = result["rows"]
    version = rows[0]["home_assistant"] if rows else result["release"]
    lines += [
        f"Home Assistant {version}'s assist pipeline (its `wyoming` integration, default "
        "finished-speaking detection, VAD on), each bundled command in real time through a "
        "microphone, one pipeline at a time (at 3 at a time the simulator's single decoder "
        "made the text wait for the other streams' decodes), once each, then each English "
        "pause fixture once (`tests_ha/bench_pipeline.py`). The percentiles are the "
        "commands'; the pause fixtures' median is apart (they wait longer by design). "
        '"HA\'s VAD ended" counts turns Home Assistant\'s own detector ended; "not as sent '
        'directly" counts transcripts (commands and pause fixtures) that differ from the '
        "simulator's for the whole clip: a word lost.",
        "",
        "| EOS → FINISHED delay (ms) | endpointing | commands: stt-end p50 / p95 / max (ms) "
        "| pause fixtures: p50 (ms) | answered | HA's VAD ended | not as sent directly "
        "| errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['finished_delay_ms']} | {'on' if r['endpointing'] else 'off'} | "
            f"{_ms(r['p50'])} / {_ms(r['p95'])} / {_ms(r['max'])} | "
            f"{_ms(r.get('pause_p50'))} | "
            f"{r['answered']} / {r['utterances']} | {r['vad_ended']} | {r['not_as_direct']} | "
            f"{r['errors']} |"
        )
    return [*lines, ""]


def targets(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met): the endpointing issue's, in HA's pipeline."""
    out = []
    for r in result.get("rows", []):
        if not r["endpointing"] or r["p50"] is None:
            continue
        out.append(
            (
                "end of speech → stt-end in HA's pipeline p50 ≤ 500 ms, p95 ≤ 650 ms, no "
                f"word lost (FINISHED delay {r['finished_delay_ms']} ms; the target is for 0)",
                f"{r['p50'] * 1000:.0f} / {r['p95'] * 1000:.0f} ms, {r['not_as_direct']} lost",
                r["p50"] <= 0.5 and r["p95"] <= 0.65 and r["not_as_direct"] == 0,
            )
        )
    return out
