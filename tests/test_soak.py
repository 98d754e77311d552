"""The chaos soak's smoke: random simulator faults while satellites talk at Home Assistant's
10 ms chunks; nothing may be lost, hang or close uncleanly, and recoverable faults must never
reach the user. Twenty-five seconds, a handful of faults: the 30-minute run, with its memory
check, is `bash script/soak`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # it loads the machine itself

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(240)
def test_chaos_soak_smoke(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.soak"),
            *("--seconds", "25", "--satellites", "10", "--out", str(tmp_path)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    data = json.loads((tmp_path / "soak-results.json").read_text())
    failed = [v for v in data["verdicts"] if not v["met"]]
    assert done.returncode == 0, (failed, done.stderr[-3000:])
    assert len(data["faults"]) >= 4  # the soak really injected faults
    assert len(data["utterances"]) >= 50
    assert "## Verdicts" in (tmp_path / "soak-results.md").read_text()
