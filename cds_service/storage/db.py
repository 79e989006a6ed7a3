"""Engine creation and schema migration for SQLite (one instance) and PostgreSQL (several).

SQLite gets a rollback journal (no memory-mapped `-shm`, see `make_engine`) and a busy timeout so
the background writer and the feedback endpoint wait for each other briefly; PostgreSQL gets a
short connect timeout, statement and lock timeouts (a stopped server must fail fast, not hang
the writer) and UTC sessions. Parameters are hidden from error messages, so a failed
INSERT never copies card text into a log.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("cds_service.storage")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Arbitrary constant: serializes `upgrade head` across instances starting together on PostgreSQL.
_MIGRATION_LOCK_KEY = 0x0CD5_0001

PG_CONNECT_TIMEOUT_SECONDS = 2  # libpq's smallest useful value
SQLITE_BUSY_TIMEOUT_MS = 5000
DEFAULT_STATEMENT_TIMEOUT_MS = 2000


def make_engine(
    url: str,
    *,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    journal_mode: str = "delete",
    pool_timeout: float | None = None,
) -> Engine:
    """An engine whose every statement is bounded: PostgreSQL sessions get `statement_timeout`
    and `lock_timeout`, SQLite connections a busy timeout, both `statement_timeout_ms`; taking a
    connection from the pool waits at most `pool_timeout` (default: the same time).

    SQLite runs in rollback-journal mode (`delete`) unless `journal_mode="wal"`: WAL maps the
    `-shm` file into memory, and when that file becomes unwritable (read-only or full disk,
    `chattr +i`) the next write to the mapping kills the process with SIGBUS. A rollback journal
    is plain file I/O, whose failures are `sqlite3.OperationalError`s that we catch.
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"hide_parameters": True, "future": True}
    wait = pool_timeout if pool_timeout is not None else max(statement_timeout_ms / 1000, 0.5)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # reported as an unavailable database when first used
                log.error("cannot create the directory of the SQLite database: %s", exc.strerror)
        # Audit batches are multi-row INSERTs whose SQL text depends on the row count; the driver
        # caches a prepared statement per text (128 by default), which grew the process by ~50 MB
        # under sustained load. A small cache keeps memory flat; re-preparing costs microseconds.
        busy_ms = statement_timeout_ms or 60_000  # 0 (no bound, for the CLI) would mean "never wait" here
        kwargs["connect_args"] = {"timeout": busy_ms / 1000, "cached_statements": 16}
        if parsed.database and parsed.database != ":memory:":
            kwargs["pool_timeout"] = wait
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas(busy_ms, journal_mode))
        return engine
    if parsed.get_backend_name() == "postgresql":
        timeout = int(statement_timeout_ms)
        # Server-side bounds on every statement and lock wait of every session (a frozen server
        # is bounded by the caller's DbGate instead: it cannot enforce its own timeouts). Options
        # already in the URL (e.g. `-csearch_path=…`) are kept: connect_args would replace them.
        options = f"-c statement_timeout={timeout} -c lock_timeout={timeout}"
        url_options = parsed.query.get("options")
        if url_options:
            options = " ".join([*(url_options if isinstance(url_options, tuple) else [url_options]), options])
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS, "options": options}
        kwargs["pool_pre_ping"] = True
        kwargs["pool_timeout"] = wait
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _postgres_session)
        return engine
    return create_engine(parsed, **kwargs)


def _sqlite_pragmas(busy_timeout_ms: int, journal_mode: str) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # mmap_size=0: the main file is read with read(), never mapped (a mapped file that
            # shrinks or cannot be written is SIGBUS too). Set before the journal mode.
            cursor.execute("PRAGMA mmap_size=0")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            mode = cursor.execute(f"PRAGMA journal_mode={'WAL' if journal_mode == 'wal' else 'DELETE'}").fetchone()
            if mode and str(mode[0]).lower() != journal_mode:
                log.warning("SQLite journal mode is %s, not %s", str(mode[0])[:10], journal_mode)
            cursor.execute("PRAGMA foreign_keys=ON")
        except Exception as exc:  # a read-only or full disk must not stop the service at connect
            log.warning("SQLite connection set-up incomplete: %s", type(exc).__name__)
        finally:
            cursor.close()

    return on_connect


def _postgres_session(dbapi_connection: Any, _record: Any) -> None:
    # Day buckets in the report are UTC days whatever the server's timezone.
    cursor = dbapi_connection.cursor()
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.close()
    dbapi_connection.commit()


def alembic_config() -> Config:
    from alembic.config import Config  # imported when migrating (the writer process starts without it)

    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def run_migrations(engine: Engine) -> None:
    """`alembic upgrade head` on this engine; safe when several instances start at once."""
    config = alembic_config()
    with _sqlite_file_lock(engine), engine.connect() as connection:
        is_postgres = connection.dialect.name == "postgresql"
        if is_postgres:
            # Migrations may take longer than a request's statement, and wait for another instance's.
            connection.execute(text("SET statement_timeout = 0"))
            connection.execute(text("SET lock_timeout = '60s'"))
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            connection.commit()
        try:
            from alembic import command

            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            if is_postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY})
                connection.execute(text("RESET statement_timeout"))  # back to the connect options
                connection.execute(text("RESET lock_timeout"))
                connection.commit()


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Workers starting at once on a fresh SQLite file take turns to migrate (two creating the same
    table at once left one worker without its audit trail). PostgreSQL uses an advisory lock."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    try:
        lock_file = open(f"{database}.migrate-lock", "a+b")  # noqa: SIM115 (closed below)
    except OSError:  # a read-only directory: migrating will fail and say so, the lock is not the news
        yield
        return
    with lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


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
