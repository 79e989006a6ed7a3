"""The audit writer in a process of its own (issue 22): what it guarantees an auditor.

Every answered hook call leaves its row, also when the server is stopped with SIGTERM right after
answering (sent to the whole process group, writer included), while the database is unwritable
(the writer spools, then replays once), and when calls come faster than the writer can write
(the calls wait, counted; nothing is dropped). If the writer process dies, the server says how
many rows it cannot vouch for and keeps auditing from its own thread.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cds_service.observability.metrics import AUDIT_BACKPRESSURE, StateSync
from cds_service.settings import load_settings
from cds_service.storage import create_recorder, schema
from cds_service.storage.writer_process import ProcessRecorder, writer_pid
from tests.support.fhir import draft, hook_request
from tests.support.storage import SECRET, card, database_url, hook_call  # noqa: F401
from tests.support.throwaway_pg import wait_until

ROOT = Path(__file__).resolve().parents[2]
SIGN = "muscle-spasm-order-sign"


def _rows(recorder: Any) -> int:
    with recorder.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.hook_call)).scalar_one())


def _recorder(url: str, tmp_path: Path, **overrides: Any) -> ProcessRecorder:
    settings = load_settings(
        dev=True, database_url=url, patient_hash_secret=SECRET, audit_spool_dir=tmp_path / "spool", **overrides
    )
    recorder = create_recorder(settings)
    assert isinstance(recorder, ProcessRecorder)  # the default when serving
    return recorder


@pytest.fixture
def recorder(database_url: str, tmp_path: Path) -> Iterator[ProcessRecorder]:  # noqa: F811
    rec = _recorder(database_url, tmp_path)
    asyncio.run(rec.start())
    yield rec
    asyncio.run(rec.aclose())


def test_rows_are_written_by_another_process_with_their_cards(recorder: ProcessRecorder) -> None:
    pid = writer_pid(recorder)
    assert pid is not None and pid != os.getpid()
    for _ in range(30):
        recorder.record_hook_call(hook_call(card(), card("sedation-risk")))
    assert recorder.flush(timeout=30)
    assert _rows(recorder) == 30 and recorder.stats()["written"] == 30 and recorder.stats()["lost"] == 0
    with recorder.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.card_shown)).scalar_one() == 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_sigterm_to_the_server_and_its_writer_loses_no_answered_call(tmp_path: Path) -> None:
    """A real uvicorn server; SIGTERM to its whole process group right after the last answer."""
    database = tmp_path / "audit.db"
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CDS_DEV": "true",
        "CDS_LOG_LEVEL": "WARNING",
        "CDS_DATABASE_URL": f"sqlite:///{database}",
        "CDS_AUDIT_SPOOL_DIR": str(tmp_path / "spool"),
        "CDS_PATIENT_HASH_SECRET": SECRET,
    }
    env.pop("CDS_CONFIG_FILE", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "cds_service.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env, cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _ready(base), timeout=90), "the server did not start"
        body = hook_request("order-sign", drafts=[draft("197381", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)])
        answered = 0
        with httpx.Client(timeout=30) as client:
            threads_answered: list[int] = []

            def burst() -> None:
                for _ in range(20):
                    if client.post(f"{base}/cds-services/{SIGN}", json=body).status_code == 200:
                        threads_answered.append(1)

            workers = [threading.Thread(target=burst) for _ in range(3)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(120)
            answered = len(threads_answered)
        os.killpg(server.pid, signal.SIGTERM)  # the server and the writer process alike
        assert server.wait(60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert answered == 60
    with sqlite3.connect(database) as conn:
        written = conn.execute("SELECT count(*) FROM hook_call").fetchone()[0]
    spooled = sum(
        len(p.read_bytes().splitlines()) for p in (tmp_path / "spool").glob("*.jsonl")
    ) if (tmp_path / "spool").is_dir() else 0  # fmt: skip
    assert (written, spooled) == (60, 0)


def _ready(base: str) -> bool:
    try:
        return httpx.get(base + "/health/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_an_unwritable_database_spools_in_the_writer_and_replays_once(tmp_path: Path) -> None:
    blocker = tmp_path / "db"
    blocker.write_text("a file where the database directory should be")
    rec = _recorder(f"sqlite:///{blocker}/audit.db", tmp_path)
    asyncio.run(rec.start())
    try:
        for _ in range(25):
            rec.record_hook_call(hook_call(card()))
        assert rec.flush(timeout=30)
        stats = rec.stats()
        assert (stats["spooled"], stats["lost"], stats["database"]) == (25, 0, "down"), stats
        assert rec.degraded()
        blocker.unlink()  # the disk is back
        blocker.mkdir()
        assert rec.retry_now()
        assert wait_until(lambda: rec.stats()["spooled"] == 0, timeout=30), rec.stats()
        assert _rows(rec) == 25
        assert rec.retry_now()  # a second replay finds nothing to add
        assert _rows(rec) == 25 and rec.stats()["lost"] == 0
    finally:
        asyncio.run(rec.aclose())


def test_calls_faster_than_the_writer_wait_and_are_counted_never_dropped(tmp_path: Path) -> None:
    """The database is locked for a second (the writer can write nothing), while calls keep coming
    at more than twice the rate the queue can absorb: they wait for room, nothing is lost."""
    database = tmp_path / "audit.db"
    settings = load_settings(
        dev=True,
        database_url=f"sqlite:///{database}",
        patient_hash_secret=SECRET,
        audit_spool_dir=tmp_path / "spool",
        db_statement_timeout_ms=20_000,  # the writer waits for the lock instead of spooling
        db_call_timeout_seconds=15.0,
    )
    rec = ProcessRecorder(settings.database_url, SECRET, queue_size=40, settings=settings)
    asyncio.run(rec.start())
    sync = StateSync(rec, None)
    before = AUDIT_BACKPRESSURE._value.get()
    try:
        assert rec.retry_now()  # the writer process is up
        lock = sqlite3.connect(database, timeout=30, check_same_thread=False)
        lock.execute("BEGIN EXCLUSIVE")
        releaser = threading.Timer(1.0, lambda: (lock.rollback(), lock.close()))
        releaser.start()
        started = time.monotonic()
        for _ in range(200):  # 40 fit; the rest wait for the writer
            rec.record_hook_call(hook_call(card()))
        waited = time.monotonic() - started
        releaser.join()
        assert rec.flush(timeout=60)
        stats = rec.stats()
        assert (stats["written"], stats["lost"], stats["spooled"]) == (200, 0, 0), stats
        assert _rows(rec) == 200
        assert rec.backpressure_waits > 0 and rec.backpressure_seconds > 0
        assert waited >= 0.5  # the calls were held back while the database was locked
        sync()
        assert AUDIT_BACKPRESSURE._value.get() - before == rec.backpressure_waits
    finally:
        asyncio.run(rec.aclose())


def test_a_writer_process_that_dies_is_replaced_by_the_thread_and_its_unconfirmed_rows_are_counted(
    recorder: ProcessRecorder,
) -> None:
    recorder.record_hook_call(hook_call(card()))
    assert recorder.flush(timeout=30) and _rows(recorder) == 1
    pid = writer_pid(recorder)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: recorder._fallback, timeout=10)
    for _ in range(5):
        recorder.record_hook_call(hook_call(card()))
    assert recorder.flush(timeout=30)
    assert _rows(recorder) == 6 and recorder.stats()["lost"] == 0
