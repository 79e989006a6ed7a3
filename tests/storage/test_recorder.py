"""The audit trail and feedback store against real SQLite and real PostgreSQL.

What an informatics team and a privacy officer rely on: every hook call leaves a row with its
cards, patients appear only as a keyed hash, feedback is checked against what was really
shown, a re-sent item is stored once, and a database outage loses audit rows (counted, logged)
but never blocks the caller.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from cds_service.settings import Settings
from cds_service.storage import FeedbackEntry, NullRecorder, create_recorder, patient_pseudonym
from cds_service.storage import schema as tables
from cds_service.storage.db import make_engine, run_migrations
from cds_service.storage.recorder import SqlRecorder
from tests.support.storage import SECRET, card, database_url, hook_call  # noqa: F401

MIGRATIONS = Path(tables.__file__).parent / "migrations" / "versions"

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def recorder(database_url: str) -> Iterator[SqlRecorder]:  # noqa: F811
    rec = SqlRecorder(database_url, SECRET)
    asyncio.run(rec.start())
    assert rec.schema_ready
    yield rec
    asyncio.run(rec.aclose())


def feedback(card_uuid: str, outcome: str = "overridden", **kw) -> FeedbackEntry:  # type: ignore[no-untyped-def]
    kw.setdefault("outcome_at", NOW)
    return FeedbackEntry(card_uuid=card_uuid, outcome=outcome, **kw)


def store(rec: SqlRecorder, entries: list[FeedbackEntry], service_id: str = "muscle-spasm-order-sign"):  # type: ignore[no-untyped-def]
    return asyncio.run(rec.record_feedback(service_id, entries, "https://ehr.example.org"))


# ---------------------------------------------------------------------------- migrations


def test_migrations_build_every_table_from_an_empty_database_and_rerun_cleanly(database_url: str) -> None:  # noqa: F811
    engine = make_engine(database_url)
    try:
        assert inspect(engine).get_table_names() == []
        run_migrations(engine)
        run_migrations(engine)  # a second instance starting later: no-op
        names = set(inspect(engine).get_table_names())
        assert set(tables.metadata.tables) | {"alembic_version"} == names
        for table in tables.metadata.tables.values():  # the migrations build what the code reads and writes
            columns = {c["name"] for c in inspect(engine).get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
        with engine.connect() as conn:
            head = sorted(p.stem.split("_", 1)[0] for p in MIGRATIONS.glob("0*.py"))[-1]
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
        uniques = {u["name"] for u in inspect(engine).get_unique_constraints("seen_jti")}
        assert "uq_seen_jti_issuer_jti" in uniques
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_table_definitions_the_code_uses(database_url: str) -> None:  # noqa: F811
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(database_url)
    try:
        run_migrations(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), tables.metadata)
        assert diff == [], f"schema.py and the migrations disagree: {diff}"
    finally:
        engine.dispose()


def test_default_sqlite_file_is_created_on_first_start(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    settings = Settings(dev=True, patient_hash_secret=SECRET)  # default URL: ./cds_service.db
    rec = create_recorder(settings)
    asyncio.run(rec.start())
    asyncio.run(rec.aclose())
    assert (tmp_path / "cds_service.db").exists()


def test_storage_disabled_gives_the_null_recorder() -> None:
    assert isinstance(create_recorder(Settings(storage_enabled=False)), NullRecorder)


# ---------------------------------------------------------------------------- audit trail


def test_every_hook_call_leaves_an_audit_row_with_its_cards(recorder: SqlRecorder) -> None:
    titration = card("baclofen-titration", suggestions=("s-1",))
    washout = card("serotonergic-combination", indicator="critical")
    recorder.record_hook_call(hook_call(titration, washout, latency_ms=87.5))
    recorder.record_hook_call(hook_call(service_id="muscle-spasm-patient-view"))  # no cards
    recorder.record_hook_call(hook_call(outcome="412", patient_id="pat2"))
    assert recorder.flush()
    assert recorder.stats() == {"pending": 0, "written": 3, "spooled": 0, "replayed": 0, "lost": 0, "database": "up"}

    with recorder.engine.connect() as conn:
        calls = conn.execute(select(tables.hook_call).order_by(tables.hook_call.c.id)).mappings().all()
        cards = conn.execute(select(tables.card_shown).order_by(tables.card_shown.c.id)).mappings().all()
    assert [c["outcome"] for c in calls] == ["ok", "ok", "412"]
    assert [c["service_id"] for c in calls][:2] == ["muscle-spasm-order-sign", "muscle-spasm-patient-view"]
    assert calls[0]["latency_ms"] == pytest.approx(87.5)
    assert calls[0]["hook"] == "order-sign" and calls[0]["client"] == "https://ehr.example.org"
    assert [(c["card_uuid"], c["topic"], c["indicator"]) for c in cards] == [
        (titration.uuid, "baclofen-titration", "warning"),
        (washout.uuid, "serotonergic-combination", "critical"),
    ]
    assert cards[0]["summary"] == "baclofen-titration summary"
    assert cards[0]["suggestion_uuids"] == "s-1"
    assert all(c["hook_call_id"] == calls[0]["id"] for c in cards)
    # SQLite rows are written as hand-rendered multi-row INSERTs: the types read back as SQLAlchemy's own
    assert calls[0]["received_at"].replace(tzinfo=UTC) == cards[0]["shown_at"].replace(tzinfo=UTC)
    assert isinstance(calls[0]["received_at"], datetime) and isinstance(cards[0]["suppressed"], bool)
    assert cards[0]["suppressed"] is False and cards[1]["override_reasons"].startswith("[")


def test_patient_is_stored_only_as_a_keyed_hash(recorder: SqlRecorder) -> None:
    patient_id = "erXuFYUfucBZaryVksYEcMg3"  # an Epic-style FHIR id
    recorder.record_hook_call(hook_call(card(), patient_id=patient_id))
    assert recorder.flush()
    expected = hmac.new(SECRET.encode(), patient_id.encode(), hashlib.sha256).hexdigest()
    with recorder.engine.connect() as conn:
        stored = conn.execute(select(tables.hook_call.c.patient_hash)).scalar()
        every_value = [
            str(value)
            for table in (tables.hook_call, tables.card_shown)
            for row in conn.execute(select(table))
            for value in row
        ]
    assert stored == expected
    assert not any(patient_id in value for value in every_value)


def test_pseudonym_is_stable_per_secret_and_differs_across_secrets() -> None:
    assert patient_pseudonym("pat1", "secret-a") == patient_pseudonym("pat1", "secret-a")
    assert patient_pseudonym("pat1", "secret-a") != patient_pseudonym("pat1", "secret-b")
    assert patient_pseudonym("pat1", "secret-a") != patient_pseudonym("pat2", "secret-a")
    assert len(patient_pseudonym("pat1", "secret-a") or "") == 64
    assert patient_pseudonym(None, "secret-a") is None


def test_same_patient_links_across_calls_without_revealing_who(recorder: SqlRecorder) -> None:
    recorder.record_hook_call(hook_call(patient_id="pat1"))
    recorder.record_hook_call(hook_call(patient_id="pat1"))
    recorder.record_hook_call(hook_call(patient_id="pat2"))
    assert recorder.flush()
    with recorder.engine.connect() as conn:
        hashes = conn.execute(select(tables.hook_call.c.patient_hash).order_by(tables.hook_call.c.id)).scalars().all()
    assert hashes[0] == hashes[1] != hashes[2]


# ---------------------------------------------------------------------------- feedback


def test_feedback_round_trip_override_with_reason(recorder: SqlRecorder) -> None:
    shown = card(reasons=(("will-monitor", "Will monitor the patient closely"),))
    recorder.record_hook_call(hook_call(shown))
    assert recorder.flush()
    result = store(
        recorder, [feedback(shown.uuid, reason_code="will-monitor", reason_system="urn:x", has_comment=True)]
    )
    assert (result.stored, result.duplicates, result.problems) == (1, 0, ())
    with recorder.engine.connect() as conn:
        row = conn.execute(select(tables.feedback)).mappings().one()
    assert row["card_uuid"] == shown.uuid and row["outcome"] == "overridden"
    assert row["reason_code"] == "will-monitor"
    # The client sent no display (as the sandbox does): it comes from the card's own reasons.
    assert row["reason_display"] == "Will monitor the patient closely"
    assert row["has_comment"] is True


def test_feedback_for_a_card_still_in_the_write_queue_is_found(recorder: SqlRecorder) -> None:
    shown = card(suggestions=("s-1",))
    recorder.record_hook_call(hook_call(shown))  # no flush: feedback races the writer
    result = store(recorder, [feedback(shown.uuid, "accepted", accepted_suggestions=("s-1",))])
    assert result.stored == 1 and not result.problems


def test_repeated_identical_feedback_is_stored_once(recorder: SqlRecorder) -> None:
    shown = card(suggestions=("s-1",))
    recorder.record_hook_call(hook_call(shown))
    assert recorder.flush()
    item = feedback(shown.uuid, "accepted", accepted_suggestions=("s-1",))
    assert store(recorder, [item]).stored == 1
    again = store(recorder, [item, item])
    assert (again.stored, again.duplicates) == (0, 2)
    # A later, different outcome on the same card is new information and is kept.
    later = feedback(shown.uuid, "overridden", outcome_at=NOW + timedelta(minutes=1))
    assert store(recorder, [later]).stored == 1
    with recorder.engine.connect() as conn:
        assert conn.execute(select(tables.feedback.c.outcome).order_by(tables.feedback.c.id)).scalars().all() == [
            "accepted",
            "overridden",
        ]


def test_unknown_card_or_other_service_card_is_refused_and_nothing_stored(recorder: SqlRecorder) -> None:
    shown = card()
    recorder.record_hook_call(hook_call(shown, service_id="muscle-spasm-order-select"))
    assert recorder.flush()
    result = store(
        recorder, [feedback(shown.uuid), feedback("never-issued", index=1)], service_id="muscle-spasm-order-sign"
    )
    assert result.stored == 0
    assert [(p.index, p.field, p.not_found) for p in result.problems] == [(0, "card", True), (1, "card", True)]
    with recorder.engine.connect() as conn:
        assert conn.execute(select(tables.feedback)).all() == []


def test_accepting_a_suggestion_the_card_did_not_carry_is_refused(recorder: SqlRecorder) -> None:
    shown = card(suggestions=("s-1",))
    other = card()
    recorder.record_hook_call(hook_call(shown, other))
    assert recorder.flush()
    result = store(
        recorder,
        [feedback(other.uuid), feedback(shown.uuid, "accepted", accepted_suggestions=("s-1", "s-9"), index=1)],
    )
    assert result.stored == 0  # all or nothing: the valid override is not stored either
    assert [(p.index, p.field, p.not_found) for p in result.problems] == [(1, "acceptedSuggestions[1].id", False)]


# ---------------------------------------------------------------------------- retention


def test_purge_removes_rows_older_than_retention_and_keeps_recent_ones(recorder: SqlRecorder) -> None:
    old, recent = card(), card()
    recorder.record_hook_call(hook_call(old, at=NOW - timedelta(days=400)))
    recorder.record_hook_call(hook_call(recent, at=NOW - timedelta(days=10)))
    assert recorder.flush()
    assert store(recorder, [feedback(recent.uuid)]).stored == 1
    asyncio.run(recorder.replay_cache.check_and_store("j1", "iss", NOW - timedelta(days=1)))
    counts = recorder.purge(365, now=NOW)
    assert counts == {"hook_calls": 1, "cards": 1, "feedback": 0, "expired_jtis": 1}
    with recorder.engine.connect() as conn:
        assert conn.execute(select(tables.card_shown.c.card_uuid)).scalars().all() == [recent.uuid]
        assert len(conn.execute(select(tables.feedback)).all()) == 1


# ---------------------------------------------------------------------------- outages


@pytest.mark.parametrize(
    "unreachable_url",
    [
        pytest.param("postgresql+psycopg://postgres@127.0.0.1:9/test", id="postgres-closed-port"),
        pytest.param("sqlite:///{tmp}/a-file/audit.db", id="sqlite-path-under-a-file"),
    ],
)
def test_unreachable_database_neither_blocks_nor_raises_and_counts_the_loss(unreachable_url, caplog, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a-file").write_text("not a directory")
    rec = SqlRecorder(unreachable_url.format(tmp=tmp_path), SECRET)
    caplog.set_level(logging.ERROR, logger="cds_service.storage")
    asyncio.run(rec.start())  # the service starts anyway
    assert not rec.schema_ready
    started = time.perf_counter()
    for _ in range(50):
        rec.record_hook_call(hook_call(card(), patient_id="pat-secret-id"))
    enqueue_seconds = time.perf_counter() - started
    assert rec.flush(timeout=30)
    asyncio.run(rec.aclose())
    assert rec.dropped == 50 and rec.written == 0
    assert "lost" in caplog.text
    assert "pat-secret-id" not in caplog.text
    print(f"50 record_hook_call() with the database down: {1000 * enqueue_seconds:.2f} ms in total")


def test_database_failing_mid_run_loses_only_the_failed_writes(recorder: SqlRecorder, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.ERROR, logger="cds_service.storage")
    recorder.record_hook_call(hook_call(card()))
    assert recorder.flush()
    with recorder.engine.begin() as conn:  # the table disappears under the writer
        conn.execute(text("ALTER TABLE card_shown RENAME TO card_shown_away"))
    recorder.record_hook_call(hook_call(card()))
    assert recorder.flush()
    assert (recorder.written, recorder.dropped) == (1, 1)
    assert "lost 1 hook-call record" in caplog.text
    with recorder.engine.begin() as conn:  # the database comes back
        conn.execute(text("ALTER TABLE card_shown_away RENAME TO card_shown"))
    recorder.record_hook_call(hook_call(card()))
    assert recorder.flush()
    assert (recorder.written, recorder.dropped) == (2, 1)


def test_full_queue_drops_and_counts_instead_of_blocking() -> None:
    rec = SqlRecorder("sqlite:///:memory:", SECRET, queue_size=2)  # writer never started
    for _ in range(5):
        rec.record_hook_call(hook_call(card()))
    assert rec.dropped == 3 and rec.pending == 2


def test_health_reports_the_audit_counters(tmp_path: Path) -> None:
    """Operations see lost audit records without reading logs."""
    from fastapi.testclient import TestClient

    from cds_service.app import create_app
    from cds_service.settings import load_settings

    settings = load_settings(dev=True, database_url=f"sqlite:///{tmp_path}/health.db")
    with TestClient(create_app(settings)) as client:
        audit = client.get("/health").json()["audit"]
    assert set(audit) == {"pending", "written", "spooled", "replayed", "lost", "database"}
    assert audit["lost"] == 0


def test_a_batch_of_calls_is_written_in_a_few_statements_with_cards_linked_to_their_call(
    recorder: SqlRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each statement gives up the GIL; a per-row writer starves under load and loses records.
    (PostgreSQL writes with COPY, on the driver's cursor: counted there.)"""
    from sqlalchemy import event

    statements: list[str] = []
    event.listen(recorder.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    if recorder.engine.dialect.name == "postgresql":
        import psycopg

        real_copy = psycopg.Cursor.copy
        monkeypatch.setattr(
            psycopg.Cursor,
            "copy",
            lambda cur, sql, *a, **k: (statements.append(str(sql)), real_copy(cur, sql, *a, **k))[1],
        )
    import dataclasses
    import uuid

    calls = [hook_call(card("baclofen-titration"), card("electrolyte-potassium")) for _ in range(150)]
    # a client retry repeats a hookInstance inside the batch: its cards must still link to its own row
    # (a retry is a new request, so a record of its own: its own record_key)
    calls.insert(75, dataclasses.replace(calls[10], cards=(card("sedation-risk"),), record_key=uuid.uuid4().hex))
    recorder._write_batch(calls)  # one batch, as the writer thread forms it
    writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "COPY"))]
    assert 2 <= len(writes) <= 10, len(writes)
    with recorder.engine.connect() as conn:
        rows = conn.execute(
            select(tables.card_shown.c.card_uuid, tables.hook_call.c.hook_instance).join(
                tables.hook_call, tables.card_shown.c.hook_call_id == tables.hook_call.c.id
            )
        ).all()
    linked = {(card_uuid, instance) for card_uuid, instance in rows}
    expected = {(c.uuid, call.hook_instance) for call in calls for c in call.cards}
    assert linked == expected and len(rows) == 301
    with recorder.engine.connect() as conn:
        per_call = conn.execute(
            select(tables.card_shown.c.hook_call_id).group_by(tables.card_shown.c.hook_call_id)
        ).all()
    assert len(per_call) == 151  # the retry has its own audit row


def test_feedback_on_another_clients_card_is_refused_as_unknown(recorder: SqlRecorder) -> None:
    """One hospital's client cannot record outcomes on cards shown to another's clinicians."""
    shown = card()
    recorder.record_hook_call(hook_call(shown))  # issued to https://ehr.example.org
    assert recorder.flush()
    other = asyncio.run(
        recorder.record_feedback("muscle-spasm-order-sign", [feedback(shown.uuid)], "https://other-ehr.example.org")
    )
    assert other.stored == 0 and other.problems[0].not_found
    assert "was not issued" in other.problems[0].message
    assert store(recorder, [feedback(shown.uuid)]).stored == 1  # the client it was shown to may
