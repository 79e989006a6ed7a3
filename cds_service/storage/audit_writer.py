"""The audit writer: `record_hook_call` appends to a bounded queue and returns at once; a writer thread
drains it in batches (`sql_writes`). When the database is slow, stopped, hung or unreachable, the
batch goes to the bounded on-disk spool (`storage.spool`) instead, and the writer replays the spool
when the database answers again, each record exactly once (keyed by `record_key`). Only what neither
the database nor the spool can take is lost: counted, shown by `/health`, and logged at most once
per interval (without patient data).

A mixin of `SqlRecorder`: the same loop runs on a thread of the serving process, or in the writer
process (`storage.writer_process`), where it takes no CPU or interpreter lock from the calls.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cds_service.auth.outage import ThrottledLog
from cds_service.storage.db import describe_db_error
from cds_service.storage.records import HookCallRecord
from cds_service.storage.sql_writes import audit_row, insert_rows
from cds_service.storage.wire import Entries

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from cds_service.storage.gate import DbGate
    from cds_service.storage.spool import AuditSpool

DEFAULT_QUEUE_SIZE = 10_000
# Room kept below the queue's bound for the calls admitted before the writer fell behind (at most the
# in-flight limit per process, 32 by default): from `queue_size - ADMISSION_HEADROOM` outstanding rows
# on (half the queue if smaller), the edge refuses new hook calls (`behind`).
ADMISSION_HEADROOM = 1024
BATCH_SIZE = 200
LOSS_LOG_INTERVAL_SECONDS = 10.0
RETRY_INTERVAL_SECONDS = 2.0  # how often the writer tries the database again while rows are spooled
DEGRADED_AFTER_LOSS_SECONDS = 300.0  # /health stays "degraded" this long after a record was lost
MIGRATION_TIMEOUT_SECONDS = 60.0
_STOP = object()
_WAKE = object()  # wakes an idle writer for a refresh (`_Refresh`)

log = logging.getLogger("cds_service.storage")


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

    def __init__(
        self, now: datetime, watermark: datetime | None = None, repeat_marks: tuple[Any, ...] | None = None
    ) -> None:
        self.now = now
        self.watermark = watermark  # the asking process's newest row seen (the writer process's refreshes)
        self.repeat_marks = repeat_marks  # the asking process's repeat snapshot marks: read its rows too
        self.future: Future[Any] = Future()


class AuditWriter:
    """The writer half of `SqlRecorder` (see the module doc); its attributes are set by `_init_writer`."""

    engine: Engine
    spool: AuditSpool | None
    writer_gate: DbGate
    refresh_gate: DbGate
    _secret: str
    _thread: threading.Thread | None

    _remember_repeats: Callable[[HookCallRecord], None]  # `overrides` (a declaration: it must not shadow it)

    def _init_writer(self, queue_size: int) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0  # enqueued but not yet written, spooled or lost
        self.backpressure_threshold = queue_size - min(queue_size // 2, ADMISSION_HEADROOM)
        self.written = 0
        self.dropped = 0  # lost: neither written nor spooled
        self.spooled_total = 0
        self.replayed = 0
        self._last_loss = float("-inf")
        self.database_ok: bool | None = None  # the writer's last experience; None before the first
        self._errors = ThrottledLog(log, LOSS_LOG_INTERVAL_SECONDS)  # "database unavailable"
        self._losses = ThrottledLog(log, LOSS_LOG_INTERVAL_SECONDS)  # "records lost"
        self._next_retry = 0.0
        self._refreshes: deque[_Refresh] = deque()  # waiting for the writer's turn
        # Waits this long after a batch's first record for more: one commit (an fsync on SQLite) per
        # batch. 0 on a thread of the serving process, where the wait would cost nothing but where
        # the GIL makes batches large anyway; set in the writer process.
        self.linger_seconds = 0.0

    def _stop_writer(self, timeout: float) -> None:
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.error("audit queue still full at shutdown; %d records not written", self._queue.qsize())
        assert self._thread is not None
        self._thread.join(timeout)

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
        self._remember_repeats(record)
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
            batch: list[HookCallRecord] = list(item) if isinstance(item, Entries) else [item]  # type: ignore[list-item]
            # Up to `linger_seconds` for more, unless the batch fills first: fewer, larger transactions
            # (the writer process; 0 on a thread of the serving process).
            deadline = time.monotonic() + self.linger_seconds
            stop_after = False
            retry: _Retry | None = None
            while len(batch) < BATCH_SIZE:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        more = self._queue.get(timeout=remaining)
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
                if isinstance(more, Entries):  # a batch from the server (the writer process): < 2 BATCH_SIZE
                    batch.extend(more)
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
        return audit_row(record, self._secret)

    def _write_rows(self, rows: list[dict[str, Any]], skip_existing: bool) -> int:
        """Migrate if needed, then insert `rows` in one transaction; returns how many were new."""
        self._ensure_schema()
        with self.engine.begin() as conn:
            return insert_rows(conn, rows, skip_existing)

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
                "spooled": self._spool_rows(),
                "replayed": self.replayed,
                "lost": self.dropped,
                "database": {None: "unknown", True: "up", False: "down"}[self.database_ok],
            }

    def _spool_rows(self) -> int:
        return self.spool.rows if self.spool is not None else 0

    def behind(self) -> bool:
        """True while the outstanding rows reach `backpressure_threshold`: the edge then refuses new
        hook calls (503 + Retry-After) until the writer catches up, so that the calls it admitted
        find room in the queue, neither waiting on the event loop nor losing their rows."""
        return self._pending >= self.backpressure_threshold

    def degraded(self) -> bool:
        """True while records wait in the spool, the database fails, or a record was lost lately."""
        recently_lost = time.monotonic() - self._last_loss < DEGRADED_AFTER_LOSS_SECONDS
        spooled = self._spool_rows() > 0
        return spooled or self.database_ok is False or recently_lost

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
            result = self.refresh_gate.call_sync(self._refresh_work, waiting[0])
        except Exception as exc:  # the writer thread must survive
            for request in waiting:
                request.future.set_exception(exc)
        else:
            for request in waiting:
                request.future.set_result(result)

    def _refresh_work(self, request: _Refresh) -> Any:
        """What a refresh does on the writer's turn (the writer process answers with the rows)."""
        self._refresh_suppressions_sync(request.now)
        return None
