"""Issue 20 end to end through HTTP on SQLite and PostgreSQL: a sandbox-style sequence (select, edit,
select, sign) with the cards of each step; no repeat at signing for an unchanged order (critical
always shown; across instances on PostgreSQL); analytics count decisions, not form edits; an
accepted suggestion is reported applied or not applied from what the next calls saw.

The requests have the CDS Hooks sandbox's shape (shared/real-clients/cds-hooks-sandbox/
recorded-requests.jsonl): draft `request-123`, a dose in `{pill}`, a 30-day supply, no encounter.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.settings import load_settings
from cds_service.storage.report import build_report
from tests.support.auth import hospital_app
from tests.support.fhir import hook_request
from tests.support.storage import SECRET, database_url, postgres_schema_url  # noqa: F401
from tests.support.suggestions import as_sandbox

SELECT = "/cds-services/muscle-spasm-order-select"
SIGN = "/cds-services/muscle-spasm-order-sign"
BAC_20 = ("197392", "Baclofen 20 MG Oral Tablet")
CYCLO_10 = ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet")


def _app(url: str, refresh_seconds: float = 2.0, audit_writer: str = "process") -> TestClient:
    settings = load_settings(
        dev=True,
        database_url=url,
        patient_hash_secret=SECRET,
        suppression_refresh_seconds=refresh_seconds,
        audit_writer=audit_writer,
    )
    return TestClient(create_app(settings))


# Both audit writers (issue 22): the repeat keys live in the serving process either way.
WRITERS = ["process", "thread"]


@pytest.fixture(params=WRITERS)
def client(
    database_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[TestClient]:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with _app(database_url, audit_writer=request.param) as test_client:
        yield test_client


def sandbox_draft(product: tuple[str, str] | None, pills: float = 1, per_day: int = 3, days: int = 30) -> dict:
    """The draft the sandbox's Rx form sends (its reducer's shape)."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "request-123",
        "status": "draft",
        "subject": {"reference": "Patient/pat1"},
        "authoredOn": datetime.now(UTC).date().isoformat(),
    }
    if product is not None:
        resource["dosageInstruction"] = [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {"doseQuantity": {"value": pills, "system": "http://unitsofmeasure.org", "code": "{pill}"}}
                ],
            }
        ]
        resource["dispenseRequest"] = {
            "expectedSupplyDuration": {
                "value": days,
                "unit": "days",
                "system": "http://unitsofmeasure.org",
                "code": "d",
            }
        }
        resource["intent"] = "order"
        resource["medicationCodeableConcept"] = {
            "text": product[1],
            "coding": [
                {"display": product[1], "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": product[0]}
            ],
        }
    return resource


def call(client: TestClient, hook: str, order: dict[str, Any]) -> list[dict[str, Any]]:
    request = hook_request(hook, drafts=[order], pid="pat1")
    response = client.post(SELECT if hook == "order-select" else SIGN, json=request)
    assert response.status_code == 200, response.text
    return response.json()["cards"]


def feedback(client: TestClient, hook: str, card: dict[str, Any], accepted: bool = True) -> None:
    client.app.state.recorder.flush()
    item: dict[str, Any] = {
        "card": card["uuid"],
        "outcome": "accepted" if accepted else "overridden",
        "outcomeTimestamp": datetime.now(UTC).isoformat(),
    }
    if accepted:
        item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    response = client.post((SELECT if hook == "order-select" else SIGN) + "/feedback", json={"feedback": [item]})
    assert response.status_code == 200, response.text


def topic_row(client: TestClient, topic: str) -> Any:
    client.app.state.recorder.flush()
    report = build_report(client.app.state.recorder.engine, datetime.now(UTC) - timedelta(days=1))
    return next(t for t in report.by_topic() if t.topic == topic)


def test_select_edit_select_sign_cards_per_step(client: TestClient) -> None:
    """The prescriber fills the form (three order-select calls for one order), edits the dose, signs."""
    assert call(client, "order-select", sandbox_draft(None)) == []  # the form before a drug is chosen
    for _ in range(3):  # each keystroke of the form re-sends order-select
        [card] = call(client, "order-select", sandbox_draft(BAC_20))
        assert card["summary"] == "Start baclofen at 15 mg/day or less (60 mg/day ordered)"
    [edited] = call(client, "order-select", sandbox_draft(BAC_20, per_day=2))  # 40 mg/day: another card
    assert "(40 mg/day ordered)" in edited["summary"]
    assert call(client, "order-sign", sandbox_draft(BAC_20, per_day=2)) == []  # seen at select, unchanged
    row = topic_row(client, "baclofen-titration")
    assert row.shown == 2  # two decisions (60 and 40 mg/day), not four cards
    assert row.not_repeated == 1


def test_a_changed_order_is_warned_at_signing_and_a_critical_card_always(client: TestClient) -> None:
    call(client, "order-select", sandbox_draft(BAC_20))
    [card] = call(client, "order-sign", sandbox_draft(BAC_20, pills=2))  # 120 mg/day: not what was seen
    assert card["indicator"] == "critical"
    [again] = call(client, "order-sign", sandbox_draft(BAC_20, pills=2))  # critical: repeated
    assert again["indicator"] == "critical"
    call(client, "order-select", sandbox_draft(BAC_20, pills=2, per_day=4))  # 160 mg/day, critical at select
    assert [c["indicator"] for c in call(client, "order-sign", sandbox_draft(BAC_20, pills=2, per_day=4))] == [
        "critical"
    ]


def test_an_accepted_dose_switch_applied_as_the_sandbox_does_is_reported_applied(client: TestClient) -> None:
    order = sandbox_draft(BAC_20)
    [card] = call(client, "order-select", order)
    feedback(client, "order-select", card)
    switched = as_sandbox(order, card["suggestions"][0]["actions"][0]["resource"])
    assert call(client, "order-select", switched) == []  # 5 mg tablet, 1 three times a day: 15 mg/day
    assert call(client, "order-sign", switched) == []
    row = topic_row(client, "baclofen-titration")
    assert (row.shown, row.accepted, row.applied, row.not_applied) == (1, 1, 1, 0)


def test_a_client_that_applies_only_the_medication_is_told_what_to_enter(client: TestClient) -> None:
    """The sandbox (and --dev) applies only a suggestion's medication: "Limit the supply to 21 days"
    would be accepted and leave 30 days. So the card says what to enter instead, and signing the
    unchanged order does not repeat it."""
    order = sandbox_draft(CYCLO_10)
    [card] = call(client, "order-select", order)
    assert "suggestions" not in card
    assert "enter on the order: days' supply **21**, quantity **63 tablets**, no refills" in card["detail"]
    assert call(client, "order-sign", order) == []  # seen at select, not acted on: not repeated
    assert call(client, "order-sign", sandbox_draft(CYCLO_10, days=21)) == []  # entered by hand: nothing to say


@pytest.fixture(params=WRITERS)
def whole_resource_ehr(
    database_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[TestClient]:
    """An EHR configured `suggestions = "whole-resource"`, every call signed by it, with storage."""
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    app = hospital_app(
        tmp_path,
        entry={"suggestions": "whole-resource"},
        signed=True,
        storage_enabled=True,
        database_url=database_url,
        patient_hash_secret=SECRET,
        audit_writer=request.param,
    )
    with app as test_client:
        yield test_client


def test_an_accepted_supply_limit_not_applied_is_said_at_signing(whole_resource_ehr: TestClient) -> None:
    """An EHR configured as applying the whole resource that nevertheless keeps the order (or a
    prescriber who changed it back): the card at signing says the accepted limit was not applied,
    and the report says accepted, not applied. Applied whole, signing is quiet."""
    client = whole_resource_ehr
    order = sandbox_draft(CYCLO_10)
    [card] = call(client, "order-select", order)
    [suggestion] = card["suggestions"]
    assert suggestion["label"] == "Limit the supply to 21 days"
    feedback(client, "order-select", card)
    call(client, "order-select", order)  # the form re-sent unchanged: the acceptance still stands
    [again] = call(client, "order-sign", order)
    assert again["source"]["topic"]["code"] == "cyclobenzaprine-duration"
    assert again["detail"].startswith(
        "**Accepted, not applied:** “Limit the supply to 21 days” was accepted, but the order still supplies "
        "30 days. Change the order itself before signing.\n\n"
    )
    row = topic_row(client, "cyclobenzaprine-duration")
    assert (row.accepted, row.applied, row.not_applied) == (1, 0, 1)
    assert call(client, "order-sign", suggestion["actions"][0]["resource"]) == []  # applied whole: 21 days


def test_an_accepted_dose_switch_not_applied_is_said_at_signing(client: TestClient) -> None:
    order = sandbox_draft(BAC_20)
    [card] = call(client, "order-select", order)
    feedback(client, "order-select", card)
    [again] = call(client, "order-sign", order)  # the product was not switched: still 60 mg/day
    label = card["suggestions"][0]["label"]
    assert again["detail"].startswith(f"**Accepted, not applied:** “{label}” was accepted, but the order still "
                                      "gives 60 mg/day.")  # fmt: skip
    assert again["summary"] == card["summary"]
    row = topic_row(client, "baclofen-titration")
    assert (row.accepted, row.applied, row.not_applied) == (1, 0, 1)


def test_an_unaccepted_card_at_signing_carries_no_such_line(client: TestClient) -> None:
    """The quiet side: a changed order at signing is warned about without an "accepted" line."""
    [card] = call(client, "order-select", sandbox_draft(BAC_20))
    feedback(client, "order-select", card, accepted=False)
    [changed] = call(client, "order-sign", sandbox_draft(BAC_20, per_day=2))
    assert "Accepted" not in changed["detail"]


def test_an_override_at_select_is_not_asked_again_and_counts_once(client: TestClient) -> None:
    order = sandbox_draft(BAC_20)
    [card] = call(client, "order-select", order)
    feedback(client, "order-select", card, accepted=False)
    assert call(client, "order-sign", order) == []
    row = topic_row(client, "baclofen-titration")
    assert (row.shown, row.overridden) == (1, 1)


def test_analytics_page_counts_decisions(client: TestClient) -> None:
    for _ in range(4):
        call(client, "order-select", sandbox_draft(BAC_20))
    client.app.state.recorder.flush()
    page = client.get("/analytics").text
    assert '<b id="total-shown">1</b>' in page


@pytest.fixture
def shared_postgres() -> Iterator[str]:
    yield from postgres_schema_url()


@pytest.mark.postgres
@pytest.mark.parametrize("writer", WRITERS)
def test_a_card_seen_at_select_on_one_instance_is_not_repeated_at_signing_on_another(
    shared_postgres: str, writer: str
) -> None:
    first_app, second_app = (_app(shared_postgres, refresh_seconds=0.2, audit_writer=writer) for _ in range(2))
    with first_app as first, second_app as second:
        order = sandbox_draft(BAC_20)
        [_] = call(first, "order-select", order)
        first.app.state.recorder.flush()
        deadline = time.monotonic() + 5
        while call(second, "order-sign", copy.deepcopy(order)) and time.monotonic() < deadline:
            time.sleep(0.1)  # the other instance's snapshot refreshes every 0.2 s
        assert call(second, "order-sign", order) == []
        assert len(call(second, "order-sign", sandbox_draft(BAC_20, per_day=2))) == 1  # another dose: shown
