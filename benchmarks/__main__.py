"""Run every benchmark and write benchmarks/results.md and results.json.

bash script/bench            # the full run (about 20 minutes), results committed
bash script/bench --smoke    # seconds, tiny sizes, written to a temp dir (CI runs this)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import big_home, endpointing, ha_pipeline, report, sentences, suite, tolerance

HERE = Path(__file__).resolve().parent
NOTES = [
    "- Everything runs on this one 2-core machine over loopback: the bridge, the Truebar "
    "simulator in its byte-counting mode (its final text is the number of audio bytes it "
    "received, so it costs little), and the load generator (`benchmarks/load.py`), each its "
    "own process; the load is split over one generator process per 100 streams, so that no "
    "generator's event loop is the limit. All of them share the two cores: their CPU is shown.",
    "- The traffic is Home Assistant's: a new connection per utterance, `transcribe`, "
    "`audio-start` 16000/2/1, then one `audio-chunk` of 10 ms (320 bytes) per 10 ms, each "
    "written when its last sample has been spoken and encoded as wyoming 1.5.4 (Home "
    "Assistant's pin) writes it, then `audio-stop`. Streams start at random moments within one "
    "utterance, then speak back to back (0.1 s apart), so N streams keep about N utterances in "
    "flight. Rows that say otherwise use 64 ms chunks (satellites) or 48 kHz stereo.",
    "- Every utterance has its own length (its id in extra samples, so the last chunk is "
    "shorter, which Home Assistant itself never sends). The backend's transcript, the byte "
    "count, must equal what was sent (else it counts as `wrong_audio_length`), and pairs the "
    "client's time with the backend's own finishing time for that utterance.",
    "- **Overhead** = audio-stop → transcript at the client, minus the backend's own time "
    "(simulator: EOS received → FINISHED sent; OpenAI stub: upload received → answer). "
    "What is left is what the server in the middle adds, plus two loopback round trips "
    "between processes (one asyncio echo round trip is about 0.17 ms p50 on this machine) and "
    "the load generator's and simulator's own event-loop delays.",
    "- **Added latency**: every message the simulator sends (and its upgrade) arrives that "
    "much later, as over a WAN (messages sent back to back still arrive back to back); the "
    "stub's one answer is delayed the same. Both backends otherwise answer at once; requests "
    "towards them are not delayed, for either server.",
    "- CPU is read from /proc before and after each load: the total from per-thread "
    "`se.sum_exec_runtime`, user and system apart from /proc/PID/stat (10 ms ticks). "
    "Streams per core = 1000 / (server CPU ms per audio second). Peak memory is the server's "
    "VmHWM, with a fresh server per level. Capacity levels are run twice (`run`) to show the "
    "noise of this shared machine; a target is met only if every run meets it.",
    "- The peer, wyoming-openai, needs Python ≥ 3.12 and is installed into `.venv-peer/`. It "
    "buffers the utterance and uploads it as a WAV file after audio-stop.",
    "- Every fresh server first gets a small unmeasured load (2 streams, 1 s), the same for "
    "both servers of the side by side, so that no row pays for the first token grant or cold "
    "code paths.",
    "- Percentiles are nearest-rank over every paired utterance of a row; with few utterances "
    "p99 is close to the maximum.",
]


def machine() -> str:
    """CPU model, cores, memory, OS and Python."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{model}, {os.cpu_count()} cores, {mem_kib / 1024**2:.0f} GiB, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


def commit() -> str:
    """Short commit hash, marked if the work tree has changes."""
    git = ["git", "-C", str(HERE.parent)]
    head = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "wyoming_truebar", "truebar_sim"],
        capture_output=True,
        text=True,
        check=False,
    )
    return (head.stdout.strip() or "unknown") + (" + uncommitted changes" if dirty.stdout else "")


async def speech_sections(sizes: suite.Sizes, ha: bool) -> dict[str, Any]:
    """Endpointing off vs on: at the client, and in Home Assistant's pipeline (not in a smoke
    run: building Home Assistant's venv takes minutes)."""
    print("benchmark: endpointing off vs on (real speech, real time)", file=sys.stderr)
    results: dict[str, Any] = {
        "endpointing": await endpointing.run(
            sizes.endpointing_rounds,
            sizes.endpointing_parallel,
            sizes.endpointing_delays,
            sizes.endpointing_clips,
            sizes.endpointing_configs,
        )
    }
    print("benchmark: endpointing's CPU at Home Assistant load", file=sys.stderr)
    results["endpointing"]["cpu_rows"] = await suite.endpointing_cpu(sizes)
    print("benchmark: Home Assistant's pipeline, endpointing off vs on", file=sys.stderr)
    results["ha_pipeline"] = await ha_pipeline.run() if ha else {"skipped": "a smoke run"}
    return results


async def run_all(
    sizes: suite.Sizes, peer: bool, profile: bool, stacks: Path | None, ha: bool
) -> dict[str, Any]:
    """Every section, in an order that keeps the slow ones last."""
    print("benchmark: start-up and conversion", file=sys.stderr)
    results: dict[str, Any] = {"startup": await suite.startup(sizes)}
    results["conversion"] = suite.conversion_rows(sizes)
    print("benchmark: capacity", file=sys.stderr)
    results["capacity"] = await suite.capacity(sizes)
    print("benchmark: overhead by utterance length", file=sys.stderr)
    results["lengths"] = await suite.lengths(sizes, 0.0)
    results["lengths_wan"] = await suite.lengths(sizes, sizes.wan_latency)
    print("benchmark: other traffic and frame_ms", file=sys.stderr)
    results["variants"] = await suite.variants(sizes)
    results["frame_ms"] = await suite.frame_sizes(sizes)
    print("benchmark: side by side with wyoming-openai", file=sys.stderr)
    results["side_by_side"] = (
        await suite.side_by_side(sizes, (0.0, sizes.wan_latency))
        if peer
        else {"skipped": "--no-peer"}
    )
    results.update(await speech_sections(sizes, ha))
    print("benchmark: Home Assistant's sentences", file=sys.stderr)
    results["sentences"] = await asyncio.to_thread(sentences.run, not ha)
    print("benchmark: what each 100 ms of pause tolerance costs", file=sys.stderr)
    results["tolerance"] = await asyncio.to_thread(tolerance.run, not ha)
    print("benchmark: a big home", file=sys.stderr)
    results["big_home"] = await big_home.run(not ha)
    print("benchmark: profile", file=sys.stderr)
    results["profile"] = (
        await suite.profile(sizes, stacks) if profile else {"skipped": "--no-profile"}
    )
    return results


def main() -> None:
    """Entry point: `python -m benchmarks`."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks that it all runs")
    p.add_argument(
        "--out",
        type=Path,
        help="directory for results.md/.json (default: benchmarks/, or a temp dir with --smoke)",
    )
    p.add_argument("--no-peer", action="store_true", help="skip the wyoming-openai comparison")
    p.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    p.add_argument(
        "--only-pipeline",
        action="store_true",
        help="rerun only Home Assistant's pipeline (section 11) into the existing results.json",
    )
    p.add_argument(
        "--pipeline-runs",
        metavar="EXPR",
        help="with --only-pipeline: only the runs a pytest -k expression picks, e.g. "
        "'sl or interims_250' (the ids are tests_ha/bench_pipeline.py's RUNS); their rows replace "
        "the same runs' rows of the earlier results, the others are kept",
    )
    p.add_argument(
        "--only-sentences",
        action="store_true",
        help="rerun only what Home Assistant's sentences cost (section 12) into the existing "
        "results.json",
    )
    p.add_argument(
        "--only-big-home",
        action="store_true",
        help="rerun only the big home (section 14) into the existing results.json",
    )
    p.add_argument(
        "--only-tolerance",
        action="store_true",
        help="rerun only what each 100 ms of pause tolerance costs (section 13) into the "
        "existing results.json",
    )
    p.add_argument(
        "--only-speech",
        action="store_true",
        help="rerun only the endpointing sections (10, 11) into the existing results.json",
    )
    p.add_argument(
        "--only-endpointing-cpu",
        action="store_true",
        help="rerun only endpointing's CPU at Home Assistant load (section 10's second table) "
        "into the existing results.json",
    )
    p.add_argument(
        "--speech-rounds",
        type=int,
        help="how many times the endpointing section sends each fixture (default: 2)",
    )
    args = p.parse_args()
    out = args.out or (Path(tempfile.mkdtemp(prefix="bench-")) if args.smoke else HERE)
    sizes = suite.SMOKE if args.smoke else suite.Sizes()
    if args.speech_rounds:
        sizes = dataclasses.replace(sizes, endpointing_rounds=args.speech_rounds)
    out.mkdir(parents=True, exist_ok=True)
    stacks = out / "profile-stacks.txt"
    command = "bash script/bench" + "".join(f" {a}" for a in sys.argv[1:])
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    only = (args.only_pipeline, args.only_speech, args.only_endpointing_cpu, args.only_sentences)
    if any(only) or args.only_tolerance or args.only_big_home:
        results = json.loads((out / "results.json").read_text())
        sections = rerun_sections(args, sizes, results)
        rerun = {"sections": sections, "command": command, "date": date, "commit": commit()}
        results["meta"]["reruns"] = [*results["meta"].get("reruns", []), rerun]
        write(out, results)
        return
    runs = run_all(sizes, not args.no_peer, not args.no_profile, stacks, not args.smoke)
    results = asyncio.run(runs)
    results["meta"] = {
        "command": command,
        "date": date,
        "commit": commit(),
        "machine": machine(),
        "smoke": args.smoke,
        "chunk": "Home Assistant's, 10 ms chunks of 16 kHz mono 16-bit, real time, unless a "
        "row says otherwise",
        "notes": NOTES,
    }
    write(out, results)


def rerun_sections(
    args: argparse.Namespace, sizes: suite.Sizes, results: dict[str, Any]
) -> list[str]:
    """Rerun the section an --only-* flag names into `results`; which sections."""
    if args.only_big_home:
        results["big_home"] = asyncio.run(big_home.run(args.smoke))
        return ["14"]
    if args.only_tolerance:
        results["tolerance"] = tolerance.run(args.smoke)
        return ["13"]
    if args.only_sentences:
        results["sentences"] = sentences.run()
        return ["12"]
    if args.only_pipeline:
        fresh = asyncio.run(ha_pipeline.run(args.pipeline_runs))
        earlier = results.get("ha_pipeline", {}).get("rows")
        if args.pipeline_runs and earlier and "rows" in fresh:
            fresh["rows"] = ha_pipeline.merged(earlier, fresh["rows"])
            results["ha_pipeline"] = fresh
            return [f"11 (the runs {args.pipeline_runs!r}, into the earlier run's rows)"]
        results["ha_pipeline"] = fresh
        return ["11"]
    if args.only_speech:
        results.update(asyncio.run(speech_sections(sizes, ha=not args.smoke)))
        return ["10", "11"]
    results["endpointing"]["cpu_rows"] = asyncio.run(suite.endpointing_cpu(sizes))
    return ["10 (CPU at Home Assistant load)"]


def write(out: Path, results: dict[str, Any]) -> None:
    """Check the targets and write results.json and results.md."""
    results["targets"] = report.targets(results)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.md").write_text(report.markdown(results))
    print(f"benchmark: wrote {out / 'results.md'} and {out / 'results.json'}")


if __name__ == "__main__":
    main()
