"""Issue 21, finding 1, measured where an EHR measures it: at the client. A real `cds-service serve`
on loopback, 200 (and 1,000) keep-alive connections posting typical order-select calls back to
back with 5 MB bodies mixed in, and a fresh-connection prober: every call is answered in time or
refused at once with 503 and Retry-After, and every refusal is counted in `cds_load_shed_total`.

The review saw clients wait p99 7.6-11.9 s at 200 connections (a fresh connection 15.6 s) while
the app measured 13 ms inside and shed nothing: the wait was before the app. Before this change
this probe measured p99 8.9 s (max 18 s) on the development machine.

The machine is shared (2 cores, other suites running): the bounds are the EHR's, not a benchmark's
(bench/ has the figures). Bounded: a few seconds of load, every call ends within its timeout.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.probe import ProbeResult, probe
from tests.support.processes import Served, clean_env, free_port, running

pytestmark = pytest.mark.ops

ROOT = Path(__file__).resolve().parents[2]

DEADLINE_SECONDS = 5.0  # an EHR gives up on a CDS service after a few seconds
SELECT = "/cds-services/muscle-spasm-order-select"


def _bodies() -> tuple[bytes, bytes]:
    from bench import generate

    typical = json.dumps(generate.build("typical")).encode()
    large = json.dumps(generate.build("large")).encode()
    return typical, large[:-1] + b" " * (5_000_000 - len(large)) + b"}"  # 5 MB, under the 5 MiB limit


@pytest.fixture(scope="module")
def bodies() -> tuple[bytes, bytes]:
    return _bodies()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, int]]:
    metrics_port = free_port()
    env = clean_env(
        CDS_STORAGE_ENABLED="false",
        CDS_LOG_LEVEL="WARNING",
        CDS_METRICS_PORT=str(metrics_port),
    )
    with running(env, tmp_path / "serve.log", "--dev") as server:
        yield server, metrics_port


def _shed_total(metrics_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    return sum(float(v) for v in re.findall(r"^cds_load_shed_total(?:\{[^}]*\})? (\S+)$", text, re.MULTILINE))


def _check(result: ProbeResult, shed_total: float, deadline: float = DEADLINE_SECONDS) -> None:
    summary = result.summary()
    statuses = {c.status for c in result.calls}
    assert statuses <= {200, 503}, summary  # no reset, no timeout, no 5xx but the refusal
    refused = result.of(status=503)
    assert all(c.retry_after == "1" for c in refused), "every refusal says when to come back"
    assert len(result.of(status=200)) >= 10, f"the service must go on answering what it can: {summary}"
    assert summary["p99_s"] <= deadline, summary
    assert summary["refused_p99_s"] is None or summary["refused_p99_s"] <= deadline, summary
    assert summary["max_s"] <= 2 * deadline, summary
    assert shed_total == len(refused), f"cds_load_shed_total {shed_total}, refusals seen {len(refused)}"
    print(summary)


def test_200_connections_with_5_mb_bodies_are_answered_or_refused_in_time(
    served: tuple[Served, int], bodies: tuple[bytes, bytes], tmp_path: Path
) -> None:
    server, metrics_port = served
    typical, large = bodies
    body = tmp_path / "typical.json"
    body.write_bytes(typical)
    # An EHR that just connected, measured from a process of its own (free of the load client's loop):
    # the review's fresh connection waited 15.6 s.
    fresh = subprocess.Popen(
        [sys.executable, "-m", "tests.support.probe", server.base + SELECT, "--body", str(body), "--fresh-only",
         "--seconds", "4"], cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    result = asyncio.run(
        probe(server.base + SELECT, typical, connections=200, seconds=4, large=large, large_connections=4,
              timeout=30)
    )  # fmt: skip
    _check(result, _shed_total(metrics_port) - _fresh_refusals(fresh))


def _fresh_refusals(fresh: subprocess.Popen[str]) -> int:
    """Checks the prober's calls (each answered or refused within the deadline) and returns how many it
    saw refused (they are in `cds_load_shed_total` too)."""
    calls = json.loads(fresh.communicate(timeout=60)[0])
    assert calls, "the fresh-connection prober made no call"
    for call in calls:
        assert call["status"] in (200, 503), call
        assert call["total_s"] <= DEADLINE_SECONDS, call
    return sum(1 for call in calls if call["status"] == 503)


@pytest.mark.slow
def test_1000_connections_are_answered_or_refused_in_time(
    served: tuple[Served, int], bodies: tuple[bytes, bytes]
) -> None:
    server, metrics_port = served
    typical, large = bodies
    result = asyncio.run(
        probe(server.base + SELECT, typical, connections=1000, seconds=4, large=large, large_connections=8,
              timeout=30)
    )  # fmt: skip
    # One Python client drives the thousand connections on the same two cores as the server: the
    # bound is twice the EHR's (before this change: p99 31.8 s, 29 calls with no answer in 30 s).
    _check(result, _shed_total(metrics_port), deadline=2 * DEADLINE_SECONDS)
