"""The SQL recorder: audit rows written by a background thread, feedback checked against them.

`record_hook_call` only appends to a bounded in-memory queue, so a hook call never waits for
the database. A writer thread drains the queue in batches. When the database is slow, stopped
or unreachable, the batch is dropped, the loss is logged (without patient data) and counted in
`dropped`; the hook call has long since returned its cards.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

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
)
from cds_service.storage.replay import SqlReplayCache

log = logging.getLogger("cds_service.storage")

DEFAULT_QUEUE_SIZE = 10_000
BATCH_SIZE = 200
LOSS_LOG_INTERVAL_SECONDS = 10.0
_STOP = object()


def _unique_instance_chunks(rows: list[dict[str, object]]) -> Iterator[list[dict[str, object]]]:
    """Consecutive runs of rows in which no hookInstance repeats (a retried call may repeat it)."""
    chunk: list[dict[str, object]] = []
    seen: set[object] = set()
    for row in rows:
        if row["hook_instance"] in seen:
            yield chunk
            chunk, seen = [], set()
        chunk.append(row)
        seen.add(row["hook_instance"])
    if chunk:
        yield chunk


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
        self.engine: Engine = make_engine(
            database_url,
            statement_timeout_ms=statement_ms,
            journal_mode=str(getattr(settings, "sqlite_journal_mode", "delete")),
        )
        # Database calls made while a client waits (replay check, feedback, analytics) go
        # through this gate: bounded threads, an overall timeout, a breaker.
        self.gate = DbGate("request", float(getattr(settings, "db_call_timeout_seconds", 2.5)))
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0  # enqueued but not yet written or dropped
        self.written = 0
        self.dropped = 0
        self._unlogged_losses = 0
        self._last_loss_log = float("-inf")
        self.schema_ready = False
        self._last_migration_attempt = 0.0
        self._thread: threading.Thread | None = None
        # The authenticator picks this up (app.state.recorder.replay_cache) for JWT jti checks.
        self.replay_cache = SqlReplayCache(self.engine, self.gate)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Migrate the schema and start the writer; a database outage here does not stop the service."""
        await asyncio.to_thread(self._ensure_schema)
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="cds-audit-writer", daemon=True)
            self._thread.start()

    async def aclose(self, timeout: float = 5.0) -> None:
        """Write what is queued (up to `timeout`), stop the writer, close connections."""
        if self._thread is not None:
            await asyncio.to_thread(self._stop_writer, timeout)
            self._thread = None
        self.gate.close()
        self.engine.dispose()

    def _stop_writer(self, timeout: float) -> None:
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.error("audit queue still full at shutdown; %d records not written", self._queue.qsize())
        assert self._thread is not None
        self._thread.join(timeout)

    def _ensure_schema(self) -> bool:
        if self.schema_ready:
            return True
        self._last_migration_attempt = time.monotonic()
        try:
            run_migrations(self.engine)
        except Exception as exc:  # any failure here must not take the service down
            log.error("audit database unavailable, schema not migrated: %s", describe_db_error(exc))
            return False
        self.schema_ready = True
        return True

    # ------------------------------------------------------------------ hook calls

    def record_hook_call(self, record: HookCallRecord) -> None:
        """Queue one hook call for the audit trail; never blocks, never raises."""
        with self._lock:
            self._pending += 1
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._lose(1, "audit queue full (database too slow or down)")

    def _lose(self, count: int, why: str) -> None:
        with self._lock:
            self.dropped += count
            total = self.dropped
            self._unlogged_losses += count
            now = time.monotonic()
            due = now - self._last_loss_log >= LOSS_LOG_INTERVAL_SECONDS
            if due:
                logged, self._unlogged_losses, self._last_loss_log = self._unlogged_losses, 0, now
        if due:  # at most one line per interval: an outage must not flood the logs
            log.error("audit trail lost %d hook-call record(s) (%d lost since start): %s", logged, total, why)
        with self._lock:  # only now may flush() return: the loss is both counted and logged
            self._pending -= count
            self._idle.notify_all()

    def _done(self, count: int) -> None:
        with self._lock:
            self.written += count
            self._pending -= count
            self._idle.notify_all()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch: list[HookCallRecord] = [item]  # type: ignore[list-item]
            stop_after = False
            while len(batch) < BATCH_SIZE:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop_after = True
                    break
                batch.append(more)  # type: ignore[arg-type]
            self._write_batch(batch)
            if stop_after:
                return

    def _write_batch(self, batch: Sequence[HookCallRecord]) -> None:
        if not self.schema_ready and not self._ensure_schema():
            self._lose(len(batch), "database unavailable")
            return
        try:
            with self.engine.begin() as conn:
                self._insert_hook_calls(conn, batch)
        except Exception as exc:  # log and count; the writer thread must survive
            self._lose(len(batch), describe_db_error(exc))
            return
        self._done(len(batch))

    def _insert_hook_calls(self, conn, batch: Sequence[HookCallRecord]) -> None:  # type: ignore[no-untyped-def]
        """A whole batch in two statements (calls, then their cards).

        Statement count matters more than rows: each statement releases and re-takes the GIL, and
        under load the request thread holds it for its whole switch interval, so a per-row writer
        falls behind (measured: ~150 records/s at 300 hook calls/s; batched, it keeps up).
        """
        rows = [
            {
                "hook_instance": record.hook_instance[:200],
                "service_id": record.service_id[:200],
                "hook": record.hook[:100],
                "client": (record.client or None) and record.client[:500],
                "patient_hash": patient_pseudonym(record.patient_id, self._secret),
                "received_at": utc(record.received_at),
                "latency_ms": float(record.latency_ms),
                "outcome": record.outcome[:16],
            }
            for record in batch
        ]
        # RETURNING in batch order would need a sentinel column SQLite lacks (SQLAlchemy then sends
        # one statement per row); chunks with unique hookInstances are matched by hookInstance.
        ids: list[int] = []
        for chunk in _unique_instance_chunks(rows):
            inserted = conn.execute(
                schema.hook_call.insert().returning(schema.hook_call.c.id, schema.hook_call.c.hook_instance), chunk
            ).all()
            by_instance = {instance: call_id for call_id, instance in inserted}
            ids.extend(by_instance[row["hook_instance"]] for row in chunk)
        cards = [
            {
                "hook_call_id": call_id,
                "service_id": record.service_id[:200],
                "card_uuid": card.uuid[:200],
                "topic": card.topic,
                "indicator": card.indicator,
                "summary": card.summary[:300],
                "suggestion_uuids": " ".join(card.suggestion_uuids),
                "override_reasons": json.dumps([list(r) for r in card.override_reasons]),
                "shown_at": utc(record.received_at),
            }
            for call_id, record in zip(ids, batch, strict=True)
            for card in record.cards
        ]
        if cards:
            # RETURNING makes SQLAlchemy send multi-row VALUES statements ("insertmanyvalues")
            # instead of the driver's executemany, which would release the GIL once per row.
            conn.execute(schema.card_shown.insert().returning(schema.card_shown.c.id), cards).all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until every queued record is written or dropped (tests, feedback look-ups)."""
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

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"pending": self._pending, "written": self.written, "dropped": self.dropped}

    # ------------------------------------------------------------------ feedback

    async def record_feedback(
        self, service_id: str, entries: Sequence[FeedbackEntry], client: str | None
    ) -> FeedbackResult:
        """Check each entry against the audit trail and store the batch, all or nothing.

        Bounded by the gate: a hung database answers StorageUnavailable (503), not a stall."""
        return await self.gate.call(
            self._record_feedback_sync, service_id, list(entries), client, timeout=self.gate.timeout + 5.0
        )

    def _record_feedback_sync(
        self, service_id: str, entries: list[FeedbackEntry], client: str | None
    ) -> FeedbackResult:
        if not self._ensure_schema():
            raise StorageUnavailable("feedback store unavailable")
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
        rows = []
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
            suggestion_uuids, offered_reasons, _ = card
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
        except SQLAlchemyError as exc:
            log.error("feedback write failed: %s", describe_db_error(exc))
            raise StorageUnavailable("feedback store unavailable") from exc
        return FeedbackResult(stored=stored, duplicates=len(rows) - stored)

    def _cards_shown(
        self, service_id: str, card_uuids: set[str]
    ) -> dict[str, tuple[frozenset[str], dict[str, str], str | None]]:
        if not card_uuids:
            return {}
        query = (
            select(
                schema.card_shown.c.card_uuid,
                schema.card_shown.c.suggestion_uuids,
                schema.card_shown.c.override_reasons,
                schema.hook_call.c.client,
            )
            .join(schema.hook_call, schema.card_shown.c.hook_call_id == schema.hook_call.c.id)
            .where(
                schema.card_shown.c.service_id == service_id,
                schema.card_shown.c.card_uuid.in_(sorted(card_uuids)),
            )
        )
        found: dict[str, tuple[frozenset[str], dict[str, str], str | None]] = {}
        with self.engine.connect() as conn:
            for card_uuid, suggestions, reasons, issued_to in conn.execute(query):
                offered = {code: display for code, display in json.loads(reasons or "[]")}
                found[card_uuid] = (frozenset((suggestions or "").split()), offered, issued_to)
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
    return {
        "hook_calls": calls.rowcount,
        "cards": cards.rowcount,
        "feedback": feedback.rowcount,
        "expired_jtis": jtis.rowcount,
    }


def _insert_ignoring_duplicates(dialect: str):  # type: ignore[no-untyped-def]
    """INSERT … ON CONFLICT DO NOTHING: a re-sent feedback item is stored once."""
    if dialect == "postgresql":
        return postgresql.insert(schema.feedback).on_conflict_do_nothing(constraint="uq_feedback_item")
    if dialect == "sqlite":
        return sqlite.insert(schema.feedback).on_conflict_do_nothing()
    raise NotImplementedError(f"feedback storage supports SQLite and PostgreSQL, not {dialect}")
