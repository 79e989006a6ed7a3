"""Several workers starting at once on a fresh SQLite file (uvicorn --workers 2 with the embedded
default): each migrates, none fails with "table already exists" and loses its audit trail."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from sqlalchemy import inspect

from cds_service.storage.db import make_engine, run_migrations


def _migrate(url: str, start: multiprocessing.synchronize.Event, errors: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    engine = make_engine(url)
    start.wait(10)
    try:
        run_migrations(engine)
    except Exception as exc:  # reported to the test
        errors.put(f"{type(exc).__name__}: {str(exc)[:200]}")
    finally:
        engine.dispose()


def test_workers_migrating_one_fresh_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    ctx = multiprocessing.get_context("spawn")
    start, errors = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_migrate, args=(url, start, errors)) for _ in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    tables = set(inspect(make_engine(url)).get_table_names())
    assert {"hook_call", "card_suppression", "alembic_version"} <= tables
