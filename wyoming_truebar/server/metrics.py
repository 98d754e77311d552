"""Prometheus metrics of one bridge process (its own registry, so tests can run several)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ..ending.conventions import Conventions
    from ..home.completeness import Completeness
    from ..home.home_names import HomeAssistantNames
    from ..truebar.credentials import CredentialsCache

STALL_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.5)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _GrantCollector(Collector):
    """Token grants, failures and the breaker, read from the credentials cache when scraped."""

    def __init__(self, credentials: CredentialsCache) -> None:
        self._credentials = credentials

    def collect(self) -> Iterator[Metric]:
        grants = CounterMetricFamily(
            "wyoming_truebar_token_grants", "Successful token grants", labels=["grant_type"]
        )
        for grant_type, count in sorted(self._credentials.grants.items()):
            grants.add_metric([grant_type], count)
        yield grants
        failures = CounterMetricFamily(
            "wyoming_truebar_token_failures",
            "Failed token grants (requests to the token endpoint), by error code",
            labels=["code"],
        )
        for code, count in sorted(self._credentials.failures.items()):
            failures.add_metric([code], count)
        yield failures
        yield GaugeMetricFamily(
            "wyoming_truebar_token_breaker_open",
            "1 while token grants fail and callers get the last failure until the back-off "
            "step has passed",
            value=1 if self._credentials.breaker.open else 0,
        )


class _ConventionsCollector(Collector):
    """What the bridge has learned of Truebar's stream conventions."""

    def __init__(self, conventions: Conventions) -> None:
        self._conventions = conventions

    def collect(self) -> Iterator[Metric]:
        """Yield the learned figures (absent until measured) and conventions."""
        c = self._conventions
        for name, value, text in (
            ("interim_interval_ms", c.interim_ms, "Usual gap between Truebar's interims"),
            ("text_lag_ms", c.text_lag_ms, "Audio received beyond what Truebar's text had heard"),
            ("round_trip_ms", c.round_trip_ms, "CONFIG to CONFIGURED"),
            ("eos_to_finished_ms", c.finish_ms, "EOS to FINISHED"),
        ):
            if value is not None:
                yield GaugeMetricFamily(f"wyoming_truebar_truebar_{name}", text, value=value)
        family = GaugeMetricFamily(
            "wyoming_truebar_truebar_convention",
            "Truebar's stream conventions as learned from the stream: the segments that showed "
            'the adopted value (value="unknown": none adopted yet, 0)',
            labels=["convention", "value"],
        )
        for convention, seen, support in c.labels():
            family.add_metric([convention, seen], float(support))
        yield family
        given_up = GaugeMetricFamily(
            "wyoming_truebar_truebar_conventions_given_up",
            "Learned conventions given up because the stream contradicted them",
            labels=["convention"],
        )
        for convention, count in c.given_up():
            given_up.add_metric([convention], float(count))
        yield given_up


class _SentencesCollector(Collector):
    """Home Assistant's sentences and the home's names, as the bridge uses them."""

    def __init__(
        self, completeness: Completeness, home: Callable[[], HomeAssistantNames | None]
    ) -> None:
        self._completeness = completeness
        self._home = home

    def collect(self) -> Iterator[Metric]:
        """Yield the checks made, the questions refused or dropped, the names known and what
        the bridge knows of Home Assistant."""
        c = self._completeness
        yield CounterMetricFamily(
            "wyoming_truebar_sentence_checks",
            "Running texts judged against Home Assistant's sentences (each text once)",
            value=c.checks,
        )
        questions = CounterMetricFamily(
            "wyoming_truebar_sentence_questions_skipped",
            "Questions to the sentences not worked out: refused (too many waiting: answered "
            "not complete at once) or dropped (nobody waited for them any more)",
            labels=["why"],
        )
        questions.add_metric(["refused"], c.questions.refused)
        questions.add_metric(["dropped"], c.questions.dropped)
        yield questions
        yield CounterMetricFamily(
            "wyoming_truebar_sentence_process_starts",
            "Starts of the sentences' process (more than 1: it died or hung and was started "
            "anew; 0: not started yet, or endpoint_sentences_process is false)",
            value=c.process_starts,
        )
        resident = _resident_bytes(c.process_pid)
        if resident is not None:
            yield GaugeMetricFamily(
                "wyoming_truebar_sentence_process_resident_memory_bytes",
                "Resident memory of the sentences' process (the bridge's own is "
                "process_resident_memory_bytes)",
                value=resident,
            )
        names = GaugeMetricFamily(
            "wyoming_truebar_home_names",
            "The home's names read from Home Assistant, by kind: entities exposed to Assist, "
            "their names with aliases, areas, floors (0: none, the sentences take wildcards)",
            labels=["kind"],
        )
        for kind, count in (
            ("entities", len({n.entity_id or n.text for n in c.names.entities})),
            ("names", len({n.text for n in c.names.entities})),
            ("areas", len(c.names.areas)),
            ("floors", len(c.names.floors)),
        ):
            names.add_metric([kind], count)
        yield names
        home = self._home()
        if home is not None:
            yield from _home_metrics(home)


def _resident_bytes(pid: int | None) -> int | None:
    """A process's resident memory (Linux's /proc; None elsewhere, or if it is gone)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _home_metrics(home: HomeAssistantNames) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "wyoming_truebar_home_assistant_reads",
        "Reads of the home's names from Home Assistant that succeeded",
        value=home.reads,
    )
    yield GaugeMetricFamily(
        "wyoming_truebar_home_assistant_reachable",
        "1 while the latest read of Home Assistant's names succeeded",
        value=1 if home.failure is None and home.reads else 0,
    )
    yield GaugeMetricFamily(
        "wyoming_truebar_home_assistant_token_refused",
        "1 while Home Assistant's refusal of the access token holds the bridge back from "
        "signing in again (see the log)",
        value=1 if home.refused else 0,
    )
    if (found := home.sensitivity) is not None:
        setting = GaugeMetricFamily(
            "wyoming_truebar_finished_speaking_detection",
            "The satellites' most patient finished-speaking detection, which the bridge's "
            "waits follow (1 for the one in use)",
            labels=["setting"],
        )
        setting.add_metric([found.value], 1)
        yield setting


class Metrics:
    """Counters, gauges and histograms the handler and sessions update."""

    def __init__(
        self,
        credentials: CredentialsCache,
        in_flight: Callable[[], float],
        conventions: Conventions | None = None,
        completeness: Completeness | None = None,
        home: Callable[[], HomeAssistantNames | None] = lambda: None,
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.utterances = Counter(
            "wyoming_truebar_utterances",
            "Utterances by outcome and code",
            ["outcome", "code"],
            registry=r,
        )
        self.audio_seconds = Counter(
            "wyoming_truebar_audio_seconds", "Seconds of client audio received", registry=r
        )
        self.latency = Histogram(
            "wyoming_truebar_transcript_latency_seconds",
            "audio-stop to transcript",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.endings = Counter(
            "wyoming_truebar_utterance_endings",
            "Successful utterances by how they ended: silence_text, long_silence and "
            "truebar_final (the bridge's endpointing), audio_stop (the client)",
            ["ending"],
            registry=r,
        )
        self.words_lost = Counter(
            "wyoming_truebar_words_lost_at_finalisation",
            "Utterances answered with fewer words than Truebar's last interim that covered "
            "the speech (the client ended them, so Truebar's final stood)",
            registry=r,
        )
        self.words_restored = Counter(
            "wyoming_truebar_words_restored",
            "Utterances the bridge ended whose answer kept the words of the interim they were "
            "ended on, which Truebar's final had dropped at its end",
            registry=r,
        )
        self.speech_to_transcript = Histogram(
            "wyoming_truebar_end_of_speech_to_transcript_seconds",
            "End of speech (as the voice activity detector heard it, live audio only) to the "
            "transcript",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.time_to_configured = Histogram(
            "wyoming_truebar_time_to_configured_seconds",
            "Session start to Truebar CONFIGURED",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.reconnects = Counter(
            "wyoming_truebar_reconnects",
            "Truebar reconnects (each replays the utterance's audio)",
            registry=r,
        )
        self.replayed_seconds = Counter(
            "wyoming_truebar_replayed_audio_seconds",
            "Seconds of audio sent again after a reconnect",
            registry=r,
        )
        self.saved = Counter(
            "wyoming_truebar_utterances_saved",
            "Utterances that succeeded after Truebar failed while the user was still speaking "
            "(retried and replayed)",
            registry=r,
        )
        self.loop_lag = Histogram(
            "wyoming_truebar_event_loop_lag_seconds",
            "How much later than due the event loop woke a task that looks every 50 ms (its "
            "stalls: every stream's audio waits as long)",
            buckets=STALL_BUCKETS,
            registry=r,
        )
        self.sentence_wait = Histogram(
            "wyoming_truebar_sentence_wait_seconds",
            "A question to Home Assistant's sentences: from asked to answered, queueing included",
            buckets=STALL_BUCKETS,
            registry=r,
        )
        in_flight_gauge = Gauge(
            "wyoming_truebar_sessions_in_flight", "Utterances in flight", registry=r
        )
        in_flight_gauge.set_function(in_flight)
        r.register(_GrantCollector(credentials))
        if completeness is not None:
            r.register(_SentencesCollector(completeness, home))
        if conventions is not None:
            r.register(_ConventionsCollector(conventions))

    def render(self) -> bytes:
        """Return the Prometheus text exposition."""
        return generate_latest(self.registry)
