"""The SQL recorder: audit rows written by a background thread, feedback checked against them.

`record_hook_call` only appends to a bounded in-memory queue, so a hook call never waits for
the database. A writer thread drains the queue in batches. When the database is slow, stopped,
hung or unreachable, the batch goes to a bounded on-disk spool (`storage.spool`) instead, and
the writer replays the spool when the database answers again, each record exactly once (keyed
by `record_key`). Only what neither the database nor the spool can take is lost: counted,
shown by `/health`, and logged at most once per interval (without patient data).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Collection, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, String, Table, cast, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from cds_service.auth.outage import ThrottledLog
from cds_service.storage import schema
from cds_service.storage.db import DEFAULT_STATEMENT_TIMEOUT_MS, describe_db_error, make_engine, run_migrations, utc
from cds_service.storage.gate import DbGate
from cds_service.storage.records import (
    FeedbackEntry,
    FeedbackProblem,
    FeedbackResult,
    HookCallRecord,
    StorageUnavailable,
    patient_pseudonym,
    scrub_ages,
)
from cds_service.storage.repeats import RepeatSnapshot
from cds_service.storage.replay import SqlReplayCache
from cds_service.storage.spool import AuditSpool, default_spool_dir

log = logging.getLogger("cds_service.storage")

DEFAULT_QUEUE_SIZE = 10_000
BATCH_SIZE = 200
LOSS_LOG_INTERVAL_SECONDS = 10.0
# The override look-up waits at most this long on the request path before showing the cards.
SUPPRESSION_LOOKUP_TIMEOUT_SECONDS = 0.25
SUPPRESSION_SNAPSHOT_MAX = 100_000  # unexpired overrides held in memory (keys only: no patient data)
SUPPRESSION_REFRESH_TIMEOUT = 10.0
SUPPRESSION_OVERLAP = timedelta(seconds=10)  # re-read this much before the newest row seen (clocks, late commits)
RETRY_INTERVAL_SECONDS = 2.0  # how often the writer tries the database again while rows are spooled
DEGRADED_AFTER_LOSS_SECONDS = 300.0  # /health stays "degraded" this long after a record was lost
MIGRATION_TIMEOUT_SECONDS = 60.0
_STOP = object()
# Rows per multi-row INSERT on SQLite: 500 card rows of 11 columns stay far below its 32,766 bound
# variables (SQLite ≥ 3.32).
_SQLITE_ROWS_PER_STATEMENT = 500
_WAKE = object()  # wakes an idle writer for a refresh (`_Refresh`)


def _sqlite_insert(conn, table: Table, rows: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
    """`rows` in one multi-row INSERT: one `sqlite3_step`, one release of the GIL. Rendered here with
    the columns' own bind processors: SQLAlchemy's `insert().values([...])` compiled each row's
    parameters anew, 7 times the CPU of the whole batch (73 against 11 ms for 200 calls)."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    columns = [table.c[name] for name in names]
    processors = [column.type.bind_processor(conn.dialect) for column in columns]
    defaults = [
        column.default.arg if column.default is not None and column.default.is_scalar else None for column in columns
    ]
    params: list[Any] = []
    for row in rows:
        for name, processor, default in zip(names, processors, defaults, strict=True):
            value = row.get(name, default)
            params.append(processor(value) if processor is not None and value is not None else value)
    quote = conn.dialect.identifier_preparer.quote
    one_row = "(" + ",".join("?" * len(names)) + ")"
    sql = f"INSERT INTO {quote(table.name)} ({','.join(quote(n) for n in names)}) VALUES " + ",".join(
        [one_row] * len(rows)
    )
    conn.exec_driver_sql(sql, tuple(params))


class _Retry:
    """A request to the writer: try the database and replay the spool now (tests, operators)."""

    def __init__(self) -> None:
        self.done = threading.Event()


class _Refresh:
    """A request to the writer: read the overrides stored since the last refresh, before its next
    batch (not behind the queued rows: at most one batch, one commit, waits). On SQLite a read from
    another thread of this process contends with the writer's own commits (rollback journal):
    measured under a steady load, a refresh that waited for the lock slowed the audit writer below
    the call rate (pending rows grew until the queue was full and rows were lost), and one that did
    not wait long failed."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.future: Future[None] = Future()


class SqlRecorder:
    """Audit trail and feedback store on SQLAlchemy (SQLite or PostgreSQL)."""

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
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0  # enqueued but not yet written, spooled or lost
        self.written = 0
        self.dropped = 0  # lost: neither written nor spooled
        self.spooled_total = 0
        self.replayed = 0
        self._last_loss = float("-inf")
        self.database_ok: bool | None = None  # the writer's last experience; None before the first
        self._errors = ThrottledLog(log, LOSS_LOG_INTERVAL_SECONDS)  # "database unavailable"
        self._losses = ThrottledLog(log, LOSS_LOG_INTERVAL_SECONDS)  # "records lost"
        self._next_retry = 0.0
        self.schema_ready = False
        self._schema_lock = threading.Lock()  # the writer and the readiness probe may both migrate
        self._thread: threading.Thread | None = None
        # The authenticator picks this up (app.state.recorder.replay_cache) for JWT jti checks.
        self.replay_cache = SqlReplayCache(self.engine, self.gate)
        # Overrides that hold cards back (issue 12), as a snapshot of the unexpired rows refreshed in the
        # background: the request path looks keys up in memory instead of querying a database that the
        # audit writer keeps busy (a SQLite read waits for every write's commit).
        self._suppressions: dict[str, datetime] = {}
        self._suppression_watermark: datetime | None = None  # newest created_at read
        self._suppression_loaded_at: float | None = None  # monotonic time of the last good refresh
        self._suppression_task: asyncio.Task[None] | None = None
        self._refreshes: deque[_Refresh] = deque()  # waiting for the writer's turn
        self._suppression_lock = threading.Lock()  # feedback and refreshes write it from gate threads
        self._suppression_errors = ThrottledLog(log, LOSS_LOG_INTERVAL_SECONDS)
        self.suppression_refresh_seconds = float(getattr(settings, "suppression_refresh_seconds", 2.0))
        # Cards seen at order-select, not repeated at signing (issue 20): refreshed with the overrides.
        self.repeats = RepeatSnapshot()
        # Gates of their own, with their own breakers, for the override reads: a refresh that fails
        # or a stale-snapshot look-up that gives up after its short bound must neither make the
        # request gate (the JWT replay check, whose outage policy may refuse every call) nor the
        # writer's (audit rows would go to the spool) believe the database is down. The refresh
        # runs on the audit writer's turn (`_Refresh`).
        self.refresh_gate = DbGate("override-refresh", SUPPRESSION_REFRESH_TIMEOUT, threads=1)
        self.lookup_gate = DbGate("override-lookup", SUPPRESSION_LOOKUP_TIMEOUT_SECONDS, threads=2)

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

    def _stop_writer(self, timeout: float) -> None:
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.error("audit queue still full at shutdown; %d records not written", self._queue.qsize())
        assert self._thread is not None
        self._thread.join(timeout)

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

    def retry_now(self, timeout: float = 30.0) -> bool:
        """Have the writer try the database and replay the spool now; wait until it has."""
        request = _Retry()
        try:
            self._queue.put(request, timeout=timeout)
        except queue.Full:
            return False
        return request.done.wait(timeout)

    # ------------------------------------------------------------------ hook calls

    def record_hook_call(self, record: HookCallRecord) -> None:
        """Queue one hook call for the audit trail; never blocks, never raises."""
        for card in record.cards:  # this instance knows at once; the others on their next refresh
            if card.repeat_key and not card.suppressed and not card.not_repeated:
                self.repeats.remember(card.repeat_key, utc(record.received_at))
        with self._lock:
            self._pending += 1
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._lose(1, "audit queue full (database too slow or down)")

    def _lose(self, count: int, why: str) -> None:
        if count <= 0:
            return
        with self._lock:
            self.dropped += count
            total = self.dropped
            self._last_loss = time.monotonic()
        # at most one line per interval: an outage must not flood the logs
        self._losses.error("audit trail lost %d hook-call record(s) (%d lost since start): %s", count, total, why)
        with self._lock:  # only now may flush() return: the loss is both counted and logged
            self._pending -= count
            self._idle.notify_all()

    def _done(self, count: int) -> None:
        with self._lock:
            self.written += count
            self._pending -= count
            self._idle.notify_all()

    def _spooled(self, count: int) -> None:
        with self._lock:
            self.spooled_total += count
            self._pending -= count
            self._idle.notify_all()

    def _failed(self, exc: BaseException, what: str) -> None:
        self.database_ok = False
        if self.spool is None:
            self._errors.error("audit database unavailable (%s: %s); no spool", what, describe_db_error(exc))
            return
        self._errors.error(
            "audit database unavailable (%s: %s); records go to the spool (%d waiting)",
            what,
            describe_db_error(exc),
            self.spool.rows,
        )

    def _drain(self) -> None:
        while True:
            self._run_refreshes()
            try:
                item = self._queue.get(timeout=RETRY_INTERVAL_SECONDS)
            except queue.Empty:
                self._maybe_replay()
                continue
            if item is _WAKE:
                continue
            if item is _STOP:
                self._maybe_replay(force=True)
                return
            if isinstance(item, _Retry):
                self.writer_gate.breaker.reset()
                self._maybe_replay(force=True)
                item.done.set()
                continue
            batch: list[HookCallRecord] = [item]  # type: ignore[list-item]
            stop_after = False
            retry: _Retry | None = None
            while len(batch) < BATCH_SIZE:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop_after = True
                    break
                if isinstance(more, _Retry):
                    retry = more
                    break
                if more is _WAKE:  # the refresh runs once this batch is written
                    continue
                batch.append(more)  # type: ignore[arg-type]
            self._write_batch(batch)
            if retry is not None:
                self.writer_gate.breaker.reset()
            self._maybe_replay(force=retry is not None or stop_after)
            if retry is not None:
                retry.done.set()
            if stop_after:
                return

    def _write_batch(self, batch: Sequence[HookCallRecord]) -> None:
        rows = [self.spool_row(record) for record in batch]
        if self.spool is None:
            self.writer_gate.breaker.reset()  # nowhere to put the rows: trying costs less than losing them
        backlog = self.spool is not None and self.spool.rows > 0
        if not backlog and not self.writer_gate.breaker.is_open:
            try:
                self.writer_gate.call_sync(self._write_rows, rows, False)
            except Exception as exc:  # log and spool; the writer thread must survive
                self._failed(exc, "write failed")
            else:
                self.database_ok = True
                self._done(len(rows))
                return
        self._to_spool(rows)

    def _to_spool(self, rows: list[dict[str, Any]]) -> None:
        if self.spool is None:
            self._lose(len(rows), "database unavailable and no spool configured")
            return
        try:
            kept = self.spool.append(rows)
        except OSError as exc:
            self._lose(len(rows), f"database unavailable and the spool cannot be written ({exc.strerror})")
            return
        self._spooled(kept)
        self._lose(len(rows) - kept, f"database unavailable and the spool is full ({self.spool.max_bytes} bytes)")

    def _maybe_replay(self, force: bool = False) -> None:
        """Write the spooled rows once the database answers (at most every RETRY_INTERVAL)."""
        if self.spool is None or self.spool.rows == 0:
            return
        now = time.monotonic()
        if not force and (now < self._next_retry or self.writer_gate.breaker.is_open):
            return
        self._next_retry = now + RETRY_INTERVAL_SECONDS
        rows = self.spool.read_all()
        try:
            inserted = self.writer_gate.call_sync(self._write_rows, rows, True, timeout=MIGRATION_TIMEOUT_SECONDS)
        except Exception as exc:
            self._failed(exc, "spool replay failed")
            return
        self.spool.clear()
        self.database_ok = True
        with self._lock:
            self.written += inserted
            self.replayed += inserted
        log.warning("audit spool replayed: %d record(s) written, %d already present", inserted, len(rows) - inserted)

    def spool_row(self, record: HookCallRecord) -> dict[str, Any]:
        """The rows of one record as stored: pseudonymized and scrubbed, JSON-ready (for the spool)."""
        return {
            "record_key": record.record_key[:64],
            "hook_instance": record.hook_instance[:200],
            "service_id": record.service_id[:200],
            "hook": record.hook[:100],
            "client": (record.client or None) and record.client[:500],
            "patient_hash": patient_pseudonym(record.patient_id, self._secret),
            "received_at": utc(record.received_at).isoformat(),
            "latency_ms": float(record.latency_ms),
            "outcome": record.outcome[:16],
            "drafts": record.drafts,
            "cards": [
                {
                    "card_uuid": card.uuid[:200],
                    "topic": card.topic,
                    "indicator": card.indicator,
                    "summary": scrub_ages(card.summary)[:300],
                    "suggestion_uuids": " ".join(card.suggestion_uuids),
                    "override_reasons": json.dumps([list(r) for r in card.override_reasons]),
                    "suppression_key": card.suppression_key,
                    "suppressed": card.suppressed,
                    "repeat_key": card.repeat_key,
                    "decision_key": card.decision_key,
                    "intents": card.intents,
                    "not_repeated": card.not_repeated,
                }
                for card in record.cards
            ],
        }

    def _write_rows(self, rows: list[dict[str, Any]], skip_existing: bool) -> int:
        """Migrate if needed, then insert `rows` in one transaction; returns how many were new."""
        self._ensure_schema()
        with self.engine.begin() as conn:
            return self._insert_rows(conn, rows, skip_existing)

    def _insert_rows(self, conn, rows: list[dict[str, Any]], skip_existing: bool) -> int:  # type: ignore[no-untyped-def]
        """A whole batch in two statements (calls, then their cards).

        Statement count matters more than rows: each statement releases and re-takes the GIL, and
        a per-row writer starved under load. `skip_existing` (spool replay) first leaves out the
        records already in the database, so a replay writes each record once.
        """
        hc = schema.hook_call
        if skip_existing:
            keys = [row["record_key"] for row in rows]
            present: set[str] = set()
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                present.update(conn.execute(select(hc.c.record_key).where(hc.c.record_key.in_(chunk))).scalars())
            unique: dict[str, dict[str, Any]] = {}
            for row in rows:
                if row["record_key"] not in present:
                    unique.setdefault(row["record_key"], row)
            rows = list(unique.values())
        if not rows:
            return 0
        calls = [
            {k: (datetime.fromisoformat(v) if k == "received_at" else v) for k, v in row.items() if k != "cards"}
            for row in rows
        ]
        ids = self._insert_calls(conn, calls)
        cards = [
            {**card, "hook_call_id": ids[row["record_key"]], "service_id": row["service_id"],
             "shown_at": datetime.fromisoformat(row["received_at"])}
            for row in rows
            for card in row["cards"]
        ]  # fmt: skip
        if cards and conn.dialect.name == "sqlite":
            for start in range(0, len(cards), _SQLITE_ROWS_PER_STATEMENT):
                _sqlite_insert(conn, schema.card_shown, cards[start : start + _SQLITE_ROWS_PER_STATEMENT])
        elif cards:
            # RETURNING makes SQLAlchemy send multi-row VALUES statements ("insertmanyvalues")
            # instead of the driver's executemany, which would release the GIL once per row.
            conn.execute(schema.card_shown.insert().returning(schema.card_shown.c.id), cards).all()
        return len(rows)

    @staticmethod
    def _insert_calls(conn, calls: list[dict[str, Any]]) -> dict[str, int]:  # type: ignore[no-untyped-def]
        """Insert the hook calls; their ids by record key.

        On SQLite each row a statement returns is one `sqlite3_step`, and the driver releases and
        re-takes the GIL around every step: while the event loop keeps the GIL busy with hook calls,
        each re-take waits up to the switch interval, and a batch whose rows came back one by one
        (RETURNING) made the writer fall behind the calls under load. So one multi-row INSERT per
        chunk, and the ids come back packed in a single row.
        """
        hc = schema.hook_call
        if conn.dialect.name != "sqlite":
            inserted = conn.execute(hc.insert().returning(hc.c.id, hc.c.record_key), calls).all()
            return {key: call_id for call_id, key in inserted}
        ids: dict[str, int] = {}
        for start in range(0, len(calls), _SQLITE_ROWS_PER_STATEMENT):
            chunk = calls[start : start + _SQLITE_ROWS_PER_STATEMENT]
            _sqlite_insert(conn, hc, chunk)
            packed = conn.execute(
                select(func.group_concat(hc.c.record_key.concat(" ").concat(cast(hc.c.id, String)), ",")).where(
                    hc.c.record_key.in_([call["record_key"] for call in chunk])
                )
            ).scalar()
            for pair in (packed or "").split(","):
                key, _, call_id = pair.partition(" ")
                if call_id:
                    ids[key] = int(call_id)
        return ids

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until every queued record is written, spooled or lost (tests, feedback look-ups)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def stats(self) -> dict[str, Any]:
        """Audit counters for /health: pending (queued), written, spooled (waiting on disk now),
        replayed (written from the spool), lost, and the writer's view of the database."""
        with self._lock:
            return {
                "pending": self._pending,
                "written": self.written,
                "spooled": self.spool.rows if self.spool is not None else 0,
                "replayed": self.replayed,
                "lost": self.dropped,
                "database": {None: "unknown", True: "up", False: "down"}[self.database_ok],
            }

    def degraded(self) -> bool:
        """True while records wait in the spool, the database fails, or a record was lost lately."""
        recently_lost = time.monotonic() - self._last_loss < DEGRADED_AFTER_LOSS_SECONDS
        spooled = self.spool is not None and self.spool.rows > 0
        return spooled or self.database_ok is False or recently_lost

    # ------------------------------------------------------------------ feedback

    async def record_feedback(
        self,
        service_id: str,
        entries: Sequence[FeedbackEntry],
        client: str | None,
        *,
        suppression_days: int = 0,
    ) -> FeedbackResult:
        """Check each entry against the audit trail and store the batch, all or nothing.

        A card overridden with a reason is not shown again to that patient for `suppression_days`
        unless the facts that made it change (its suppression key); critical cards never are.
        Bounded by the gate: a hung database answers StorageUnavailable (503), not a stall."""
        return await self.gate.call(
            self._record_feedback_sync,
            service_id,
            list(entries),
            client,
            suppression_days,
            timeout=self.gate.timeout + 5.0,
        )

    # ------------------------------------------------------------------ overrides that stick

    async def suppressed_keys(self, keys: Collection[str]) -> set[str]:
        """Which of `keys` an unexpired override holds back, from the in-memory snapshot (no database
        call on the request path). While the snapshot is stale (its refreshes fail) one indexed query
        asks for the keys it does not hold. Fails open: when nothing can answer in time, the cards are
        shown (a card too many is safe, a missing one is not)."""
        now = datetime.now(UTC)
        held = {k for k in keys if (until := self._suppressions.get(k)) is not None and until > now}
        if self.suppressions_fresh():
            return held
        rest = [k for k in keys if k not in held]
        if not rest:
            return held
        try:
            found = await self.lookup_gate.call(self._suppressed_sync, rest, now)
        except (StorageUnavailable, SQLAlchemyError) as exc:
            self._suppression_errors.error("override look-up failed; cards shown: %s", type(exc).__name__)
            return held
        for key, until in found.items():
            self._remember_suppression(key, until)
        return held | set(found)

    async def repeated_keys(self, keys: Collection[str]) -> set[str]:
        """Which of `keys` were shown at order-select within the repeat window (from memory only)."""
        return self.repeats.held(keys, datetime.now(UTC))

    def suppressions_fresh(self) -> bool:
        """The snapshot was refreshed within three refresh periods."""
        loaded = self._suppression_loaded_at
        return loaded is not None and time.monotonic() - loaded <= 3 * self.suppression_refresh_seconds

    async def refresh_suppressions(self) -> bool:
        """Read the overrides stored since the last refresh (by any instance) into the snapshot, on
        the audit writer's turn (see `_Refresh`)."""
        request = _Refresh(datetime.now(UTC))
        try:
            if self._thread is None or not self._thread.is_alive():
                raise StorageUnavailable("the audit writer is not running")
            self._refreshes.append(request)
            with contextlib.suppress(queue.Full):  # a full queue: the writer is busy, and looks before each batch
                self._queue.put_nowait(_WAKE)
            await asyncio.wait_for(asyncio.wrap_future(request.future), SUPPRESSION_REFRESH_TIMEOUT)
        except Exception as exc:  # the snapshot stays as it is; look-ups go to the database meanwhile
            self._suppression_errors.error("override snapshot not refreshed: %s", type(exc).__name__)
            return False
        return True

    def _run_refreshes(self) -> None:
        """On the writer thread, before its next batch: one read answers every refresh waiting."""
        waiting: list[_Refresh] = []
        while self._refreshes:
            request = self._refreshes.popleft()
            if request.future.set_running_or_notify_cancel():  # else its caller gave up
                waiting.append(request)
        if not waiting:
            return
        try:
            self.refresh_gate.call_sync(self._refresh_suppressions_sync, waiting[0].now)
        except Exception as exc:  # the writer thread must survive
            for request in waiting:
                request.future.set_exception(exc)
        else:
            for request in waiting:
                request.future.set_result(None)

    async def _refresh_suppressions_forever(self) -> None:
        while True:
            await asyncio.sleep(self.suppression_refresh_seconds)
            await self.refresh_suppressions()

    def _refresh_suppressions_sync(self, now: datetime) -> None:
        if not self.schema_ready:
            self._ensure_schema()
        table = schema.card_suppression
        query = select(table.c.key, table.c.expires_at, table.c.created_at).where(table.c.expires_at > now)
        if self._suppression_watermark is not None:
            query = query.where(table.c.created_at >= self._suppression_watermark - SUPPRESSION_OVERLAP)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        for key, until, created in rows:
            self._remember_suppression(key, utc(until))
            created = utc(created)
            if self._suppression_watermark is None or created > self._suppression_watermark:
                self._suppression_watermark = created
        with self._suppression_lock:
            for key in [key for key, until in self._suppressions.items() if until <= now]:
                del self._suppressions[key]
        self.repeats.refresh_sync(self.engine, now)
        self._suppression_loaded_at = time.monotonic()

    def _suppressed_sync(self, keys: list[str], now: datetime) -> dict[str, datetime]:
        if not self.schema_ready:
            self._ensure_schema()
        table = schema.card_suppression
        query = select(table.c.key, table.c.expires_at).where(table.c.key.in_(keys), table.c.expires_at > now)
        with self.engine.connect() as conn:
            return {key: utc(until) for key, until in conn.execute(query)}

    def _remember_suppression(self, key: str, until: datetime) -> None:
        with self._suppression_lock:
            known = self._suppressions.get(key)
            if known is None and len(self._suppressions) >= SUPPRESSION_SNAPSHOT_MAX:
                self._suppression_errors.error("override snapshot full; further overrides are not held")
                return
            if known is None or until > known:
                self._suppressions[key] = until

    def _record_feedback_sync(
        self, service_id: str, entries: list[FeedbackEntry], client: str | None, suppression_days: int = 0
    ) -> FeedbackResult:
        try:
            self._ensure_schema()
        except Exception as exc:
            raise StorageUnavailable("feedback store unavailable") from exc
        wanted = {e.card_uuid for e in entries}
        try:
            cards = self._cards_shown(service_id, wanted)
            if wanted - cards.keys() and self.pending:
                # The card may still sit in the audit queue (feedback right after the hook call).
                self.flush(timeout=5.0)
                cards = self._cards_shown(service_id, wanted)
        except SQLAlchemyError as exc:
            log.error("feedback look-up failed: %s", describe_db_error(exc))
            raise StorageUnavailable("feedback store unavailable") from exc

        problems: list[FeedbackProblem] = []
        accepted_keys: list[str] = []  # shown again at signing: the suggestion may not have been applied
        rows = []
        suppressions: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        for entry in entries:
            card = cards.get(entry.card_uuid)
            if card is not None and card[2] is not None and client is not None and card[2] != client:
                card = None  # another client's card: answered as unknown, so its existence is not revealed
            if card is None:
                problems.append(
                    FeedbackProblem(
                        entry.index,
                        "card",
                        f"card {entry.card_uuid!r} was not issued by service {service_id!r}",
                        not_found=True,
                    )
                )
                continue
            suggestion_uuids, offered_reasons, _, key, indicator, seen_key = card
            if entry.outcome == "accepted" and seen_key:
                accepted_keys.append(seen_key)
            if (
                entry.outcome == "overridden"
                and entry.reason_code
                and key
                and indicator != "critical"
                and suppression_days > 0
            ):
                until = max(now, utc(entry.outcome_at)) + timedelta(days=suppression_days)
                suppressions.append({"key": key, "client": client, "topic": None, "created_at": now,
                                     "expires_at": until})  # fmt: skip
            for n, suggestion in enumerate(entry.accepted_suggestions):
                if suggestion not in suggestion_uuids:
                    problems.append(
                        FeedbackProblem(
                            entry.index,
                            f"acceptedSuggestions[{n}].id",
                            f"suggestion {suggestion!r} is not one of card {entry.card_uuid!r}'s suggestions",
                        )
                    )
            display = entry.reason_display or offered_reasons.get(entry.reason_code or "")
            rows.append(
                {
                    "service_id": service_id,
                    "card_uuid": entry.card_uuid,
                    "outcome": entry.outcome,
                    "accepted_suggestions": " ".join(entry.accepted_suggestions),
                    "reason_code": entry.reason_code,
                    "reason_system": entry.reason_system,
                    "reason_display": display,
                    "has_comment": entry.has_comment,
                    "outcome_at": utc(entry.outcome_at),
                    "received_at": now,
                    "client": client,
                    "item_digest": entry.identity(),
                }
            )
        if problems:
            return FeedbackResult(stored=0, duplicates=0, problems=tuple(problems))

        stored = 0
        try:
            with self.engine.begin() as conn:
                insert = _insert_ignoring_duplicates(conn.dialect.name)
                for row in rows:
                    # RETURNING yields a row only when the item was new (rowcount is unreliable here).
                    stored += len(conn.execute(insert.values(**row).returning(schema.feedback.c.id)).all())
                for suppression in suppressions:
                    conn.execute(_upsert_suppression(conn.dialect.name, suppression))
        except SQLAlchemyError as exc:
            log.error("feedback write failed: %s", describe_db_error(exc))
            raise StorageUnavailable("feedback store unavailable") from exc
        for suppression in suppressions:
            self._remember_suppression(suppression["key"], suppression["expires_at"])
        for seen_key in accepted_keys:
            self.repeats.clear(seen_key, now)
        return FeedbackResult(stored=stored, duplicates=len(rows) - stored)

    def _cards_shown(
        self, service_id: str, card_uuids: set[str]
    ) -> dict[str, tuple[frozenset[str], dict[str, str], str | None, str | None, str, str | None]]:
        """Per card: its suggestions, offered reasons, client, suppression key, indicator, repeat key."""
        if not card_uuids:
            return {}
        query = (
            select(
                schema.card_shown.c.card_uuid,
                schema.card_shown.c.suggestion_uuids,
                schema.card_shown.c.override_reasons,
                schema.hook_call.c.client,
                schema.card_shown.c.suppression_key,
                schema.card_shown.c.indicator,
                schema.card_shown.c.repeat_key,
            )
            .join(schema.hook_call, schema.card_shown.c.hook_call_id == schema.hook_call.c.id)
            .where(
                schema.card_shown.c.service_id == service_id,
                schema.card_shown.c.card_uuid.in_(sorted(card_uuids)),
            )
        )
        found: dict[str, tuple[frozenset[str], dict[str, str], str | None, str | None, str, str | None]] = {}
        with self.engine.connect() as conn:
            for card_uuid, suggestions, reasons, issued_to, key, indicator, seen in conn.execute(query):
                offered = {code: display for code, display in json.loads(reasons or "[]")}
                found[card_uuid] = (frozenset((suggestions or "").split()), offered, issued_to, key, indicator, seen)
        return found

    # ------------------------------------------------------------------ retention

    def purge(self, retention_days: int, now: datetime | None = None) -> dict[str, int]:
        return purge_rows(self.engine, retention_days, now)


def purge_rows(engine: Engine, retention_days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete audit and feedback rows older than the retention period, and expired jtis."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=retention_days)
    hc, cs, fb, jti = schema.hook_call, schema.card_shown, schema.feedback, schema.seen_jti
    with engine.begin() as conn:
        old_calls = select(hc.c.id).where(hc.c.received_at < cutoff)
        cards = conn.execute(delete(cs).where(cs.c.hook_call_id.in_(old_calls)))
        calls = conn.execute(delete(hc).where(hc.c.received_at < cutoff))
        feedback = conn.execute(delete(fb).where(fb.c.received_at < cutoff))
        jtis = conn.execute(delete(jti).where(jti.c.expires_at < now))
        conn.execute(delete(schema.card_suppression).where(schema.card_suppression.c.expires_at < now))
    return {
        "hook_calls": calls.rowcount,
        "cards": cards.rowcount,
        "feedback": feedback.rowcount,
        "expired_jtis": jtis.rowcount,
    }


def _upsert_suppression(dialect: str, row: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Insert a suppression, or move its expiry later when the same card is overridden again."""
    table = schema.card_suppression
    module = postgresql if dialect == "postgresql" else sqlite if dialect == "sqlite" else None
    if module is None:
        raise NotImplementedError(f"override suppression supports SQLite and PostgreSQL, not {dialect}")
    statement = module.insert(table).values(**row)
    # created_at moves too: the other instances' snapshots read what changed since their last refresh
    return statement.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"expires_at": statement.excluded.expires_at, "created_at": statement.excluded.created_at},
    )


def _insert_ignoring_duplicates(dialect: str):  # type: ignore[no-untyped-def]
    """INSERT … ON CONFLICT DO NOTHING: a re-sent feedback item is stored once."""
    if dialect == "postgresql":
        return postgresql.insert(schema.feedback).on_conflict_do_nothing(constraint="uq_feedback_item")
    if dialect == "sqlite":
        return sqlite.insert(schema.feedback).on_conflict_do_nothing()
    raise NotImplementedError(f"feedback storage supports SQLite and PostgreSQL, not {dialect}")
