"""JWT replay protection when its store fails or hangs (findings 2 and 7 of the hardening issue).

- A hung database (the whole PostgreSQL cluster SIGSTOPped) used to stall every authenticated
  call for up to 29 s: the `jti` check now answers within `CDS_DB_CALL_TIMEOUT_SECONDS`, and a
  circuit breaker answers the next calls at once until the database is back.
- While the store is down, the default policy (`CDS_REPLAY_OUTAGE=reject`) refuses tokens: it
  used to fall back to per-process memory silently, so a token used on instance A was accepted
  again on instance B (10 of 10). `memory` keeps that behaviour by choice.
- Redis (`CDS_REPLAY_STORE=redis`, `SET NX EX`) shares the cache between instances as well.
The faults use a cluster of the test's own (tests/throwaway_pg.py) and a redis-server of the
test's own, never the shared servers.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.settings import load_settings
from tests.support.auth import PUBLIC_BASE, app_clients_file, app_token
from tests.support.live_server import live_server
from tests.support.throwaway_pg import ThrowawayPostgres, throwaway_postgres, wait_until

DEAD_PG = "postgresql+psycopg://postgres@127.0.0.1:9/postgres"
CALL_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    yield from throwaway_postgres()


def _settings(directory: Path, **overrides: Any) -> Any:
    directory.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "clients_file": app_clients_file(directory, ["https://fhir.example.org/r4"]),
        "public_base_url": PUBLIC_BASE,
        "patient_hash_secret": "replay-outage-secret-0123456789",
        "db_call_timeout_seconds": CALL_TIMEOUT,
        "db_statement_timeout_ms": 500,
        "audit_spool_dir": directory / "spool",
    }
    values.update(overrides)
    return load_settings(**values)


def _discovery(base: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, float]:
    token = token or app_token("/cds-services")
    started = time.monotonic()
    response = httpx.get(f"{base}/cds-services", headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    return response.status_code, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize(("policy", "during"), [("reject", 503), ("memory", 200)])
def test_a_frozen_database_costs_each_call_at_most_the_call_timeout(
    cluster: ThrowawayPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str, during: int
) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    app = create_app(_settings(tmp_path, database_url=cluster.url, replay_outage=policy))
    with live_server(app) as base:
        assert [_discovery(base)[0] for _ in range(3)] == [200, 200, 200]
        cluster.freeze()
        try:
            results = [_discovery(base) for _ in range(6)]
        finally:
            cluster.thaw()
        assert [status for status, _ in results] == [during] * 6
        slowest = max(elapsed for _, elapsed in results)
        assert slowest < CALL_TIMEOUT + 1.0, f"a call took {slowest:.2f} s while the database was frozen"
        assert sum(elapsed for _, elapsed in results[1:]) < 1.0, "the breaker should answer later calls at once"
        assert wait_until(lambda: _discovery(base)[0] == 200, timeout=15), "no recovery after the thaw"


def _instance(directory: Path, **overrides: Any) -> TestClient:
    return TestClient(create_app(_settings(directory, **overrides)), base_url=PUBLIC_BASE)


def _get(client: TestClient, token: str) -> int:
    return client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code


def test_database_down_rejects_by_default_so_no_token_is_accepted_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with _instance(tmp_path / "a", database_url=DEAD_PG) as a, _instance(tmp_path / "b", database_url=DEAD_PG) as b:
        accepted_twice = 0
        for _ in range(10):
            token = app_token("/cds-services")
            if _get(a, token) == 200 and _get(b, token) == 200:
                accepted_twice += 1
        assert accepted_twice == 0
        # fail closed, not open; and 503 with Retry-After (issue 21): a 401 invalid_token would read
        # as a credentials problem on the EHR's side
        refused = a.get("/cds-services", headers={"Authorization": f"Bearer {app_token('/cds-services')}"})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5", refused.text
        assert "invalid_token" not in refused.headers.get("www-authenticate", "")
        assert "retry" in refused.json()["issue"][0]["diagnostics"]
    outage_lines = [r for r in caplog.records if "replay" in r.getMessage() and r.levelname == "ERROR"]
    assert 1 <= len(outage_lines) <= 2, "one log line per interval, not one per request"


def test_memory_policy_keeps_serving_and_refuses_replays_within_one_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with _instance(tmp_path, database_url=DEAD_PG, replay_outage="memory") as a:
        token = app_token("/cds-services")
        assert _get(a, token) == 200
        assert _get(a, token) == 401


# ---------------------------------------------------------------------------- Redis


def _redis_port(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own (it may be frozen), keeping nothing on disk."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: _redis_port(port), timeout=10), "redis-server did not start"
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(10)


def test_redis_store_refuses_a_token_replayed_on_another_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_redis: tuple[str, Any]
) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    url, _ = own_redis
    common = {"replay_store": "redis", "redis_url": url, "storage_enabled": False, "db_call_timeout_seconds": 3.0}
    with _instance(tmp_path / "a", **common) as a, _instance(tmp_path / "b", **common) as b:
        token = app_token("/cds-services")
        assert _get(a, token) == 200
        assert _get(b, token) == 401
        assert _get(b, app_token("/cds-services")) == 200


@pytest.mark.slow
def test_a_frozen_redis_costs_each_call_at_most_the_call_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_redis: tuple[str, Any]
) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    url, process = own_redis
    app = create_app(_settings(tmp_path, replay_store="redis", redis_url=url, storage_enabled=False))
    with live_server(app) as base:
        assert _discovery(base)[0] == 200
        process.send_signal(signal.SIGSTOP)
        try:
            results = [_discovery(base) for _ in range(4)]
        finally:
            process.send_signal(signal.SIGCONT)
        assert [status for status, _ in results] == [503] * 4
        assert max(elapsed for _, elapsed in results) < CALL_TIMEOUT + 1.0
        assert wait_until(lambda: _discovery(base)[0] == 200, timeout=15)


def test_redis_down_is_refused_quickly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with _instance(tmp_path, replay_store="redis", redis_url="redis://127.0.0.1:9/0", storage_enabled=False) as a:
        started = time.monotonic()
        assert _get(a, app_token("/cds-services")) == 503
        assert time.monotonic() - started < CALL_TIMEOUT + 1.0
