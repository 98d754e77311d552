"""The benchmark's smoke run: every section runs end to end, so the benchmark cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_benchmark_smoke_run(tmp_path: Path) -> None:
    # The peer (wyoming-openai) needs its own venv from PyPI; the full run covers it.
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--no-peer", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    for section in ("lengths", "lengths_wan", "capacity", "variants", "frame_ms"):
        for row in results[section]:
            assert row["ok"] == row["utterances"] > 0, row
            assert row["paired"] == row["ok"], row
    cpu = results["endpointing"]["cpu_rows"]  # the pairs run side by side: each row whole
    assert {r["variant"] for r in cpu} == {"naive", "off", "off, interims", "on"}
    assert all(r["ok"] == r["utterances"] > 0 for r in cpu), cpu
    assert {t["target"] for t in results["targets"]}
    assert results["tolerance"]["rows"][0]["commands"] == 4  # section 13, at its smoke size
    text = (tmp_path / "results.md").read_text()
    assert "## Targets" in text
    assert "smoke run" in text
