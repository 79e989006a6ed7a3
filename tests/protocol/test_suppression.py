"""Overrides that stick (issue 12): a card a clinician overrode with a reason is not shown again to
that patient for the configured period, unless the facts that made it change; critical cards are
always shown. Across instances sharing PostgreSQL (within the snapshot's refresh period) and across
a restart on SQLite; no database call on the request path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cds_service.app import create_app
from cds_service.settings import load_settings
from cds_service.storage import schema, suppression_key
from cds_service.storage.report import build_report
from tests.support.fhir import draft, hook_request, potassium
from tests.support.http import days_ago
from tests.support.storage import postgres_schema_url

SIGN = "/cds-services/muscle-spasm-order-sign"
FEEDBACK = SIGN + "/feedback"
TOPIC = "electrolyte-potassium"


def _app(database_url: str, *, refresh_seconds: float = 2.0, **rules: Any) -> TestClient:
    settings = load_settings(
        dev=True,
        database_url=database_url,
        patient_hash_secret="suppression-secret",
        rules=rules or {},
        suppression_refresh_seconds=refresh_seconds,
    )
    return TestClient(create_app(settings))


def _baclofen_order(k: float, patient: str = "pat-1") -> dict[str, Any]:
    """A baclofen start for a patient whose latest potassium is `k` mmol/L (2.8: warning, 2.3: critical)."""
    order = draft("197391", "Baclofen 10 MG Oral Tablet", dose=5, frequency=3, authored_on=days_ago(0), pid=patient)
    return hook_request("order-sign", drafts=[order], potassium_results=[potassium(k, days_ago(1), pid=patient)],
                        pid=patient)  # fmt: skip


def _potassium_cards(client: TestClient, request: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(SIGN, json=request)
    assert response.status_code == 200, response.text
    return [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == TOPIC]


def _override(client: TestClient, card: dict[str, Any], *, with_reason: bool = True) -> None:
    reason = card["overrideReasons"][0]
    item: dict[str, Any] = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": datetime.now(UTC).isoformat(),
    }
    if with_reason:
        item["overrideReason"] = {"reason": {"code": reason["code"], "system": reason["system"]}}
    client.app.state.recorder.flush()
    response = client.post(FEEDBACK, json={"feedback": [item]})
    assert response.status_code == 200, response.text


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/audit.db"


def test_an_overridden_card_stays_away_for_that_patient_and_comes_back_when_the_facts_change(sqlite_url: str) -> None:
    with _app(sqlite_url) as client:
        (card,) = _potassium_cards(client, _baclofen_order(2.8))
        assert card["indicator"] == "warning"
        _override(client, card)
        assert _potassium_cards(client, _baclofen_order(2.8)) == []  # the same card: held back
        assert len(_potassium_cards(client, _baclofen_order(2.8, patient="pat-2"))) == 1  # another patient
        assert len(_potassium_cards(client, _baclofen_order(2.7))) == 1  # a new value: a new card
        client.app.state.recorder.flush()
        report = build_report(client.app.state.recorder.engine, datetime.now(UTC) - timedelta(days=1))
    (row,) = [t for t in report.topics if t.topic == TOPIC]
    assert row.suppressed == 1
    assert row.shown == 3  # the held-back card is not counted as shown


def test_critical_cards_are_never_held_back(sqlite_url: str) -> None:
    with _app(sqlite_url) as client:
        (card,) = _potassium_cards(client, _baclofen_order(2.3))
        assert card["indicator"] == "critical"
        _override(client, card)
        assert len(_potassium_cards(client, _baclofen_order(2.3))) == 1


def test_an_override_without_a_reason_does_not_hold_the_card_back(sqlite_url: str) -> None:
    with _app(sqlite_url) as client:
        (card,) = _potassium_cards(client, _baclofen_order(2.8))
        _override(client, card, with_reason=False)
        assert len(_potassium_cards(client, _baclofen_order(2.8))) == 1


def test_the_period_is_configurable_and_ends(sqlite_url: str) -> None:
    with _app(sqlite_url, override_suppression_days=0) as client:  # switched off at this site
        (card,) = _potassium_cards(client, _baclofen_order(2.8))
        _override(client, card)
        assert len(_potassium_cards(client, _baclofen_order(2.8))) == 1
    with _app(sqlite_url, override_suppression_days=2) as client:
        (card,) = _potassium_cards(client, _baclofen_order(2.8))
        _override(client, card)
        assert _potassium_cards(client, _baclofen_order(2.8)) == []
        recorder = client.app.state.recorder
        with recorder.engine.begin() as conn:
            (until,) = conn.execute(schema.card_suppression.select()).all()[-1][-1:]
            assert timedelta(days=1.9) < until.replace(tzinfo=UTC) - datetime.now(UTC) < timedelta(days=2.1)
            conn.execute(update(schema.card_suppression).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        recorder._suppressions.clear()  # this instance's cache would otherwise hold it until its own expiry
        assert len(_potassium_cards(client, _baclofen_order(2.8))) == 1


def test_an_override_holds_across_a_restart_on_sqlite(sqlite_url: str) -> None:
    with _app(sqlite_url) as client:
        (card,) = _potassium_cards(client, _baclofen_order(2.8))
        _override(client, card)
    with _app(sqlite_url) as restarted:
        assert _potassium_cards(restarted, _baclofen_order(2.8)) == []


@pytest.fixture
def shared_postgres() -> Iterator[str]:
    yield from postgres_schema_url()


@pytest.mark.postgres
def test_an_override_on_one_instance_holds_on_another_sharing_postgresql(shared_postgres: str) -> None:
    with _app(shared_postgres, refresh_seconds=0.2) as first, _app(shared_postgres, refresh_seconds=0.2) as second:
        (card,) = _potassium_cards(first, _baclofen_order(2.8))
        assert len(_potassium_cards(second, _baclofen_order(2.8))) == 1  # not overridden yet
        _override(first, card)
        assert _potassium_cards(first, _baclofen_order(2.8)) == []  # at once where the feedback arrived
        deadline = time.monotonic() + 5
        while _potassium_cards(second, _baclofen_order(2.8)) and time.monotonic() < deadline:
            time.sleep(0.1)  # the other instance's snapshot refreshes every 0.2 s
        assert _potassium_cards(second, _baclofen_order(2.8)) == []


def test_the_request_path_asks_no_database_while_the_snapshot_is_fresh(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _app(sqlite_url) as client:
        (card,) = _potassium_cards(client, _baclofen_order(2.8))
        _override(client, card)
        recorder = client.app.state.recorder
        asked: list[object] = []
        monkeypatch.setattr(recorder, "_suppressed_sync", lambda *a: asked.append(a) or {})
        assert _potassium_cards(client, _baclofen_order(2.8)) == []  # held, from memory
        assert len(_potassium_cards(client, _baclofen_order(2.7))) == 1  # other facts: shown, from memory
        assert asked == []


def test_an_override_stored_by_another_instance_reaches_the_snapshot(sqlite_url: str) -> None:
    """The refresh reads what others stored since its last look, an expiry moved later included."""
    with _app(sqlite_url, refresh_seconds=300) as client:  # refreshed by hand below
        recorder = client.app.state.recorder
        now = datetime.now(UTC)
        with recorder.engine.begin() as conn:
            conn.execute(schema.card_suppression.insert().values(
                key="k" * 64, client=None, topic=None, created_at=now, expires_at=now + timedelta(days=1)))  # fmt: skip
        assert "k" * 64 not in asyncio.run(recorder.suppressed_keys(["k" * 64]))
        recorder._refresh_suppressions_sync(datetime.now(UTC))
        assert asyncio.run(recorder.suppressed_keys(["k" * 64])) == {"k" * 64}
        later = now + timedelta(days=9)
        with recorder.engine.begin() as conn:
            conn.execute(update(schema.card_suppression).values(created_at=datetime.now(UTC), expires_at=later))
        recorder._refresh_suppressions_sync(datetime.now(UTC))
        assert recorder._suppressions["k" * 64] == later


def test_a_database_that_cannot_answer_shows_the_cards(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with _app(sqlite_url) as client:
        (card,) = _potassium_cards(client, _baclofen_order(2.8))
        _override(client, card)
        recorder = client.app.state.recorder
        recorder._suppressions.clear()  # only the database knows of the override now, and it cannot answer:
        recorder._suppression_loaded_at = None  # a snapshot whose refreshes failed, so the database is asked
        monkeypatch.setattr(recorder.lookup_gate, "call", _failing_gate_call)
        assert len(_potassium_cards(client, _baclofen_order(2.8))) == 1  # fails open


async def _failing_gate_call(*_: Any, **__: Any) -> None:
    from cds_service.storage import StorageUnavailable

    raise StorageUnavailable("no answer")


def test_the_key_separates_clients_patients_topics_and_facts() -> None:
    base = ("secret", "https://ehr.example", "pat-1", TOPIC, "potassium 2.8 mmol/L")
    key = suppression_key(*base)
    assert key and len(key) == 64 and "pat-1" not in key
    for i, other in ((1, "https://other.example"), (2, "pat-2"), (3, "electrolyte-magnesium"), (4, "potassium 2.7")):
        changed = list(base)
        changed[i] = other
        assert suppression_key(*changed) != key
    assert suppression_key("secret", "c", None, TOPIC, "x") is None  # no patient: nothing to remember
