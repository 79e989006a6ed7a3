"""The SQL recorder (SQLite or PostgreSQL): audit rows written off the request path, feedback checked
against them, overrides that hold cards back, retention.

Split along its seams: `audit_writer` (queue, batches, spool, replay), `sql_writes` (the statements),
`overrides` (the override snapshot), `feedback_store` (feedback), and `writer_process` (the same
writer in a process of its own, the default when serving).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, text

from cds_service.storage.audit_writer import (
    DEFAULT_QUEUE_SIZE,
    MIGRATION_TIMEOUT_SECONDS,
    RETRY_INTERVAL_SECONDS,
    AuditWriter,
)
from cds_service.storage.db import DEFAULT_STATEMENT_TIMEOUT_MS, make_engine, run_migrations
from cds_service.storage.feedback_store import FeedbackStore
from cds_service.storage.gate import DbGate
from cds_service.storage.overrides import OverrideSnapshot
from cds_service.storage.replay import SqlReplayCache
from cds_service.storage.spool import AuditSpool, default_spool_dir
from cds_service.storage.sql_writes import purge_rows

__all__ = ["SqlRecorder", "purge_rows"]

log = logging.getLogger("cds_service.storage")


class SqlRecorder(AuditWriter, OverrideSnapshot, FeedbackStore):
    """Audit trail and feedback store on SQLAlchemy (SQLite or PostgreSQL); the audit writer runs on a
    thread of this process (`ProcessRecorder`: in a process of its own)."""

    def __init__(
        self,
        database_url: str,
        patient_hash_secret: str,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        settings: object | None = None,
    ) -> None:
        self.database_url = database_url
        self.settings = settings
        self._secret = patient_hash_secret
        statement_ms = int(getattr(settings, "db_statement_timeout_ms", DEFAULT_STATEMENT_TIMEOUT_MS))
        call_timeout = float(getattr(settings, "db_call_timeout_seconds", 2.5))
        self.engine: Engine = make_engine(
            database_url,
            statement_timeout_ms=statement_ms,
            journal_mode=str(getattr(settings, "sqlite_journal_mode", "delete")),
        )
        # Database calls made while a client waits (replay check, feedback, analytics) go
        # through this gate: bounded threads, an overall timeout, a breaker. The writer has its
        # own, so that neither can starve the other of threads while the database hangs.
        self.gate = DbGate("request", call_timeout)
        self.writer_gate = DbGate("audit", max(5.0, 2 * call_timeout), threads=2, cooldown=RETRY_INTERVAL_SECONDS)
        self.spool: AuditSpool | None = None
        spool_bytes = int(getattr(settings, "audit_spool_max_bytes", 0)) if settings is not None else 0
        if spool_bytes > 0:
            directory = getattr(settings, "audit_spool_dir", None) or default_spool_dir()
            self.spool = AuditSpool(Path(directory), database_url, spool_bytes)
        self._init_writer(queue_size)
        self.schema_ready = False
        self._schema_lock = threading.Lock()  # the writer and the readiness probe may both migrate
        self._thread: threading.Thread | None = None
        # The authenticator picks this up (app.state.recorder.replay_cache) for JWT jti checks.
        self.replay_cache = SqlReplayCache(self.engine, self.gate)
        # Overrides that hold cards back (issue 12), see `overrides`.
        self._init_overrides(settings)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Migrate the schema and start the writer; a database outage here does not stop the service."""
        if self.spool is not None:
            try:
                await asyncio.to_thread(self.spool.adopt_orphans)
            except OSError as exc:
                log.error("audit spool directory unusable: %s", exc.strerror)
        try:
            await self.writer_gate.call(self._ensure_schema, timeout=MIGRATION_TIMEOUT_SECONDS)
        except Exception as exc:
            self._failed(exc, "schema not migrated")
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="cds-audit-writer", daemon=True)
            self._thread.start()
        await self.refresh_suppressions()
        if self._suppression_task is None:
            self._suppression_task = asyncio.create_task(self._refresh_suppressions_forever())

    async def aclose(self, timeout: float = 5.0) -> None:
        """Write what is queued (up to `timeout`; the rest stays spooled), stop the writer, close."""
        if self._suppression_task is not None:
            self._suppression_task.cancel()
            self._suppression_task = None
        if self._thread is not None:
            await asyncio.to_thread(self._stop_writer, timeout)
            self._thread = None
        self.gate.close()
        self.refresh_gate.close()
        self.lookup_gate.close()
        self.writer_gate.close()
        self.engine.dispose()

    def _ensure_schema(self) -> bool:
        """Migrate if not done yet (raises on failure; callers run it through a gate)."""
        if not self.schema_ready:
            with self._schema_lock:
                if not self.schema_ready:
                    run_migrations(self.engine)
                    self.schema_ready = True
        return True

    async def ping(self) -> bool:
        """Readiness probe: the database answers a `SELECT 1` within the request gate's timeout (and,
        if it was down at start, is migrated now). Never raises."""
        timeout = self.gate.timeout if self.schema_ready else MIGRATION_TIMEOUT_SECONDS
        try:
            await self.gate.call(self._ping_sync, timeout=timeout)
        except Exception:
            return False
        return True

    def _ping_sync(self) -> None:
        self._ensure_schema()
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # ------------------------------------------------------------------ retention

    def purge(self, retention_days: int, now: datetime | None = None) -> dict[str, int]:
        return purge_rows(self.engine, retention_days, now)
