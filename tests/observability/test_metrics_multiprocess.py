"""`cds-service serve --workers 2` with CDS_METRICS_PORT: the supervisor serves /metrics on its own
bind without authentication, summing both workers (prometheus_client's multiprocess mode), and the
multiprocess directory is emptied at start (files of an earlier start must not add to the counts)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.metrics import value
from tests.support.processes import SIGN_PATH, clean_env, free_port, running, sign_body

pytestmark = pytest.mark.ops


def test_two_workers_are_summed_on_the_metrics_port(tmp_path: Path) -> None:
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    (multiproc / "counter_999999.db").write_bytes(b"stale file of an earlier start")
    metrics_port = free_port()
    env = clean_env(
        CDS_DATABASE_URL=f"sqlite:///{tmp_path}/audit.db",
        CDS_AUDIT_SPOOL_DIR=str(tmp_path / "spool"),
        CDS_METRICS_PORT=str(metrics_port),
        CDS_LOG_LEVEL="WARNING",
        CDS_LARGE_REQUEST_PROCESSES="0",
        CDS_MAX_QUEUE_DELAY_MS="10000",  # shedding has its own tests; a busy shared machine must not 503 here
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    with running(env, tmp_path / "serve.log", "--dev", "--workers", "2") as served:
        assert not (multiproc / "counter_999999.db").exists()
        calls = 24
        with httpx.Client(base_url=served.base, timeout=30) as client:
            for _ in range(calls):  # a fresh connection each: both workers take some
                response = client.post(
                    SIGN_PATH, content=sign_body(), headers={"Content-Type": "application/json", "Connection": "close"}
                )
                assert response.status_code == 200
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        deadline = time.monotonic() + 60
        while True:  # a worker still warming up (a slow CI machine) answers no call and reports not ready
            text = httpx.get(metrics_url, timeout=5).text
            settled = value(text, "cds_hook_calls_total", status="200") >= calls and value(text, "cds_ready") == 1
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert value(text, "cds_hook_calls_total", status="200") == calls
        assert value(text, "cds_hook_call_duration_seconds_count") == calls
        workers = {labels for (name, labels) in _names(text) if name == "cds_process_resident_memory_bytes"}
        assert len(workers) == 2, workers  # one series per worker (pid label)
        assert value(text, "cds_ready") == 1
        assert httpx.get(served.base + "/metrics", timeout=5).status_code == 404  # no admin token: port only


def _names(text: str) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    from tests.support.metrics import samples

    return set(samples(text))
