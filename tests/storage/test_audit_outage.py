"""The audit trail survives database outages (finding 10 of the hardening issue), and SQLite
file trouble never kills the process (finding 1).

Before: 1,026 of 3,010 rows lost in a 20 s PostgreSQL stop, 100 % with an unwritable SQLite
path, `/health` saying "ok" throughout and one ERROR line per request. Now rows wait in a
bounded on-disk spool (`CDS_AUDIT_SPOOL_DIR`), are written exactly once when the database is
back (keyed per record), `/health` says "degraded" with the counts, and errors are logged at
most once per interval. The PostgreSQL outage is a throwaway cluster of the test's own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cds_service.app import create_app
from cds_service.settings import load_settings
from cds_service.storage import schema
from cds_service.storage.recorder import SqlRecorder
from tests.support.fhir import draft, hook_request, patient
from tests.support.storage import SECRET, card, hook_call
from tests.support.throwaway_pg import ThrowawayPostgres, throwaway_postgres, wait_until

SIGN = "muscle-spasm-order-sign"


def _settings(database_url: str, spool: Path, **overrides: Any) -> Any:
    return load_settings(
        dev=True,
        database_url=database_url,
        patient_hash_secret=SECRET,
        audit_spool_dir=spool,
        db_call_timeout_seconds=1.0,
        **overrides,
    )


def _call(client: TestClient, age_95: bool = False) -> list[dict[str, Any]]:
    # At 95 a cyclobenzaprine start gets the Beers card, whose summary names the age.
    order = draft("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet", dose=10, frequency=3)
    request = hook_request(
        "order-sign",
        drafts=[order if age_95 else draft("197381", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)],
        patient_resource=patient(birth_date="1930-01-01") if age_95 else None,
    )
    response = client.post(f"/cds-services/{SIGN}", json=request)
    assert response.status_code == 200, response.text
    return response.json()["cards"]


def _rows(recorder: Any) -> int:
    with recorder.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.hook_call)).scalar_one())


def test_unwritable_sqlite_path_spools_then_replays_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    blocker = tmp_path / "db"
    blocker.write_text("a file where the database directory should be")
    caplog.set_level(logging.WARNING, logger="cds_service.storage")
    with TestClient(create_app(_settings(f"sqlite:///{blocker}/audit.db", tmp_path / "spool"))) as client:
        for _ in range(20):
            _call(client)
        recorder = client.app.state.recorder
        assert recorder.flush(timeout=20)
        health = client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "degraded", body
        assert body["audit"]["spooled"] == 20 and body["audit"]["lost"] == 0, body
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert 1 <= len(errors) <= 3, [r.getMessage() for r in errors]

        blocker.unlink()  # the disk is back
        blocker.mkdir()
        recorder.retry_now()
        assert wait_until(lambda: client.get("/health").json()["status"] == "ok", timeout=20)
        assert _rows(recorder) == 20
        recorder.retry_now()  # a second replay finds nothing to add
        _call(client)
        assert recorder.flush(timeout=20)
        assert _rows(recorder) == 21
        assert client.get("/health").json()["audit"]["spooled"] == 0


def test_replaying_the_same_spool_twice_writes_each_row_once(tmp_path: Path) -> None:
    """A crash between the database commit and clearing the spool replays it again: no doubles."""
    url = f"sqlite:///{tmp_path}/a.db"
    recorder = SqlRecorder(url, SECRET, settings=_settings(url, tmp_path / "spool"))
    asyncio.run(recorder.start())
    rows = [recorder.spool_row(hook_call(card(), card("sedation-risk"))) for _ in range(5)]
    recorder.spool.append(rows)
    copy = recorder.spool.files()[0].read_bytes()
    recorder.retry_now()
    assert _rows(recorder) == 5
    recorder.spool.files()[0].write_bytes(copy) if recorder.spool.files() else (recorder.spool.path.write_bytes(copy))
    recorder.spool.reload()
    recorder.retry_now()
    assert _rows(recorder) == 5
    with recorder.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.card_shown)).scalar_one() == 10
    asyncio.run(recorder.aclose())


def test_the_spool_is_bounded_and_counts_what_it_could_not_keep(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:9/postgres"
    settings = _settings(url, tmp_path / "spool", audit_spool_max_bytes=4096)
    recorder = SqlRecorder(url, SECRET, settings=settings)
    asyncio.run(recorder.start())
    for _ in range(40):
        recorder.record_hook_call(hook_call(card()))
    assert recorder.flush(timeout=20)
    stats = recorder.stats()
    assert stats["spooled"] > 0 and stats["lost"] > 0 and stats["spooled"] + stats["lost"] == 40
    assert sum(p.stat().st_size for p in recorder.spool.files()) <= 4096
    asyncio.run(recorder.aclose())


def test_ages_over_89_are_not_stored_in_card_summaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 11: "Age 95" is an identifier under HIPAA Safe Harbor; the audit keeps "Age 90+"."""
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    url = f"sqlite:///{tmp_path}/a.db"
    with TestClient(create_app(_settings(url, tmp_path / "spool"))) as client:
        cards = _call(client, age_95=True)
        assert any("age 9" in c["summary"] for c in cards), [c["summary"] for c in cards]  # the clinician sees it
        recorder = client.app.state.recorder
        assert recorder.flush()
        with recorder.engine.connect() as conn:
            summaries = [row[0] for row in conn.execute(select(schema.card_shown.c.summary))]
    assert summaries and not any(word in s for s in summaries for word in ("age 95", "age 96", "age 97"))
    assert any("age 90+" in s for s in summaries), summaries


@pytest.fixture(scope="module")
def cluster() -> Any:
    yield from throwaway_postgres()


@pytest.mark.slow
def test_postgres_stop_loses_no_audit_row(
    cluster: ThrowawayPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    caplog.set_level(logging.WARNING, logger="cds_service.storage")
    with TestClient(create_app(_settings(cluster.url, tmp_path / "spool"))) as client:
        recorder = client.app.state.recorder
        for _ in range(5):
            _call(client)
        assert recorder.flush(timeout=20) and recorder.written == 5
        cluster.stop()
        for _ in range(30):
            _call(client)
        assert recorder.flush(timeout=30)
        body = client.get("/health").json()
        assert body["status"] == "degraded" and body["audit"]["spooled"] == 30 and body["audit"]["lost"] == 0, body
        cluster.start()
        recorder.retry_now()
        healthy = wait_until(lambda: client.get("/health").json()["status"] == "ok", timeout=30)
        assert healthy, client.get("/health").text
        assert _rows(recorder) == 35
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) <= 3, [r.getMessage() for r in errors]


# ---------------------------------------------------------------------------- finding 1: SIGBUS

_WRITER = textwrap.dedent(
    """
    import asyncio, sys, time, uuid
    from datetime import UTC, datetime, timedelta
    from cds_service.settings import load_settings
    from cds_service.storage.recorder import SqlRecorder
    from tests.support.storage import card, hook_call
    url, spool, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    settings = load_settings(database_url=url, audit_spool_dir=spool, db_call_timeout_seconds=1.0)
    recorder = SqlRecorder(url, "secret-0123456789abcdef", settings=settings)

    async def main():
        await recorder.start()
        stop = time.monotonic() + seconds
        refused = 0
        while time.monotonic() < stop:
            for _ in range(20):
                recorder.record_hook_call(hook_call(card()))
            try:
                expires = datetime.now(UTC) + timedelta(minutes=5)
                await recorder.replay_cache.check_and_store(str(uuid.uuid4()), "iss", expires)
            except Exception:
                refused += 1
            await asyncio.sleep(0.01)
        recorder.retry_now()
        await asyncio.to_thread(recorder.flush, 20)
        print("stats", recorder.stats(), "refused", refused, flush=True)
        await recorder.aclose()

    asyncio.run(main())
    """
)


def _chattr(flag: str, path: Path) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.mark.slow
def test_an_immutable_sqlite_shm_or_database_file_does_not_kill_the_process(tmp_path: Path) -> None:
    """`chattr +i cds_service.db-shm` under load used to end the process with SIGBUS (exit 135)."""
    if shutil.which("chattr") is None or os.geteuid() != 0:
        pytest.skip("needs chattr and root (immutable files)")
    database = tmp_path / "cds_service.db"
    probe = tmp_path / "probe"
    probe.write_text("x")
    if not _chattr("+i", probe):
        pytest.skip("this filesystem does not support the immutable attribute")
    _chattr("-i", probe)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, f"sqlite:///{database}", str(tmp_path / "spool"), "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    frozen: list[Path] = []
    try:
        assert wait_until(lambda: database.exists() and database.stat().st_size > 0, timeout=10)
        time.sleep(0.5)
        shm = Path(f"{database}-shm")
        if not shm.exists():
            shm.write_bytes(b"")  # the file an operator (or a full disk) would make unwritable
        for path in (shm, database):
            if _chattr("+i", path):
                frozen.append(path)
            time.sleep(0.8)
        time.sleep(0.5)
    finally:
        for path in frozen:
            _chattr("-i", path)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, f"exit {child.returncode}: {err[-2000:]}"
    stats = json.loads(out.split("stats ", 1)[1].split(" refused")[0].replace("'", '"'))
    assert stats["lost"] == 0 and stats["spooled"] == 0, stats
