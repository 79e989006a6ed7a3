"""The override snapshot's background refresh on a busy database (found by the benchmark's soak).

On SQLite a read from another thread of the same process contends with the audit writer's commits
(rollback journal). A refresh that gave up after the 2 s statement timeout tripped the request gate's
breaker, through which the JWT replay check goes, and the 0.25 s look-ups that followed kept tripping
it (throughput fell by a quarter, p99 doubled); a refresh that waited longer for the lock slowed the
audit writer below the call rate until its queue was full. So the refresh runs on the writer's turn,
between two batches, and override reads have gates and breakers of their own.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from cds_service.settings import load_settings
from cds_service.storage import schema
from cds_service.storage.recorder import SqlRecorder
from tests.support.storage import SECRET, card, hook_call

STATEMENT_MS = 300


@pytest.fixture
def recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlRecorder]:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    settings = load_settings(
        dev=True,
        database_url=f"sqlite:///{tmp_path}/audit.db",
        db_statement_timeout_ms=STATEMENT_MS,
        suppression_refresh_seconds=300,  # refreshed by hand below
    )
    rec = SqlRecorder(settings.database_url, SECRET, settings=settings)
    asyncio.run(rec.start())
    yield rec
    asyncio.run(rec.aclose())


def _store_override(rec: SqlRecorder, key: str) -> None:
    now = datetime.now(UTC)
    with rec.engine.begin() as conn:
        conn.execute(
            schema.card_suppression.insert().values(
                key=key, client=None, topic=None, created_at=now, expires_at=now + timedelta(days=1)
            )
        )


def test_the_refresh_runs_between_audit_batches_never_during_one(
    recorder: SqlRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = uuid.uuid4().hex * 2
    _store_override(recorder, key)
    spans: list[tuple[str, float, float]] = []
    write_rows, refresh = recorder._write_rows, recorder._refresh_suppressions_sync

    def slow_write(*args: Any) -> Any:
        started = time.monotonic()
        time.sleep(0.3)  # a commit that takes a while
        try:
            return write_rows(*args)
        finally:
            spans.append(("write", started, time.monotonic()))

    def timed_refresh(*args: Any) -> None:
        started = time.monotonic()
        try:
            refresh(*args)
        finally:
            spans.append(("refresh", started, time.monotonic()))

    monkeypatch.setattr(recorder, "_write_rows", slow_write)
    monkeypatch.setattr(recorder, "_refresh_suppressions_sync", timed_refresh)
    for _ in range(3):
        recorder.record_hook_call(hook_call(card()))
    time.sleep(0.05)  # the writer has taken the first batch
    assert asyncio.run(recorder.refresh_suppressions()) is True
    for _ in range(3):
        recorder.record_hook_call(hook_call(card()))
    assert recorder.flush()
    assert key in recorder._suppressions
    writes = [(a, b) for kind, a, b in spans if kind == "write"]
    (refresh_span,) = [(a, b) for kind, a, b in spans if kind == "refresh"]
    assert writes and all(b <= refresh_span[0] or a >= refresh_span[1] for a, b in writes)
    assert recorder.stats()["written"] == 6 and recorder.stats()["lost"] == 0


def test_failed_refreshes_and_look_ups_leave_the_request_gate_closed(
    recorder: SqlRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replay check keeps working while the override reads fail; cards are shown meanwhile."""

    def locked(*_: Any) -> None:
        raise OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(recorder, "_refresh_suppressions_sync", locked)
    monkeypatch.setattr(recorder, "_suppressed_sync", locked)
    recorder._suppression_loaded_at = None  # stale: the look-up asks the database

    async def scenario() -> tuple[bool, set[str], bool]:
        refreshed = await recorder.refresh_suppressions()
        held = await recorder.suppressed_keys(["a" * 64])
        expires = datetime.now(UTC) + timedelta(minutes=5)
        accepted = await recorder.replay_cache.check_and_store(uuid.uuid4().hex, "https://ehr.example.org", expires)
        return refreshed, held, accepted

    refreshed, held, accepted = asyncio.run(scenario())
    assert refreshed is False and held == set()  # failed, and failed open
    assert recorder.refresh_gate.breaker.is_open or recorder.lookup_gate.breaker.is_open
    assert not recorder.gate.breaker.is_open and not recorder.writer_gate.breaker.is_open
    assert accepted is True  # a fresh jti, checked and stored through the request gate
