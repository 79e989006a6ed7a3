"""Alert-fatigue report numbers for a known set of events, on SQLite and PostgreSQL, and the
`cds-service report` / `purge` commands an informatics analyst runs."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from cds_service.cli import main as cli_main
from cds_service.storage import FeedbackEntry
from cds_service.storage.recorder import SqlRecorder
from cds_service.storage.report import build_report, format_csv, format_json, format_table
from tests.support.storage import SECRET, card, database_url, hook_call  # noqa: F401

# A week ago, so the purge test (retention counted from the real clock) removes them all.
DAY1 = datetime.now(UTC).date() - timedelta(days=7)
DAY2 = DAY1 + timedelta(days=1)
D1 = datetime(DAY1.year, DAY1.month, DAY1.day, 9, 30, tzinfo=UTC)
D2 = datetime(DAY2.year, DAY2.month, DAY2.day, 16, 5, tzinfo=UTC)
START1 = D1.replace(hour=0, minute=0)
START2 = D2.replace(hour=0, minute=0)
SIGN, SELECT = "muscle-spasm-order-sign", "muscle-spasm-order-select"
WILL_MONITOR = ("will-monitor", "Will monitor the patient closely")
BENEFIT = ("benefit-outweighs-risk", "Benefit outweighs risk for this patient")


def _fb(card_uuid: str, outcome: str, at: datetime, **kw) -> FeedbackEntry:  # type: ignore[no-untyped-def]
    return FeedbackEntry(card_uuid=card_uuid, outcome=outcome, outcome_at=at + timedelta(minutes=2), **kw)


@pytest.fixture
def known_events(database_url: str) -> Iterator[SqlRecorder]:  # noqa: F811
    """Eight cards since D1 (one older card outside the window) and what clinicians did with them."""
    rec = SqlRecorder(database_url, SECRET)
    asyncio.run(rec.start())
    t1 = card("baclofen-titration", suggestions=("s1",), reasons=(WILL_MONITOR,))
    t2 = card("baclofen-titration", suggestions=("s2",), reasons=(WILL_MONITOR,))
    t3 = card("baclofen-titration", suggestions=("s3",), reasons=(WILL_MONITOR,))
    t4 = card("baclofen-titration", suggestions=("s4",))
    sero = [card("serotonergic-combination", indicator="critical", reasons=(BENEFIT,)) for _ in range(3)]
    epic = card("baclofen-titration")
    old = card("baclofen-titration")
    rec.record_hook_call(hook_call(old, at=D1 - timedelta(days=5)))
    rec.record_hook_call(hook_call(t1, t2, sero[0], at=D1, latency_ms=100))
    rec.record_hook_call(hook_call(t3, t4, sero[1], sero[2], at=D2, latency_ms=300))
    rec.record_hook_call(hook_call(at=D2, outcome="412", latency_ms=20))
    rec.record_hook_call(hook_call(epic, service_id=SELECT, at=D2))
    assert rec.flush()

    def store(service: str, *entries: FeedbackEntry) -> None:
        # feedback comes from the client the cards were shown to
        result = asyncio.run(rec.record_feedback(service, list(entries), "https://ehr.example.org"))
        assert not result.problems, result.problems

    store(SIGN, _fb(t1.uuid, "accepted", D1, accepted_suggestions=("s1",)))
    store(SIGN, _fb(t2.uuid, "overridden", D1, reason_code="will-monitor"))  # display from the card
    store(SIGN, _fb(t3.uuid, "overridden", D2, reason_code="will-monitor"))
    store(SIGN, _fb(t3.uuid, "accepted", D2 + timedelta(minutes=5), accepted_suggestions=("s3",)))  # changed mind
    store(SIGN, _fb(sero[0].uuid, "overridden", D1, reason_code=BENEFIT[0]))
    store(SIGN, _fb(sero[1].uuid, "overridden", D2, reason_code=BENEFIT[0], has_comment=True))
    store(SIGN, _fb(sero[2].uuid, "overridden", D2))  # dismissed without a reason
    store(
        SELECT,
        _fb(epic.uuid, "overridden", D2, reason_code="45", reason_display="Does not meet criteria"),
    )
    store(SIGN, _fb(old.uuid, "overridden", D1 - timedelta(days=5)))  # outside the window
    yield rec
    asyncio.run(rec.aclose())


def _by_key(report) -> dict:  # type: ignore[no-untyped-def]
    return {(t.service_id, t.topic): t for t in report.topics}


def test_report_counts_each_card_once_with_its_latest_outcome(known_events: SqlRecorder) -> None:
    report = build_report(known_events.engine, since=START1)
    rows = _by_key(report)
    assert set(rows) == {
        (SIGN, "baclofen-titration"),
        (SIGN, "serotonergic-combination"),
        (SELECT, "baclofen-titration"),
    }

    titration = rows[(SIGN, "baclofen-titration")]
    assert (titration.shown, titration.accepted, titration.overridden, titration.no_feedback) == (4, 2, 1, 1)
    assert [(r.display, r.count) for r in titration.top_reasons] == [("Will monitor the patient closely", 1)]

    sero = rows[(SIGN, "serotonergic-combination")]
    assert (sero.shown, sero.accepted, sero.overridden, sero.no_feedback) == (3, 0, 3, 0)
    assert sero.override_rate == pytest.approx(1.0)
    assert [(r.display, r.count) for r in sero.top_reasons] == [
        ("Benefit outweighs risk for this patient", 2),
        ("(no reason given)", 1),
    ]

    epic = rows[(SELECT, "baclofen-titration")]
    assert (epic.shown, epic.overridden) == (1, 1)
    assert [(r.code, r.display) for r in epic.top_reasons] == [("45", "Does not meet criteria")]


def test_report_rolls_up_per_topic_and_per_service_and_per_day(known_events: SqlRecorder) -> None:
    report = build_report(known_events.engine, since=START1)
    topics = {t.topic: (t.shown, t.accepted, t.overridden) for t in report.by_topic()}
    assert topics == {"baclofen-titration": (5, 2, 2), "serotonergic-combination": (3, 0, 3)}
    services = {t.service_id: (t.shown, t.accepted, t.overridden) for t in report.by_service()}
    assert services == {SIGN: (7, 2, 4), SELECT: (1, 0, 1)}
    daily = {(d.day, d.service_id, d.topic): (d.shown, d.accepted, d.overridden) for d in report.daily}
    assert daily == {
        (DAY1, SIGN, "baclofen-titration"): (2, 1, 1),
        (DAY1, SIGN, "serotonergic-combination"): (1, 0, 1),
        (DAY2, SIGN, "baclofen-titration"): (2, 1, 0),
        (DAY2, SIGN, "serotonergic-combination"): (2, 0, 2),
        (DAY2, SELECT, "baclofen-titration"): (1, 0, 1),
    }
    calls = {s.service_id: s for s in report.services}
    assert calls[SIGN].calls == 3 and calls[SIGN].by_outcome == {"ok": 2, "412": 1}
    assert calls[SIGN].mean_latency_ms == pytest.approx(140.0)


def test_report_since_excludes_earlier_cards(known_events: SqlRecorder) -> None:
    everything = build_report(known_events.engine, since=START1 - timedelta(days=10))
    assert _by_key(everything)[(SIGN, "baclofen-titration")].shown == 5
    only_d2 = build_report(known_events.engine, since=START2)
    assert _by_key(only_d2)[(SIGN, "baclofen-titration")].shown == 2


def test_output_formats_carry_the_same_numbers(known_events: SqlRecorder) -> None:
    report = build_report(known_events.engine, since=START1)
    rows = list(csv.DictReader(io.StringIO(format_csv(report))))
    sero = next(r for r in rows if r["topic"] == "serotonergic-combination")
    assert (sero["shown"], sero["overridden"], sero["override_rate"]) == ("3", "3", "1.0000")
    assert sero["top_override_reasons"] == "Benefit outweighs risk for this patient (2); (no reason given) (1)"
    data = json.loads(format_json(report))
    assert {(t["service_id"], t["topic"], t["overridden"]) for t in data["topics"]} == {
        (SIGN, "baclofen-titration", 1),
        (SIGN, "serotonergic-combination", 3),
        (SELECT, "baclofen-titration", 1),
    }
    table = format_table(report)
    assert "serotonergic-combination" in table and "100%" in table and "Does not meet criteria (1)" in table


def test_cli_report_and_purge(known_events: SqlRecorder, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    monkeypatch.setenv("CDS_DATABASE_URL", known_events.database_url)
    assert cli_main(["report", "--since", DAY1.isoformat(), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sum(t["shown"] for t in data["topics"]) == 8
    assert cli_main(["report", "--since", DAY1.isoformat(), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("service_id,topic,shown,accepted,overridden")

    # Every event is at least 6 days old: a 1-day retention purges them all.
    monkeypatch.setenv("CDS_AUDIT_RETENTION_DAYS", "1")
    assert cli_main(["purge"]) == 0
    assert "5 hook calls" in capsys.readouterr().out
    assert cli_main(["report", "--since", "2000-01-01", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["topics"] == []


def test_cli_rejects_a_bad_date(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        cli_main(["report", "--since", "last tuesday"])
    assert exc.value.code == 2
    assert "not a date" in capsys.readouterr().err
