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
import respx
from fastapi.testclient import TestClient

from tests.support.fhir import hook_request, medication_request
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
