"""/health/live, /health/ready and what "required" means: the JWT replay store under the reject
policy, or the audit database when it has no spool; never the audit database with a spool."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.observability.readiness import Dependency, Readiness
from cds_service.settings import load_settings
from tests.support.auth import PUBLIC_BASE, app_clients_file

DOWN = "postgresql+psycopg://postgres@127.0.0.1:9/postgres"  # nothing listens there


def _settings(tmp_path: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "clients_file": app_clients_file(tmp_path, ["https://fhir.example.org/r4"]),
        "public_base_url": PUBLIC_BASE,
        "patient_hash_secret": "readiness-test-secret-0123456789",
        "audit_spool_dir": tmp_path / "spool",
        "database_url": f"sqlite:///{tmp_path}/audit.db",
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture(autouse=True)
def _no_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)


def test_live_and_ready_after_warm_up_and_health_as_before(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path)), base_url=PUBLIC_BASE) as app:
        assert app.get("/health/live").json() == {"status": "live"}
        ready = app.get("/health/ready")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready" and body["required"] == {"database": "up"} and body["warm_up_ms"] > 0
        assert app.get("/health").json()["status"] == "ok"
        assert app.app.state.recorder.stats()["written"] == 0  # warm-up calls are not audited


def test_the_replay_database_under_reject_is_required(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path, database_url=DOWN)), base_url=PUBLIC_BASE) as app:
        ready = app.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["required"] == {"database": "down"}
        assert app.get("/health/live").status_code == 200
        assert app.get("/health").status_code == 200  # unchanged: 200, degraded


def test_an_audit_outage_with_a_spool_is_not_a_readiness_failure(tmp_path: Path) -> None:
    settings = _settings(tmp_path, database_url=DOWN, replay_outage="memory")
    with TestClient(create_app(settings), base_url=PUBLIC_BASE) as app:
        assert app.get("/health/ready").status_code == 200
        assert app.get("/health").json()["status"] == "degraded"


def test_without_a_spool_the_audit_database_is_required(tmp_path: Path) -> None:
    settings = _settings(tmp_path, database_url=DOWN, replay_outage="memory", audit_spool_max_bytes=0)
    with TestClient(create_app(settings), base_url=PUBLIC_BASE) as app:
        ready = app.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["required"] == {"database": "down"}


def test_dev_mode_requires_nothing(tmp_path: Path) -> None:
    settings = load_settings(dev=True, database_url=DOWN, audit_spool_dir=tmp_path / "spool")
    with TestClient(create_app(settings)) as app:
        body = app.get("/health/ready").json()
        assert body["status"] == "ready" and "required" not in body  # no client JWTs: no replay store


def test_draining_answers_503_and_closes_connections(tmp_path: Path) -> None:
    with TestClient(create_app(load_settings(dev=True, storage_enabled=False))) as app:
        app.app.state.readiness.start_draining("test")
        ready = app.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        other = app.get("/cds-services")
        assert other.status_code == 200 and other.headers["connection"] == "close"


def test_a_dependency_that_comes_back_makes_the_instance_ready_again() -> None:
    state = {"up": False}

    async def probe() -> bool:
        return state["up"]

    async def scenario() -> list[bool]:
        readiness = Readiness([Dependency("database", "test", probe)])
        readiness.mark_ready(1.0)
        seen = []
        await readiness.settle()
        seen.append(readiness.is_ready())
        state["up"] = True
        await readiness.settle()
        seen.append(readiness.is_ready())
        readiness.start_draining()
        seen.append(readiness.is_ready())
        return seen

    assert asyncio.run(scenario()) == [False, True, False]
