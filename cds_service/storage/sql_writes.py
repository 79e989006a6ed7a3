"""The audit trail's SQL: a batch of hook calls in a few statements, the spool's row format, override
reads and upserts, retention. Plain functions of a connection or engine, shared by the in-process
writer thread and the writer process (`storage.writer_process`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, String, Table, cast, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from cds_service.storage import schema
from cds_service.storage.db import utc
from cds_service.storage.records import HookCallRecord, patient_pseudonym, scrub_ages

# Rows per multi-row INSERT on SQLite: 500 card rows of 15 columns stay far below its 32,766 bound
# variables (SQLite ≥ 3.32).
_SQLITE_ROWS_PER_STATEMENT = 500
SUPPRESSION_OVERLAP = timedelta(seconds=10)  # re-read this much before the newest row seen (clocks, late commits)


def sqlite_insert(conn, table: Table, rows: list[dict[str, Any]]) -> None:  # type: ignore[no-untyped-def]
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


def insert_rows(conn, rows: list[dict[str, Any]], skip_existing: bool) -> int:  # type: ignore[no-untyped-def]
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
    ids = insert_calls(conn, calls)
    cards = [
        {**card, "hook_call_id": ids[row["record_key"]], "service_id": row["service_id"],
         "shown_at": datetime.fromisoformat(row["received_at"])}
        for row in rows
        for card in row["cards"]
    ]  # fmt: skip
    if cards and conn.dialect.name == "sqlite":
        for start in range(0, len(cards), _SQLITE_ROWS_PER_STATEMENT):
            sqlite_insert(conn, schema.card_shown, cards[start : start + _SQLITE_ROWS_PER_STATEMENT])
    elif cards:
        # RETURNING makes SQLAlchemy send multi-row VALUES statements ("insertmanyvalues")
        # instead of the driver's executemany, which would release the GIL once per row.
        conn.execute(schema.card_shown.insert().returning(schema.card_shown.c.id), cards).all()
    return len(rows)


def insert_calls(conn, calls: list[dict[str, Any]]) -> dict[str, int]:  # type: ignore[no-untyped-def]
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
        sqlite_insert(conn, hc, chunk)
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


def audit_row(record: HookCallRecord, secret: str) -> dict[str, Any]:
    """The rows of one record as stored: pseudonymized and scrubbed, JSON-ready (for the spool)."""
    return {
        "record_key": record.record_key[:64],
        "hook_instance": record.hook_instance[:200],
        "service_id": record.service_id[:200],
        "hook": record.hook[:100],
        "client": (record.client or None) and record.client[:500],
        "patient_hash": patient_pseudonym(record.patient_id, secret),
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


def read_suppressions(
    engine: Engine, now: datetime, watermark: datetime | None
) -> list[tuple[str, datetime, datetime]]:
    """Unexpired overrides stored since `watermark` (less an overlap), as (key, expires, created) in UTC."""
    table = schema.card_suppression
    query = select(table.c.key, table.c.expires_at, table.c.created_at).where(table.c.expires_at > now)
    if watermark is not None:
        query = query.where(table.c.created_at >= watermark - SUPPRESSION_OVERLAP)
    with engine.connect() as conn:
        return [(key, utc(until), utc(created)) for key, until, created in conn.execute(query)]


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


def upsert_suppression(dialect: str, row: dict[str, Any]):  # type: ignore[no-untyped-def]
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


def insert_ignoring_duplicates(dialect: str):  # type: ignore[no-untyped-def]
    """INSERT … ON CONFLICT DO NOTHING: a re-sent feedback item is stored once."""
    if dialect == "postgresql":
        return postgresql.insert(schema.feedback).on_conflict_do_nothing(constraint="uq_feedback_item")
    if dialect == "sqlite":
        return sqlite.insert(schema.feedback).on_conflict_do_nothing()
    raise NotImplementedError(f"feedback storage supports SQLite and PostgreSQL, not {dialect}")
