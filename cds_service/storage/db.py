"""Engine creation and schema migration for SQLite (one instance) and PostgreSQL (several).

SQLite gets WAL and a busy timeout so the background writer and the feedback endpoint do not
lock each other out; PostgreSQL gets a short connect timeout (a stopped server must fail fast,
not hang the writer) and UTC sessions. Parameters are hidden from error messages, so a failed
INSERT never copies card text into a log.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

log = logging.getLogger("cds_service.storage")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Arbitrary constant: serializes `upgrade head` across instances starting together on PostgreSQL.
_MIGRATION_LOCK_KEY = 0x0CD5_0001

PG_CONNECT_TIMEOUT_SECONDS = 3
SQLITE_BUSY_TIMEOUT_MS = 5000


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"hide_parameters": True, "future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # reported as an unavailable database when first used
                log.error("cannot create the directory of the SQLite database: %s", exc.strerror)
        # Audit batches are multi-row INSERTs whose SQL text depends on the row count; the driver
        # caches a prepared statement per text (128 by default), which grew the process by ~50 MB
        # under sustained load. A small cache keeps memory flat; re-preparing costs microseconds.
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "cached_statements": 16}
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS}
        kwargs["pool_pre_ping"] = True
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _postgres_session)
        return engine
    return create_engine(parsed, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _postgres_session(dbapi_connection: Any, _record: Any) -> None:
    # Day buckets in the report are UTC days whatever the server's timezone.
    cursor = dbapi_connection.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.close()
    dbapi_connection.commit()


def alembic_config() -> Config:
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def run_migrations(engine: Engine) -> None:
    """`alembic upgrade head` on this engine; safe when several instances start at once."""
    config = alembic_config()
    with engine.connect() as connection:
        is_postgres = connection.dialect.name == "postgresql"
        if is_postgres:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            if is_postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY})
                connection.commit()


def utc(value: datetime) -> datetime:
    """Aware UTC datetime (SQLite hands back naive values, which we always wrote in UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def describe_db_error(exc: BaseException) -> str:
    """A log-safe description of a database failure: class names and the driver's first line."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return type(exc).__name__
    first_line = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(exc).__name__}/{type(orig).__name__}: {first_line[:200]}"
