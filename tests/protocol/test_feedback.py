"""`POST /cds-services/{id}/feedback` as a CDS client uses it, end to end through the app and a real
database (SQLite and PostgreSQL): a clinician's override reaches the audit trail and the report;
spec violations get a 4xx that says what and where; a re-sent item is stored once; the sandbox's
and Epic's dialects are understood; a database outage costs no card."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cds_service.app import create_app
from cds_service.settings import load_settings
from cds_service.storage import schema as tables
from cds_service.storage.report import build_report, default_since
from tests.support.fhir import draft, hook_request
from tests.support.storage import SECRET, database_url  # noqa: F401

SIGN = "muscle-spasm-order-sign"
FEEDBACK = f"/cds-services/{SIGN}/feedback"
NOW = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _settings(url: str, **kw: Any) -> Any:
    kw.setdefault("dev", True)
    return load_settings(database_url=url, patient_hash_secret=SECRET, **kw)


@pytest.fixture
def client(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:  # noqa: F811
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with TestClient(create_app(_settings(database_url))) as test_client:
        yield test_client


def _baclofen_cards(client: TestClient) -> list[dict[str, Any]]:
    """A baclofen start at 60 mg/day: the titration card (with a suggestion and override reasons)."""
    request = hook_request(
        "order-sign", drafts=[draft("197392", "Baclofen 20 MG Oral Tablet", dose=1, dose_unit="tablet", frequency=3)]
    )
    response = client.post(f"/cds-services/{SIGN}", json=request)
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert any(c["source"]["topic"]["code"] == "baclofen-titration" for c in cards)
    return cards


def _titration(cards: list[dict[str, Any]]) -> dict[str, Any]:
    return next(c for c in cards if c["source"]["topic"]["code"] == "baclofen-titration")


def _issues(response: Any) -> list[dict[str, Any]]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"]


def test_clinician_override_reaches_the_audit_trail_and_the_report(client: TestClient) -> None:
    card = _titration(_baclofen_cards(client))
    offered = {r["code"]: r["display"] for r in card["overrideReasons"]}
    # The sandbox echoes code and system but not display.
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"reason": {"code": "already-tolerating", "system": card["overrideReasons"][0]["system"]}},
        "outcomeTimestamp": NOW,
    }
    response = client.post(FEEDBACK, json={"feedback": [item]})
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1, "stored": 1, "duplicates": 0}

    report = build_report(client.app.state.recorder.engine, default_since())
    row = next(t for t in report.topics if t.topic == "baclofen-titration")
    assert (row.shown, row.overridden, row.accepted) == (1, 1, 0)
    assert [r.display for r in row.top_reasons] == [offered["already-tolerating"]]


def test_accepting_a_suggestion_is_stored(client: TestClient) -> None:
    card = _titration(_baclofen_cards(client))
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": NOW,
    }
    assert client.post(FEEDBACK, json={"feedback": [item]}).json()["stored"] == 1
    with client.app.state.recorder.engine.connect() as conn:
        row = conn.execute(select(tables.feedback)).mappings().one()
    assert (row["outcome"], row["accepted_suggestions"]) == ("accepted", card["suggestions"][0]["uuid"])


def test_repeated_identical_feedback_is_idempotent(client: TestClient) -> None:
    card = _titration(_baclofen_cards(client))
    body = {"feedback": [{"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": NOW}]}
    assert client.post(FEEDBACK, json=body).json() == {"received": 1, "stored": 1, "duplicates": 0}
    again = client.post(FEEDBACK, json=body)
    assert again.status_code == 200
    assert again.json() == {"received": 1, "stored": 0, "duplicates": 1}


def test_epic_plural_override_reasons_with_extension_and_comment(client: TestClient) -> None:
    card = _titration(_baclofen_cards(client))
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": NOW,
        "overrideReasons": {
            "extension": {
                "com.epic.cdshooks.feedback.overrideReason.reasonCategory": "45",
                "com.epic.cdshooks.feedback.overrideReason.reasonDisplay": "Does not meet criteria",
                "com.epic.cdshooks.feedback.overrideReason.reasonTitle": "Does not meet criteria",
            },
            "userComment": "Patient Jane Doe tolerates 60 mg",
        },
    }
    assert client.post(FEEDBACK, json={"feedback": [item]}).status_code == 200
    with client.app.state.recorder.engine.connect() as conn:
        row = conn.execute(select(tables.feedback)).mappings().one()
        every_value = " ".join(str(v) for v in row.values())
    assert (row["reason_code"], row["reason_display"], row["has_comment"]) == ("45", "Does not meet criteria", True)
    assert "Jane" not in every_value  # free text may name the patient: it is not stored


@pytest.mark.parametrize(
    ("item", "where"),
    [
        ({"outcome": "ignored"}, "feedback.0.outcome"),
        ({"outcome": "accepted"}, "feedback.0"),  # accepted without acceptedSuggestions
        ({"outcomeTimestamp": None}, "feedback.0.outcomeTimestamp"),
        ({"overrideReason": {}}, "feedback.0.overrideReason"),
        ({"card": ""}, "feedback.0.card"),
    ],
)
def test_spec_violations_are_400_saying_where(client: TestClient, item: dict[str, Any], where: str) -> None:
    card = _titration(_baclofen_cards(client))
    body = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": NOW} | item
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post(FEEDBACK, json={"feedback": [body]})
    assert response.status_code == 400, response.text
    assert any(where in " ".join(i.get("expression", [])) + i["diagnostics"] for i in _issues(response))


def test_bad_bodies_are_400(client: TestClient) -> None:
    assert client.post(FEEDBACK, content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert client.post(FEEDBACK, json={"feedback": []}).status_code == 400
    assert client.post(FEEDBACK, json=[1, 2]).status_code == 400
    response = client.post(
        FEEDBACK, json={"feedback": [{"card": "x", "outcome": "overridden", "outcomeTimestamp": "yesterday"}]}
    )
    assert response.status_code == 400
    assert _issues(response)[0]["expression"] == ["feedback[0].outcomeTimestamp"]


def test_unknown_card_is_404_and_a_foreign_suggestion_is_400(client: TestClient) -> None:
    card = _titration(_baclofen_cards(client))
    unknown = {"card": "00000000-0000-4000-8000-000000000000", "outcome": "overridden", "outcomeTimestamp": NOW}
    response = client.post(FEEDBACK, json={"feedback": [unknown]})
    assert response.status_code == 404
    assert _issues(response)[0]["expression"] == ["feedback[0].card"]

    foreign = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "not-a-suggestion-of-this-card"}],
        "outcomeTimestamp": NOW,
    }
    response = client.post(FEEDBACK, json={"feedback": [foreign]})
    assert response.status_code == 400
    assert _issues(response)[0]["expression"] == ["feedback[0].acceptedSuggestions[0].id"]

    # The card was issued by order-sign, not order-select.
    response = client.post(
        "/cds-services/muscle-spasm-order-select/feedback",
        json={"feedback": [{"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": NOW}]},
    )
    assert response.status_code == 404
    assert client.post("/cds-services/no-such-service/feedback", json={"feedback": [unknown]}).status_code == 404


def test_feedback_needs_an_authenticated_client(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with TestClient(create_app(_settings(database_url, dev=False))) as anonymous:
        response = anonymous.post(FEEDBACK, json={"feedback": [{"card": "x", "outcome": "overridden"}]})
    assert response.status_code == 401


def test_storage_disabled_means_no_feedback_endpoint_behind_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with TestClient(create_app(load_settings(dev=True, storage_enabled=False))) as client:
        item = {"card": "x", "outcome": "overridden", "outcomeTimestamp": NOW}
        response = client.post(FEEDBACK, json={"feedback": [item]})
    assert response.status_code == 404
    assert "storage is disabled" in response.text


@pytest.mark.parametrize(
    "down_url",
    [
        pytest.param("postgresql+psycopg://postgres@127.0.0.1:9/test", id="postgres-stopped"),
        pytest.param("sqlite:///{tmp}/a-file/audit.db", id="sqlite-unusable"),
    ],
)
def test_database_outage_costs_no_card(down_url: str, tmp_path, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    (tmp_path / "a-file").write_text("not a directory")
    caplog.set_level(logging.ERROR, logger="cds_service.storage")
    with TestClient(create_app(_settings(down_url.format(tmp=tmp_path), audit_spool_dir=tmp_path / "spool"))) as client:
        cards = _baclofen_cards(client)  # asserts 200 with the titration card
        cards_again = _baclofen_cards(client)
        recorder = client.app.state.recorder
        assert recorder.flush(timeout=30)
        # kept in the spool for when the database returns (tests/test_audit_outage.py), not lost
        assert recorder.stats()["spooled"] == 2 and recorder.dropped == 0 and recorder.written == 0
        response = client.post(
            FEEDBACK, json={"feedback": [{"card": cards[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": NOW}]}
        )
        assert response.status_code == 503  # the client may retry; nothing pretends to be stored
    assert len(cards_again) == len(cards)
    assert "audit database unavailable" in caplog.text


def test_every_override_reason_a_rule_offers_is_known_to_feedback() -> None:
    """A client that echoes only the code of any rule's override reason still gets its display stored."""
    from cds_service.cards import RULES
    from cds_service.cdshooks import FeedbackItem
    from cds_service.protocol.feedback import to_entry

    offered = {o for rule in RULES for o in rule.overrides}
    assert {"stopping-for-adverse-effect", "response-adequate"} <= {o.code for o in offered}
    for override in offered:
        item = FeedbackItem.model_validate(
            {
                "card": "c1",
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-25T10:00:00Z",
                "overrideReason": {"reason": {"code": override.code}},
            }
        )
        assert to_entry(0, item).reason_display == override.display


def test_a_card_may_offer_only_its_rules_override_reasons() -> None:
    import pytest

    from cds_service.cards.baclofen_withdrawal import RULE
    from cds_service.cards.base import NOT_APPLICABLE, make_card

    with pytest.raises(ValueError, match="not-applicable"):
        make_card(RULE, summary="s", indicator="info", detail="d", overrides=(NOT_APPLICABLE,))
