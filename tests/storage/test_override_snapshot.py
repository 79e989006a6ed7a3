"""The override snapshot's background refresh on a busy database (found by the benchmark: under a
steady audit load a refresh gave up on SQLite's lock after the 2 s statement timeout, and its failure
tripped the breaker of the request gate, through which the JWT replay check goes; the look-ups that
followed, each bounded at 0.25 s, tripped it again and again)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
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
from tests.support.storage import SECRET

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


def _hold_write_lock(path: str, seconds: float, locked: threading.Event) -> None:
    """Another writer (a second worker's audit commit) holding SQLite's lock for `seconds`."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_a_refresh_waits_out_a_write_lock_longer_than_the_statement_timeout(recorder: SqlRecorder) -> None:
    key = uuid.uuid4().hex * 2
    _store_override(recorder, key)
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(recorder.engine.url.database, 1.0, locked))
    holder.start()
    assert locked.wait(5)
    started = time.monotonic()
    assert asyncio.run(recorder.refresh_suppressions()) is True
    waited = time.monotonic() - started
    holder.join()
    assert waited >= 0.5  # it did wait for the lock, beyond the 0.3 s every other statement gets
    assert key in recorder._suppressions
    with recorder.engine.connect() as conn:  # the pooled connection went back with the usual busy timeout
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == STATEMENT_MS


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
    assert not recorder.gate.breaker.is_open
    assert accepted is True  # a fresh jti, checked and stored through the request gate
