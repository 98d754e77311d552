"""Chaos soak: satellites at Home Assistant's 10 ms chunks talk to the bridge while the
simulator injects random faults, one at a time; every utterance's outcome is classified and
attributed to the faults active during it; the bridge's memory and open files are sampled.

bash script/soak                  # 30 minutes, 20 satellites: benchmarks/soak-results.md
python -m benchmarks.soak --seconds 25 --satellites 10 --out DIR   # the test suite's smoke
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from wyoming.asr import Transcribe
from wyoming.audio import AudioStart

from truebar_sim.demo import bridge_env, free_port, wait_until
from wyoming_truebar.server.wyoming_io import EventParser, encode_event

from .load import Scheduler, Stream, chunk_event
from .procs import Proc, describe, memory_kib, sim_url, spawn

HERE = Path(__file__).resolve().parent
REPLY_BOUND = 30.0
"""Seconds after audio-stop without an answer or a close that make a hang."""
CLOSE_BOUND = 3.0
"""Seconds after an `error` within which the bridge must close the connection."""
SAMPLE_EVERY = 10.0
ACCESS_LIFETIME, REFRESH_LIFETIME = 20, 60
"""Short token lifetimes, so that token endpoint outages meet expired tokens."""
OUTCOMES = ("exact", "wrong", "clean_error", "unclean_close", "hang")
BUDGET = 3.0
"""The bridge's answer_deadline (its default): no answer may come later after audio-stop."""
BUDGET_MARGIN = 0.25
"""... give or take this much scheduling on a shared machine."""


@dataclass(frozen=True)
class Fault:
    """A fault of the simulator's, and whether the bridge must hide it from the user."""

    name: str
    settings: dict[str, Any]
    recoverable: bool
    seconds: float = 0.0
    """How long it stays on; 0 for "next N" faults, which stay until used (bounded)."""


def fault_catalogue(rng: random.Random) -> Fault:
    """A random fault (recoverable ones: the user must get the exact transcript anyway)."""
    kind = rng.choice(
        [
            "drop",
            "unauthorized",
            "token_down",
            "finished_delay",
            "latency",
            "oddities",
            "error_after_config",
            "never_finish",
        ]
    )
    if kind == "drop":
        size = rng.randrange(6400, 96000, 2)
        return Fault(kind, {"drop_after_bytes": size, "drop_sessions": 1}, True)
    if kind == "unauthorized":
        return Fault(kind, {"unauthorized_upgrades": rng.randint(1, 3)}, True)
    if kind == "token_down":
        return Fault(kind, {"token_endpoint_down": True}, True, rng.uniform(1, 6))
    if kind == "finished_delay":
        return Fault(kind, {"finished_delay": rng.uniform(0.2, 2.0)}, True, rng.uniform(3, 8))
    if kind == "latency":
        return Fault(kind, {"latency": rng.uniform(0.02, 0.2)}, True, rng.uniform(3, 8))
    if kind == "oddities":
        odd = {"message_type_key": "messageType", "split_finals": True, "warning": True}
        return Fault(kind, odd, True, rng.uniform(3, 8))
    if kind == "error_after_config":
        return Fault(kind, {"error_after_config": 1}, False)
    return Fault(kind, {"never_finish": 1}, False)


CLEARED: dict[str, Any] = {
    "drop_after_bytes": None,
    "drop_sessions": 0,
    "unauthorized_upgrades": 0,
    "token_endpoint_down": False,
    "finished_delay": 0.0,
    "latency": 0.0,
    "message_type_key": "type",
    "split_finals": False,
    "warning": False,
    "error_after_config": 0,
    "never_finish": 0,
}
NEXT_N = ("drop_sessions", "unauthorized_upgrades", "error_after_config", "never_finish")


@dataclass
class Window:
    """When a fault was on."""

    fault: Fault
    start: float
    end: float = float("inf")


@dataclass
class Utterance:
    """One utterance's outcome and when it happened."""

    start: float
    end: float
    outcome: str
    code: str = ""
    faults: list[str] = field(default_factory=list)
    recoverable: bool = True
    """Whether every fault active during it was recoverable."""
    after_stop: float = 0.0
    """Seconds from audio-stop to the answer (0 if it came while the audio still went out)."""


class Chaos:
    """Turns faults on and off at random, one at a time, and remembers when."""

    def __init__(self, url: str, rng: random.Random) -> None:
        self.url = url
        self.rng = rng
        self.windows: list[Window] = []

    async def _post(self, http: aiohttp.ClientSession, body: dict[str, Any]) -> dict[str, Any]:
        async with http.post(self.url + "/_sim/faults", json=body) as resp:
            data: dict[str, Any] = await resp.json()
            return data

    async def run(self, until: float) -> None:
        """Inject faults until `until` (loop time)."""
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as http:
            while loop.time() < until:
                await asyncio.sleep(self.rng.uniform(1.0, 4.0))
                fault = fault_catalogue(self.rng)
                window = Window(fault, loop.time())
                self.windows.append(window)
                state = await self._post(http, fault.settings)
                if fault.seconds:
                    await asyncio.sleep(fault.seconds)
                else:  # a "next N" fault: on until a session has used it (bounded)
                    for _ in range(100):
                        if not any(state.get(k) for k in NEXT_N if k in fault.settings):
                            break
                        await asyncio.sleep(0.1)
                        async with http.get(self.url + "/_sim/faults") as resp:
                            state = await resp.json()
                await self._post(http, CLEARED)
                window.end = loop.time() + 0.5  # its effects may trail a little


class Satellite:
    """Talks back to back, each utterance 1-4 s of audio at 10 ms chunks, real time."""

    def __init__(self, port: int, scheduler: Scheduler, rng: random.Random) -> None:
        self.port = port
        self.scheduler = scheduler
        self.rng = rng
        self.results: list[Utterance] = []
        self._chunk = chunk_event(bytes(320), 16000, 2, 1)

    async def run(self, until: float) -> None:
        """Speak until `until` (loop time)."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(self.rng.uniform(0, 2))
        while loop.time() < until:
            self.results.append(await self._utterance(self.rng.randint(100, 400)))
            await asyncio.sleep(0.2)

    async def _utterance(self, chunks: int) -> Utterance:
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return Utterance(began, loop.time(), "unclean_close", "connect")
        stream: Stream | None = None
        try:
            writer.write(encode_event(Transcribe(language="en").event()))
            writer.write(encode_event(AudioStart(rate=16000, width=2, channels=1).event()))
            stream = Stream(writer, self._chunk, b"", chunks, loop.time(), 0.01)
            self.scheduler.add(stream)
            outcome, code = await _answer(reader, stream, f"{chunks * 320} bytes")
            answered = time.perf_counter()
        except OSError as err:
            outcome, code = "unclean_close", type(err).__name__
            answered = time.perf_counter()
        finally:
            writer.close()
        after = answered - stream.stopped if stream is not None and stream.stopped else 0.0
        return Utterance(began, loop.time(), outcome, code, after_stop=after)


async def _answer(reader: asyncio.StreamReader, stream: Stream, expected: str) -> tuple[str, str]:
    """Read while the audio goes out (errors may come early) until the outcome is known."""
    parser = EventParser(1 << 20)
    try:
        async with asyncio.timeout(REPLY_BOUND + stream.chunks / 100):
            while data := await reader.read(65536):
                for event in parser.feed(data):
                    if event.type == "transcript":
                        text = str(event.data.get("text"))
                        return ("exact" if text == expected else "wrong"), text
                    if event.type == "error":
                        return await _closed_after_error(reader, str(event.data.get("code")))
    except TimeoutError:
        return "hang", ""
    return "unclean_close", "closed without an answer"


async def _closed_after_error(reader: asyncio.StreamReader, code: str) -> tuple[str, str]:
    try:
        async with asyncio.timeout(CLOSE_BOUND):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return "hang", f"{code}, not closed"  # a Home Assistant of 2025.4 would wait for ever
    return "clean_error", code


def attribute(utterances: list[Utterance], windows: list[Window]) -> None:
    """Name the faults active during each utterance."""
    for utt in utterances:
        active = [w.fault for w in windows if w.start < utt.end and w.end > utt.start]
        utt.faults = sorted({f.name for f in active})
        utt.recoverable = all(f.recoverable for f in active)


async def sample(proc: Proc, samples: list[tuple[float, int, int]], until: float) -> None:
    """Every SAMPLE_EVERY seconds: (seconds since start, RSS KiB, open files) of a process."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while loop.time() < until:
        fds = len(os.listdir(f"/proc/{proc.proc.pid}/fd"))
        samples.append((loop.time() - began, memory_kib(proc.proc.pid), fds))
        await asyncio.sleep(SAMPLE_EVERY)


async def soak(seconds: float, satellites: int, seed: int) -> dict[str, Any]:
    """Run the soak; return every utterance, fault window and sample."""
    rng = random.Random(seed)
    sim_port, port = free_port(), free_port()
    sim_args = [sys.executable, "-m", "truebar_sim", "--port", str(sim_port), "--mode", "bytes"]
    sim_args += ["--access-lifetime", str(ACCESS_LIFETIME)]
    sim_args += ["--refresh-lifetime", str(REFRESH_LIFETIME)]
    bridge_args = [sys.executable, "-m", "wyoming_truebar", "--uri", f"tcp://127.0.0.1:{port}"]
    env = bridge_env(sim_url(sim_port), inherit_settings=False)
    async with spawn(sim_args, dict(os.environ), sim_port), spawn(bridge_args, env, port) as br:
        await wait_until(lambda: describe(port), "the bridge")
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        scheduler = Scheduler()
        clock = asyncio.create_task(scheduler.run())
        chaos = Chaos(sim_url(sim_port), rng)
        sats = [Satellite(port, scheduler, random.Random(rng.random())) for _ in range(satellites)]
        samples: list[tuple[float, int, int]] = []
        await asyncio.gather(
            chaos.run(until), sample(br, samples, until), *(s.run(until) for s in sats)
        )
        clock.cancel()
        samples.append(
            (seconds, memory_kib(br.proc.pid), len(os.listdir(f"/proc/{br.proc.pid}/fd")))
        )
    utterances = [u for s in sats for u in s.results]
    attribute(utterances, chaos.windows)
    return {
        "satellites": satellites,
        "utterances": [asdict(u) for u in utterances],
        "faults": [
            {"name": w.fault.name, "settings": w.fault.settings, "start": w.start, "end": w.end}
            for w in chaos.windows
        ],
        "samples": samples,
    }


def verdicts(data: dict[str, Any], long_run: bool) -> list[dict[str, Any]]:
    """What the soak must show, each checked."""
    utts = data["utterances"]
    outcomes = Counter(u["outcome"] for u in utts)
    ended_by_budget = [u for u in utts if budget_ended(u)]
    recoverable_errors = [
        u
        for u in utts
        if u["outcome"] != "exact" and u["recoverable"] and u["faults"] and not budget_ended(u)
    ]
    latest = max((u["after_stop"] for u in utts), default=0.0)
    clean_but_failed = [u for u in utts if u["outcome"] != "exact" and not u["faults"]]
    samples = data["samples"]
    checks = [
        ("utterances served", f"{len(utts)}", len(utts) > 0),
        (
            "no wrong transcript (lost or duplicated audio)",
            f"{outcomes['wrong']}",
            not outcomes["wrong"],
        ),
        (
            "no hang (and every error followed by a close)",
            f"{outcomes['hang']}",
            not outcomes["hang"],
        ),
        ("no unclean close", f"{outcomes['unclean_close']}", not outcomes["unclean_close"]),
        (
            f"every answer within answer_deadline ({BUDGET:g} s, + {BUDGET_MARGIN:g}) of "
            "audio-stop",
            f"latest {latest:.2f} s",
            latest <= BUDGET + BUDGET_MARGIN,
        ),
        (
            "recoverable faults the budget ended (a clean error at the budget, counted, not a "
            "failure)",
            f"{len(ended_by_budget)}",
            True,
        ),
        (
            "no failure under recoverable faults only",
            f"{len(recoverable_errors)}",
            not recoverable_errors,
        ),
        ("no failure without any fault", f"{len(clean_but_failed)}", not clean_but_failed),
    ]
    start_fds, end_fds = samples[0][2], samples[-1][2]
    busiest = max(s[2] for s in samples)
    bound = start_fds + 2 * data["satellites"] + 10  # a client and a Truebar socket each
    checks.append(
        (
            "open files bounded by the connections in flight, back to the start's when idle",
            f"{start_fds} at start, at most {busiest} (bound {bound}), {end_fds} at the end",
            busiest <= bound and end_fds <= start_fds + 2,
        )
    )
    if long_run:
        after = [s for s in samples if s[0] >= 120]
        growth = (after[-1][1] - after[0][1]) / 1024 if len(after) > 1 else 0.0
        checks.append(("RSS growth after minute 2 < 5 MB", f"{growth:.1f} MB", growth < 5))
    return [{"check": c, "measured": m, "met": bool(ok)} for c, m, ok in checks]


def budget_ended(u: dict[str, Any]) -> bool:
    """A clean error that came when answer_deadline ran out, under recoverable faults (a token
    outage longer than the budget after the end of speech): counted, not a failure."""
    return (
        u["outcome"] == "clean_error"
        and u["recoverable"]
        and bool(u["faults"])
        and u["after_stop"] >= BUDGET - 0.5
    )


def by_fault(utts: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Outcomes per fault (an utterance under two faults counts for both; none: "none")."""
    table: dict[str, Counter[str]] = {}
    for u in utts:
        for name in u["faults"] or ["none"]:
            table.setdefault(name, Counter())[
                f"{u['outcome']}{':' + u['code'] if u['outcome'] == 'clean_error' else ''}"
            ] += 1
    return table


def markdown(data: dict[str, Any], meta: dict[str, Any]) -> str:
    """The soak's results file."""
    lines = [
        "# Chaos soak results",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} at commit `{meta['commit']}`: "
        f"{meta['seconds'] / 60:g} minutes, {meta['satellites']} satellites (Home Assistant's "
        "10 ms chunks, real time, 1-4 s utterances back to back), one random simulator fault "
        "at a time. Machine: " + meta["machine"] + ".",
        "",
        "## Verdicts",
        "",
        "| check | measured | met |",
        "|---|---|---|",
        *(
            f"| {v['check']} | {v['measured']} | {'yes' if v['met'] else '**no**'} |"
            for v in data["verdicts"]
        ),
        "",
        "## Outcomes by the fault active at the time",
        "",
        "Recoverable faults (the user must get the exact transcript anyway): drop (the connection "
        "drops mid-stream once), unauthorized (401 on 1-3 upgrades), token_down (the token "
        "endpoint answers 503 for 1-6 s; tokens live 20 s), finished_delay (0.2-2 s), latency "
        "(20-200 ms on every message), oddities (`messageType`, one final per word, WARNING). "
        "Not recoverable, a clean error is right: error_after_config (ERROR in answer to CONFIG: "
        "`service_error`), never_finish (`timeout`).",
        "",
        "An utterance counts for every fault active while it lasted. Failures only count "
        "against the bridge when every fault active during the utterance was recoverable (last "
        "column); the others overlapped a fault that makes a clean error right. A recoverable "
        f"fault that outlasts answer_deadline ({BUDGET:g} s after audio-stop: a long token "
        "outage) ends in a clean error at the budget: those are counted in the verdicts, not "
        "blamed.",
        "",
        "| fault | utterances | outcomes | failures under recoverable faults only |",
        "|---|---|---|---|",
    ]
    for name, counts in sorted(by_fault(data["utterances"]).items()):
        shown = ", ".join(f"{k} ×{v}" for k, v in sorted(counts.items()))
        blamed = sum(
            1
            for u in data["utterances"]
            if name in (u["faults"] or ["none"])
            and u["outcome"] != "exact"
            and u["recoverable"]
            and not budget_ended(u)
        )
        lines.append(f"| {name} | {sum(counts.values())} | {shown} | {blamed} |")
    lines += [
        "",
        "## Answer after audio-stop (seconds)",
        "",
        "| outcome | utterances | p50 | p99 | max |",
        "|---|---|---|---|---|",
    ]
    for outcome in OUTCOMES:
        values = sorted(u["after_stop"] for u in data["utterances"] if u["outcome"] == outcome)
        if values:
            p50, p99 = (
                values[len(values) // 2],
                values[min(len(values) - 1, len(values) * 99 // 100)],
            )
            lines.append(
                f"| {outcome} | {len(values)} | {p50:.3f} | {p99:.3f} | {values[-1]:.3f} |"
            )
    lines += [
        "",
        "## Memory and open files of the bridge",
        "",
        "| minute | RSS (MB) | open files |",
        "|---|---|---|",
    ]
    step = max(1, len(data["samples"]) // 30)
    for t, rss, fds in data["samples"][::step] + data["samples"][-1:]:
        lines.append(f"| {t / 60:.1f} | {rss / 1024:.1f} | {fds} |")
    lines += ["", f"Faults injected: {len(data['faults'])}.", ""]
    return "\n".join(lines)


def main() -> None:
    """Entry point: `python -m benchmarks.soak`."""
    from .__main__ import commit, machine  # noqa: PLC0415

    p = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__.splitlines()[0]
    )
    p.add_argument("--seconds", type=float, default=1800.0)
    p.add_argument("--satellites", type=int, default=20)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--out",
        type=Path,
        default=HERE,
        help="directory for soak-results.md (committed) and soak-results.json (the record of "
        "every utterance: git-ignored)",
    )
    args = p.parse_args()
    data = asyncio.run(soak(args.seconds, args.satellites, args.seed))
    long_run = args.seconds >= 600
    data["verdicts"] = verdicts(data, long_run)
    meta = {
        "command": "python -m benchmarks.soak" + "".join(f" {a}" for a in sys.argv[1:]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "machine": machine(),
        "seconds": args.seconds,
        "satellites": args.satellites,
    }
    data["meta"] = meta
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak-results.json").write_text(json.dumps(data, indent=1) + "\n")
    (args.out / "soak-results.md").write_text(markdown(data, meta))
    failed = [v["check"] for v in data["verdicts"] if not v["met"]]
    print(f"soak: {len(data['utterances'])} utterances; failed checks: {failed or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
