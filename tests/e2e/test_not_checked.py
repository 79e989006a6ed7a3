""" "Not checked" only where it could change the answer (issue 12).

A patient this service has nothing to say about gets no card even when data is missing: Epic's own
tutorial patient-view (ibuprofen and IV mitomycin given by `medicationReference` with a display, no
conditions, labs not prefetched, the FHIR server unreachable) used to get a "Not checked: a
medication given by reference, magnesium results, potassium results" warning on every chart
opening. Missing data still gets its card when it could hide a warning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from tests.support.fhir import draft, hook_request, medication_request
from tests.support.http import post_hook, topics

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "fhir" / "requests" / "epic-tutorial-patient-view.json"
UNREACHABLE = "https://fhir.epic.example/interconnect-fhir-oauth/api/FHIR/R4"


def _unreachable(router: respx.MockRouter) -> None:
    router.route(host="fhir.epic.example").mock(side_effect=httpx.ConnectError("unreachable"))


def test_epics_tutorial_patient_view_gets_no_card(client: TestClient) -> None:
    request = json.loads(FIXTURE.read_text())
    with respx.mock(assert_all_called=False) as router:
        _unreachable(router)
        body = post_hook(client, request)
        # Nothing worth fetching: the references name drugs no rule reads, the labs matter to no rule here.
        assert [str(call.request.url) for call in router.calls if "Medication/" in str(call.request.url)] == []
    assert body["cards"] == [], [c["summary"] for c in body["cards"]]


def _baclofen_patient(**kw: Any) -> dict[str, Any]:
    request = hook_request(
        "patient-view",
        meds=[
            medication_request("197391", "Baclofen 10 MG Oral Tablet", dose=20, frequency=3, authored_on="2026-06-01")
        ],
        omit=("potassium", "magnesium", "renal"),
        **kw,
    )
    request["fhirServer"] = UNREACHABLE
    request["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 300, "scope": "x",
                                    "subject": "s"}  # fmt: skip
    return request


def test_missing_labs_still_get_their_card_for_a_patient_on_a_relaxant(client: TestClient) -> None:
    with respx.mock(assert_all_called=False) as router:
        _unreachable(router)
        body = post_hook(client, _baclofen_patient())
    assert "data-unavailable" in topics(body)
    card = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "data-unavailable")
    assert "potassium" in card["summary"] and "kidney" in card["detail"]


def test_a_reference_that_may_name_a_relaxant_is_fetched_and_its_failure_reported(client: TestClient) -> None:
    order = medication_request(None, "muscle relaxant", dose=10, frequency=3, authored_on="2026-06-01")
    order.pop("medicationCodeableConcept", None)
    order["medicationReference"] = {"reference": "Medication/unknown-1", "display": "baclofen 10 mg tablet"}
    request = hook_request("patient-view", meds=[order])
    request["fhirServer"] = UNREACHABLE
    request["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 300, "scope": "x",
                                    "subject": "s"}  # fmt: skip
    with respx.mock(assert_all_called=False) as router:
        _unreachable(router)
        body = post_hook(client, request)
        assert any("Medication/unknown-1" in str(call.request.url) for call in router.calls)
    assert "data-unavailable" in topics(body)


# --- issue 19, item 9: a missing datum is at most information, only where it feeds a check of the drug ---

BACLOFEN_5 = ("430902", "baclofen 5 MG Oral Tablet")
TIZANIDINE_4 = ("313413", "tizanidine 4 MG Oral Tablet")
CYCLOBENZAPRINE_5 = ("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet")


def _sign_without(order: dict[str, Any], *keys: str) -> dict[str, Any]:
    """order-sign with these prefetch keys left out and no FHIR server to ask."""
    return hook_request("order-sign", drafts=[order], omit=keys)


def _gap_cards(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in body["cards"] if c["source"]["topic"]["code"] == "data-unavailable"]


@pytest.mark.parametrize(
    "order",
    [
        draft(*BACLOFEN_5, dose=5, frequency=3, supply_days=30),  # the label's start: no other card
        draft(*TIZANIDINE_4, dose=2, frequency=3, supply_days=30),
    ],
    ids=["oral-baclofen", "tizanidine"],
)
def test_no_kidney_function_for_oral_baclofen_or_tizanidine_is_information(client: TestClient, order: Any) -> None:
    (card,) = _gap_cards(post_hook(client, _sign_without(order, "renal")))
    assert card["indicator"] == "info"
    assert "kidney function" in card["summary"]


@pytest.mark.parametrize(
    "order",
    [
        draft(
            None, "baclofen 2 MG/ML Intrathecal Solution", route="intrathecal", dose=0.3, dose_unit="mg", frequency=1
        ),
        draft(*CYCLOBENZAPRINE_5, dose=5, frequency=3, supply_days=7),
    ],
    ids=["intrathecal-baclofen", "cyclobenzaprine"],
)
def test_no_kidney_function_is_not_mentioned_where_no_check_reads_it(client: TestClient, order: Any) -> None:
    """Quiet beside the firing case: their labels carry no renal adjustment."""
    body = post_hook(client, _sign_without(order, "renal"))
    assert _gap_cards(body) == []
    assert "kidney" not in str([c.get("detail") for c in body["cards"]])


def test_a_missing_datum_is_a_line_in_the_drugs_own_card(client: TestClient) -> None:
    """Baclofen 60 mg/day started with no eGFR: the titration card carries the line, no card of its own."""
    order = draft(*BACLOFEN_5, dose=20, dose_unit="mg", frequency=3, supply_days=30)
    body = post_hook(client, _sign_without(order, "renal"))
    assert _gap_cards(body) == []
    (titration,) = [c for c in body["cards"] if c["source"]["topic"]["code"] == "baclofen-titration"]
    assert "Also: not checked: kidney function" in titration["detail"]


def test_missing_medications_stay_a_warning(client: TestClient) -> None:
    """They can hide an MAOI beside cyclobenzaprine (critical), whatever else is known."""
    order = draft(*CYCLOBENZAPRINE_5, dose=5, frequency=3, supply_days=7)
    (card,) = _gap_cards(post_hook(client, _sign_without(order, "medications", "renal")))
    assert card["indicator"] == "warning"
    assert "medications" in card["summary"] and "kidney" not in card["detail"]


@pytest.mark.parametrize(
    ("order", "indicator"),
    [
        (draft(*CYCLOBENZAPRINE_5, dose=5, frequency=3, supply_days=7), "warning"),  # hides a contraindication
        (draft(*BACLOFEN_5, dose=5, frequency=3, supply_days=30), "info"),
    ],
    ids=["cyclobenzaprine", "baclofen"],
)
def test_missing_conditions(client: TestClient, order: Any, indicator: str) -> None:
    (card,) = _gap_cards(post_hook(client, _sign_without(order, "conditions")))
    assert card["indicator"] == indicator and "conditions" in card["summary"]


def test_on_a_chart_the_missing_labs_of_a_patient_on_baclofen_are_information(client: TestClient) -> None:
    with respx.mock(assert_all_called=False) as router:
        _unreachable(router)
        body = post_hook(client, _baclofen_patient())
    (card,) = _gap_cards(body)
    assert card["indicator"] == "info"
