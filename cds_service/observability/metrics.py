"""Prometheus metrics (prometheus_client), one registry per process or, under `--workers`, the
multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`, prepared by `observability.prepare_multiprocess_dir`).

Privacy: every label value comes from a closed set that the service itself defines (service ids,
hooks, HTTP statuses, card topics and indicators, FHIR fetch outcomes, JWT rejection reasons, memo
names). Anything else becomes "other", so a request cannot mint a label, let alone one holding
patient data. `tests/test_metrics.py` drives every endpoint with sentinel patient values and
searches the exposition for them.

What is counted where:
- the edge (`protocol.edge.Edge`, routes, prefetch, deps) records hook calls, latencies,
  cards, FHIR fetches and JWT rejections as they happen;
- storage, auth and the facts layer keep counters of their own (audit written/spooled/lost, replay
  store failures, memo hits); `StateSync` copies them in every `SYNC_INTERVAL_SECONDS` and before
  each in-process scrape, so those layers stay free of any metrics code.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

SYNC_INTERVAL_SECONDS = 2.0
# Hook calls take ~5-100 ms with prefetch; FHIR fetching and the 3 s deadline make the long tail.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

FHIR_OUTCOMES = ("ok", "timeout", "refused", "too_large", "error")
INDICATORS = ("info", "warning", "critical")
AUDIT_OUTCOMES = ("written", "spooled", "replayed", "lost")
OTHER = "other"

HOOK_CALLS = Counter(
    "cds_hook_calls", "Hook calls answered, by service, hook and HTTP status", ["service", "hook", "status"]
)
HOOK_CALL_SECONDS = Histogram(
    "cds_hook_call_duration_seconds",
    "Whole hook call as the EHR sees it: authentication, FHIR fetching, facts, rules, response",
    ["service"],
    buckets=LATENCY_BUCKETS,
)
HOOK_CALLS_IN_FLIGHT = Gauge("cds_hook_calls_in_flight", "Hook calls being answered now", multiprocess_mode="livesum")
FACTS_SECONDS = Histogram(
    "cds_facts_duration_seconds", "Building one patient's facts from the FHIR data", ["hook"], buckets=STEP_BUCKETS
)
RULES_SECONDS = Histogram(
    "cds_rules_duration_seconds", "Running the rules of one hook call over the facts", ["hook"], buckets=STEP_BUCKETS
)
FHIR_FETCHES = Counter(
    "cds_fhir_fetches",
    "FHIR requests made for missing prefetch, by outcome (ok, timeout, refused: 401/403, too_large, error)",
    ["outcome"],
)
FHIR_FETCH_SECONDS = Histogram(
    "cds_fhir_fetch_duration_seconds", "One FHIR request (one page)", ["outcome"], buckets=LATENCY_BUCKETS
)
CARDS = Counter("cds_cards", "Cards returned to EHRs, by topic and indicator", ["topic", "indicator"])
CARDS_SUPPRESSED = Counter(
    "cds_cards_suppressed", "Cards not shown because an earlier override of the same card still holds", ["topic"]
)
JWT_REJECTIONS = Counter("cds_jwt_rejections", "Client JWTs refused (401), by reason", ["reason"])
REPLAY_STORE_ERRORS = Counter(
    "cds_replay_store_errors", "Failed calls to the shared JWT replay store (database or redis)", ["store"]
)
AUDIT_RECORDS = Counter(
    "cds_audit_records",
    "Audit records by fate: written to the database, spooled to disk, replayed from the spool, lost",
    ["outcome"],
)
AUDIT_BACKPRESSURE = Counter(
    "cds_audit_backpressure",
    "Hook calls that waited for the audit writer (its outstanding rows at the bound) instead of losing a row",
)
AUDIT_PENDING = Gauge(
    "cds_audit_pending", "Audit records queued in memory, not yet written", multiprocess_mode="livesum"
)
AUDIT_SPOOLED = Gauge(
    "cds_audit_spooled", "Audit records waiting in the on-disk spool for the database", multiprocess_mode="livesum"
)
AUDIT_DATABASE_UP = Gauge(
    "cds_audit_database_up", "0 when the audit writer's last database call failed, else 1", multiprocess_mode="livemin"
)
MEMO_LOOKUPS = Counter("cds_memo_lookups", "Look-ups in the facts layer's memos, by result", ["memo", "result"])
MEMO_ENTRIES = Gauge("cds_memo_entries", "Entries held by each facts memo", ["memo"], multiprocess_mode="livesum")
LOAD_SHED = Counter(
    "cds_load_shed",
    "CDS calls answered 503 at once because the process was overloaded, by reason (calls_in_progress, "
    "large_calls_in_progress, waited_in_event_loop, event_loop_late, audit_writer_behind)",
    ["reason"],
)
EVENT_LOOP_LAG = Histogram(
    "cds_event_loop_lag_seconds",
    "How late the serving event loop runs a 25 ms timer, sampled while CDS calls arrive: refusals, "
    "accepts and answers wait this long",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CALL_DEADLINE_EXCEEDED = Counter(
    "cds_call_deadline_exceeded", "Admitted CDS calls answered 503 because they passed CDS_CALL_DEADLINE_SECONDS"
)
READY = Gauge("cds_ready", "1 while the process reports ready (warmed up, not draining)", multiprocess_mode="livemin")
RESIDENT_MEMORY = Gauge(
    "cds_process_resident_memory_bytes", "Resident memory of each serving process", multiprocess_mode="liveall"
)

_SAFE_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")
_REASON = re.compile(r"[a-z][a-z ]{0,47}")


def safe_label(value: object, allowed: Mapping[str, object] | tuple[str, ...] | frozenset[str] | None = None) -> str:
    """`value` when it is in `allowed` (or, without `allowed`, a short identifier), else "other"."""
    if not isinstance(value, str):
        return OTHER
    if allowed is not None:
        return value if value in allowed else OTHER
    return value if _SAFE_LABEL.fullmatch(value) else OTHER


# ----------------------------------------------------------------------------- recording helpers


def card_shown(topic: str | None, indicator: str) -> None:
    CARDS.labels(safe_label(topic), safe_label(indicator, INDICATORS)).inc()


def card_suppressed(topic: str | None) -> None:
    """Count one card held back by override suppression. For the edge to call when it drops a card."""
    CARDS_SUPPRESSED.labels(safe_label(topic)).inc()


def jwt_rejected(reason: str) -> None:
    """The verifier's reasons are fixed phrases ("token replayed", "missing claim jti"): snake-cased."""
    label = reason.replace(" ", "_") if isinstance(reason, str) and _REASON.fullmatch(reason) else OTHER
    JWT_REJECTIONS.labels(label).inc()


def fhir_fetched(outcome: str, seconds: float) -> None:
    outcome = safe_label(outcome, FHIR_OUTCOMES)
    FHIR_FETCHES.labels(outcome).inc()
    FHIR_FETCH_SECONDS.labels(outcome).observe(seconds)


@contextlib.contextmanager
def timed(histogram: Histogram, label: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.labels(label).observe(time.perf_counter() - started)


# ----------------------------------------------------------------------------- copying counters in


def _resident_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


class StateSync:
    """Copies counters other layers keep into the metrics: counters by their increase since the last
    copy, gauges by value. `recorder` is the audit recorder (`stats()`, `spooled_total`),
    `replay_cache` the JWT replay store (a guarded one counts `failures`), `readiness` anything
    with `is_ready()`; `memo_stats` returns the facts memos' counts."""

    def __init__(
        self,
        recorder: Any,
        replay_cache: Any,
        readiness: Any = None,
        memo_stats: Callable[[], dict[str, dict[str, int]]] | None = None,
    ) -> None:
        self.recorder = recorder
        self.replay_cache = replay_cache
        self.readiness = readiness
        self.memo_stats = memo_stats
        self._seen: dict[tuple[str, ...], int] = {}

    def _increase(self, counter: Counter, labels: tuple[str, ...], total: int) -> None:
        """Add what `total` (a cumulative count) gained since the last copy."""
        key = (counter._name, *labels)
        gained = total - self._seen.get(key, 0)
        if gained > 0:
            (counter.labels(*labels) if labels else counter).inc(gained)
        self._seen[key] = max(total, self._seen.get(key, 0))

    def __call__(self) -> None:
        stats = self.recorder.stats() if self.recorder is not None else None
        if stats is not None:
            self._increase(AUDIT_RECORDS, ("written",), int(stats.get("written", 0)) - int(stats.get("replayed", 0)))
            self._increase(AUDIT_RECORDS, ("replayed",), int(stats.get("replayed", 0)))
            self._increase(AUDIT_RECORDS, ("spooled",), int(getattr(self.recorder, "spooled_total", 0)))
            self._increase(AUDIT_RECORDS, ("lost",), int(stats.get("lost", 0)))
            self._increase(AUDIT_BACKPRESSURE, (), int(getattr(self.recorder, "backpressure_waits", 0)))
            AUDIT_PENDING.set(int(stats.get("pending", 0)))
            AUDIT_SPOOLED.set(int(stats.get("spooled", 0)))
            AUDIT_DATABASE_UP.set(0 if stats.get("database") == "down" else 1)
        failures = getattr(self.replay_cache, "failures", None)
        if isinstance(failures, int):
            self._increase(REPLAY_STORE_ERRORS, (safe_label(getattr(self.replay_cache, "name", OTHER)),), failures)
        if self.memo_stats is not None:
            for memo, counts in self.memo_stats().items():
                name = safe_label(memo)
                self._increase(MEMO_LOOKUPS, (name, "hit"), int(counts.get("hits", 0)))
                self._increase(MEMO_LOOKUPS, (name, "miss"), int(counts.get("misses", 0)))
                MEMO_ENTRIES.labels(name).set(int(counts.get("entries", 0)))
        if self.readiness is not None:
            READY.set(1 if self.readiness.is_ready() else 0)
        RESIDENT_MEMORY.set(_resident_bytes())
