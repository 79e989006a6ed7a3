"""Fixtures for the storage suite: the same tests against a real SQLite file and real PostgreSQL.

Each PostgreSQL test gets its own schema (via `search_path` in the URL), dropped afterwards, so
runs and parallel engineers' runs never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds_service.storage import CardRecord, HookCallRecord

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_SQLALCHEMY_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "test-secret-0123456789abcdef"


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL at 127.0.0.1:5432/test unreachable ({type(exc).__name__})"


def postgres_schema_url() -> Iterator[str]:
    import psycopg

    reason = _pg_available()
    if reason:
        pytest.skip(reason)
    schema = f"cds_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_SQLALCHEMY_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/audit.db"
    else:
        yield from postgres_schema_url()


def card(
    topic: str = "baclofen-titration",
    *,
    uuid_: str | None = None,
    suggestions: tuple[str, ...] = (),
    indicator: str = "warning",
    reasons: tuple[tuple[str, str], ...] = (),
) -> CardRecord:
    return CardRecord(
        uuid=uuid_ or str(uuid.uuid4()),
        topic=topic,
        indicator=indicator,
        summary=f"{topic} summary",
        suggestion_uuids=suggestions,
        override_reasons=reasons,
    )


def hook_call(
    *cards: CardRecord,
    service_id: str = "muscle-spasm-order-sign",
    patient_id: str | None = "pat1",
    at: datetime | None = None,
    outcome: str = "ok",
    latency_ms: float = 42.0,
) -> HookCallRecord:
    return HookCallRecord(
        hook_instance=str(uuid.uuid4()),
        service_id=service_id,
        hook=service_id.removeprefix("muscle-spasm-"),
        received_at=at or datetime.now(UTC),
        latency_ms=latency_ms,
        outcome=outcome,
        patient_id=patient_id,
        client="https://ehr.example.org",
        cards=tuple(cards),
    )
