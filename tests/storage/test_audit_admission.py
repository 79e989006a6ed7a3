"""Audit back-pressure at admission (issue 21): while the audit writer is behind (its outstanding
rows at its back-pressure threshold), new hook calls are refused at the edge with 503 and
Retry-After, counted in `cds_load_shed_total{reason="audit_writer_behind"}`, instead of being
accepted and then made to wait for room on the event loop (which stalled every call of the process,
refusals included, for up to 10 s). A call that is answered has its audit row: none is lost.

The database is held by an exclusive SQLite lock (the writer process waits for it rather than
spool), so the writer confirms nothing until the test lets go.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cds_service.app import create_app
from cds_service.settings import load_settings
from cds_service.storage import schema
from cds_service.storage.writer_process import ProcessRecorder
from tests.support.fhir import draft, hook_request
from tests.support.metrics import ADMIN_TOKEN, scrape, value
from tests.support.storage import SECRET

SIGN = "/cds-services/muscle-spasm-order-sign"
THRESHOLD = 3


def _shed(client: TestClient, reason: str) -> float:
    return value(scrape(client), "cds_load_shed_total", reason=reason)


def _rows(recorder: Any) -> int:
    with recorder.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.hook_call)).scalar_one())


def test_while_the_audit_writer_is_behind_new_calls_are_refused_503_and_answered_calls_keep_their_rows(
    tmp_path: Path,
) -> None:
    database = tmp_path / "audit.db"
    settings = load_settings(
        dev=True,
        database_url=f"sqlite:///{database}",
        patient_hash_secret=SECRET,
        audit_spool_dir=tmp_path / "spool",
        db_statement_timeout_ms=30_000,  # the writer waits for the lock instead of spooling
        db_call_timeout_seconds=20.0,
        admin_token=ADMIN_TOKEN,
    )
    request = hook_request("order-sign", drafts=[draft("197381", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)])
    with TestClient(create_app(settings)) as client:
        recorder = client.app.state.recorder
        assert isinstance(recorder, ProcessRecorder)  # the writer `serve` runs
        assert recorder.retry_now() and recorder.flush(timeout=30)  # the writer process is up, nothing held
        recorder.backpressure_threshold = THRESHOLD  # 10,000 rows by default; the same rule at 3
        shed_before = _shed(client, "audit_writer_behind")
        lock = sqlite3.connect(database, timeout=30, check_same_thread=False)
        lock.execute("BEGIN EXCLUSIVE")  # the database stalls: the writer confirms nothing
        try:
            answers = [client.post(SIGN, json=request) for _ in range(THRESHOLD + 4)]
            statuses = [answer.status_code for answer in answers]
            refusals = [answer for answer in answers if answer.status_code == 503]
            assert statuses == [200] * THRESHOLD + [503] * 4, statuses
            assert all(answer.headers.get("retry-after") == "1" for answer in refusals)
            assert all(answer.json()["resourceType"] == "OperationOutcome" for answer in refusals)
            assert _shed(client, "audit_writer_behind") - shed_before == 4
            assert recorder.backpressure_waits == 0  # no call was made to wait on the event loop
        finally:
            lock.rollback()
            lock.close()
        assert recorder.flush(timeout=60)
        stats = recorder.stats()
        assert _rows(recorder) == THRESHOLD and (stats["lost"], stats["spooled"]) == (0, 0), stats
        assert client.post(SIGN, json=request).status_code == 200  # caught up: admitted again
