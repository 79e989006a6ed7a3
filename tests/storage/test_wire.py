"""Records travel to the audit writer process as JSON (issue 22: cheaper than pickling them): what
an auditor reads must not depend on the way a row travelled. The writer process stores exactly the
row the in-process writer would, and a record that JSON cannot carry still arrives (pickled)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from cds_service.settings import load_settings
from cds_service.storage import CardRecord, create_recorder, schema
from cds_service.storage.sql_writes import audit_row, wire_row
from cds_service.storage.wire import decode_records, encode_records
from tests.support.storage import SECRET, card, database_url, hook_call  # noqa: F401


def _full_card() -> CardRecord:
    return replace(
        card("cyclobenzaprine-duration", suggestions=("s-1", "s-2"), reasons=(("will-monitor", "Will monitor"),)),
        summary="Patient aged 93: “limit” cyclobenzaprine to 21 days (95-year-old)",
        suppression_key="a" * 64,
        repeat_key="b" * 64,
        decision_key="c" * 64,
        intents='{"s-1":{"order":"d","remove":true,"label":"Remove the draft — é"}}',
        suppressed=True,
    )


def test_a_record_sent_as_json_becomes_the_row_the_in_process_writer_stores() -> None:
    base = replace(hook_call(_full_card(), card("electrolyte-monitoring")), drafts='[{"order":"d","rxcui":"1"}]')
    records = [
        base,
        replace(base, received_at=datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))),
        replace(base, received_at=datetime(2026, 3, 1, 9, 30, 0, 7), patient_id=None, client=None, latency_ms=3),
        replace(base, hook_instance="h" * 300, cards=()),
    ]
    for record, entry in zip(records, decode_records(encode_records(records)), strict=True):
        assert wire_row(entry, SECRET) == audit_row(record, SECRET)
    assert audit_row(records[0], SECRET)["cards"][0]["summary"].startswith("Patient aged 90+")


def test_a_record_json_cannot_carry_is_still_written_by_the_writer_process(
    database_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = load_settings(
        dev=True, database_url=database_url, patient_hash_secret=SECRET, audit_spool_dir=tmp_path / "spool"
    )
    recorder = create_recorder(settings)
    odd = replace(hook_call(card()), latency_ms=Decimal("12.5"))  # type: ignore[arg-type]

    async def run() -> None:
        await recorder.start()
        try:
            recorder.record_hook_call(hook_call(_full_card()))
            recorder.record_hook_call(odd)
            assert recorder.flush(timeout=30)
        finally:
            await recorder.aclose()

    asyncio.run(run())
    engine = recorder.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        latencies = sorted(conn.execute(select(schema.hook_call.c.latency_ms)).scalars())
        summaries = set(conn.execute(select(schema.card_shown.c.summary)).scalars())
    assert latencies == [12.5, 42.0]
    assert any(summary.startswith("Patient aged 90+") for summary in summaries)
    assert recorder.stats()["lost"] == 0  # type: ignore[index]


def test_a_failed_postgres_copy_is_raised_as_the_database_error_the_writer_knows(
    database_url: str,  # noqa: F811
) -> None:
    """PostgreSQL takes the batch by COPY on the driver's cursor; its failures must still be SQLAlchemy
    errors (the writer's gate trips its breaker on their class), logged without a row's values."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from cds_service.storage.db import describe_db_error, make_engine, run_migrations
    from cds_service.storage.sql_writes import insert_rows

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writes with multi-row INSERTs")
    engine = make_engine(database_url)
    run_migrations(engine)
    rows = [audit_row(hook_call(_full_card()), SECRET) for _ in range(3)]
    with engine.begin() as conn:
        assert insert_rows(conn, rows, False) == 3
    with pytest.raises(IntegrityError) as raised, engine.begin() as conn:
        insert_rows(conn, rows, False)
    assert rows[0]["record_key"] not in describe_db_error(raised.value)  # what the writer logs
    with engine.begin() as conn:  # the replay leaves out what is stored, and writes the rest once
        assert insert_rows(conn, [*rows, audit_row(hook_call(card()), SECRET)], True) == 1
    engine.dispose()
