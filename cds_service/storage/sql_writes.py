"""The audit trail's SQL: a batch of hook calls in a few statements, the spool's row format, override
reads and upserts, retention. Plain functions of a connection or engine, shared by the in-process
writer thread and the writer process (`storage.writer_process`)."""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Engine, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from cds_service.storage import schema
from cds_service.storage.db import utc
from cds_service.storage.records import HookCallRecord, patient_pseudonym, scrub_ages

# Rows per multi-row INSERT: 500 card rows of 15 columns stay far below SQLite's 32,766 bound
# variables (SQLite ≥ 3.32) and PostgreSQL's 65,535.
_ROWS_PER_STATEMENT = 500
SUPPRESSION_OVERLAP = timedelta(seconds=10)  # re-read this much before the newest row seen (clocks, late commits)


class _InsertPlan(NamedTuple):
    head: str  # INSERT INTO t (columns) VALUES
    one_row: str  # (?,?,…)
    defaults: tuple[Any, ...]  # each column's scalar default (for a row that lacks the column)
    get_all: Callable[[dict[str, Any]], tuple[Any, ...]]  # a full row's values in column order (C)
    processed: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, bind processor) where there is one


@functools.lru_cache(maxsize=64)
def _insert_plan(table: Table, names: tuple[str, ...], dialect: Any) -> _InsertPlan:
    """What rendering a multi-row INSERT into `names` needs, once per column set (building the bind
    processors anew for each statement cost about as much as the rows' values)."""
    columns = [table.c[name] for name in names]
    processors = [column.type.bind_processor(dialect) for column in columns]
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    return _InsertPlan(
        head=f"INSERT INTO {quote(table.name)} ({','.join(quote(n) for n in names)}) VALUES ",
        one_row="(" + ",".join([mark] * len(names)) + ")",
        defaults=tuple(c.default.arg if c.default is not None and c.default.is_scalar else None for c in columns),
        get_all=operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],),
        processed=tuple((i, p) for i, p in enumerate(processors) if p is not None),
    )


def multirow_insert(conn, table: Table, rows: list[dict[str, Any]], returning: str = ""):  # type: ignore[no-untyped-def]
    """`rows` in one multi-row INSERT (SQLite: one `sqlite3_step`, one release of the GIL; PostgreSQL:
    one round trip), rendered here with the columns' own bind processors: SQLAlchemy's
    `insert().values([...])` compiled each row's parameters anew, 7 times the CPU of the whole batch
    (73 against 11 ms for 200 calls). Rows usually share their keys (read in C, `get_all`); a row
    that lacks one (a spool line of an older version) gets the column's default."""
    keys = rows[0].keys()
    uniform = all(row.keys() == keys for row in rows)
    names = tuple(keys) if uniform else tuple(dict.fromkeys(name for row in rows for name in row))
    plan = _insert_plan(table, names, conn.dialect)
    params: list[Any] = []
    for row in rows:
        values = plan.get_all(row) if uniform else [row.get(n, d) for n, d in zip(names, plan.defaults, strict=True)]
        if plan.processed:
            values = list(values)
            for position, processor in plan.processed:
                if values[position] is not None:
                    values[position] = processor(values[position])
        params.extend(values)
    sql = plan.head + ",".join([plan.one_row] * len(rows)) + (f" RETURNING {returning}" if returning else "")
    return conn.exec_driver_sql(sql, tuple(params))


def insert_rows(conn, rows: list[dict[str, Any]], skip_existing: bool) -> int:  # type: ignore[no-untyped-def]
    """A whole batch in a few statements (calls, then their cards; 500 rows a statement at most).

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
    if conn.dialect.name == "postgresql":
        return copy_rows(conn, rows)
    calls = []
    cards = []
    for row in rows:
        received_at = datetime.fromisoformat(row["received_at"])
        calls.append({**row, "received_at": received_at})
        del calls[-1]["cards"]
    ids = insert_calls(conn, calls)
    for row, call in zip(rows, calls, strict=True):
        call_id, service_id, shown_at = ids[row["record_key"]], row["service_id"], call["received_at"]
        for card in row["cards"]:
            cards.append({**card, "hook_call_id": call_id, "service_id": service_id, "shown_at": shown_at})
    for start in range(0, len(cards), _ROWS_PER_STATEMENT):
        multirow_insert(conn, schema.card_shown, cards[start : start + _ROWS_PER_STATEMENT])
    return len(rows)


_CALL_COLUMNS = tuple(c.name for c in schema.hook_call.columns if c.name != "id")
_CARD_COLUMNS = tuple(c.name for c in schema.card_shown.columns if c.name != "id")
# Spool lines of an older version may lack a newer column: its default, as the INSERT applies it.
_CARD_DEFAULTS = {
    c.name: c.default.arg for c in schema.card_shown.columns if c.default is not None and c.default.is_scalar
}


def copy_rows(conn, rows: list[dict[str, Any]]) -> int:  # type: ignore[no-untyped-def]
    """PostgreSQL: the batch with COPY (rows encoded by psycopg in C), in the caller's transaction.
    Measured on 200-call batches: 20 µs of the writer's CPU per call, against 108 for a multi-row
    INSERT, whose thousands of placeholders psycopg parses in Python. A record key already stored
    fails the COPY as it failed the INSERT (the replay leaves those out first)."""
    cursor = conn.connection.dbapi_connection.cursor()
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        calls = [datetime.fromisoformat(row["received_at"]) for row in rows]
        with cursor.copy(f"COPY hook_call ({','.join(_CALL_COLUMNS)}) FROM STDIN") as copy:
            for row, received_at in zip(rows, calls, strict=True):
                copy.write_row([received_at if name == "received_at" else row.get(name) for name in _CALL_COLUMNS])
        cursor.execute(
            "SELECT record_key, id FROM hook_call WHERE record_key = ANY(%s)", ([row["record_key"] for row in rows],)
        )
        ids = dict(cursor.fetchall())
        with cursor.copy(f"COPY card_shown ({','.join(_CARD_COLUMNS)}) FROM STDIN") as copy:
            for row, shown_at in zip(rows, calls, strict=True):
                call = {"hook_call_id": ids[row["record_key"]], "service_id": row["service_id"], "shown_at": shown_at}
                for card in row["cards"]:
                    values = _CARD_DEFAULTS | card | call
                    copy.write_row([values.get(name) for name in _CARD_COLUMNS])
    except dbapi_error as exc:  # as SQLAlchemy raises it for a statement: the gate's breaker reads its class
        raise DBAPIError.instance(
            "COPY audit rows", None, exc, dbapi_error, hide_parameters=True, dialect=conn.dialect
        ) from exc
    finally:
        cursor.close()
    return len(rows)


def insert_calls(conn, calls: list[dict[str, Any]]) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Insert the hook calls; their ids by record key.

    On SQLite each row a statement returns is one `sqlite3_step`, and the driver releases and
    re-takes the GIL around every step: while the event loop keeps the GIL busy with hook calls,
    each re-take waits up to the switch interval, and a batch whose rows came back one by one
    (RETURNING) made the writer fall behind the calls under load. So one multi-row INSERT per
    chunk, and the ids come back packed in a single row. PostgreSQL returns them with the INSERT.
    """
    ids: dict[str, int] = {}
    for start in range(0, len(calls), _ROWS_PER_STATEMENT):
        chunk = calls[start : start + _ROWS_PER_STATEMENT]
        if conn.dialect.name != "sqlite":
            for call_id, key in multirow_insert(conn, schema.hook_call, chunk, "id, record_key").all():
                ids[key] = call_id
            continue
        multirow_insert(conn, schema.hook_call, chunk)
        packed = conn.exec_driver_sql(
            "SELECT group_concat(record_key || ' ' || CAST(id AS TEXT), ',') FROM hook_call WHERE record_key IN ("
            + ",".join("?" * len(chunk))
            + ")",
            tuple(call["record_key"] for call in chunk),
        ).scalar()
        for pair in (packed or "").split(","):
            key, _, call_id = pair.partition(" ")
            if call_id:
                ids[key] = int(call_id)
    return ids


def wire_row(entry: dict[str, Any], secret: str) -> dict[str, Any]:
    """`audit_row` of a record as it travels to the writer process (`storage.wire`: orjson of the
    dataclass): the same row, built from the decoded mapping, never a `HookCallRecord` again."""
    received_at = datetime.fromisoformat(entry["received_at"])
    client = entry["client"]
    return {
        "record_key": entry["record_key"][:64],
        "hook_instance": entry["hook_instance"][:200],
        "service_id": entry["service_id"][:200],
        "hook": entry["hook"][:100],
        "client": (client or None) and client[:500],
        "patient_hash": patient_pseudonym(entry["patient_id"], secret),
        "received_at": utc(received_at).isoformat(),
        "latency_ms": float(entry["latency_ms"]),
        "outcome": entry["outcome"][:16],
        "drafts": entry["drafts"],
        "cards": [
            {
                "card_uuid": card["uuid"][:200],
                "topic": card["topic"],
                "indicator": card["indicator"],
                "summary": scrub_ages(card["summary"])[:300],
                "suggestion_uuids": " ".join(card["suggestion_uuids"]),
                "override_reasons": json.dumps(card["override_reasons"]),
                "suppression_key": card["suppression_key"],
                "suppressed": card["suppressed"],
                "repeat_key": card["repeat_key"],
                "decision_key": card["decision_key"],
                "intents": card["intents"],
                "not_repeated": card["not_repeated"],
            }
            for card in entry["cards"]
        ],
    }


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
