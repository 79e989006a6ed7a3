"""Prefetch semantics and FHIR fetching, against a FHIR server mocked with respx.

Absent key → fetched (with the bearer token, concurrently, following paging); null → not
fetched; OperationOutcome → a data gap; server failures → a card saying what was not checked,
never silence; nothing obtainable → 412.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from cds_service.protocol.services import PREFETCH_TEMPLATES
from tests.support.fhir import draft, hook_request, medication, medication_request, patient, potassium, searchset
from tests.support.http import post_hook, topics

FHIR = "https://fhir.test/r4"
TOKEN = "opaque-fhir-token-123"


def _with_server(request: dict[str, Any]) -> dict[str, Any]:
    request["fhirServer"] = FHIR
    request["fhirAuthorization"] = {
        "access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
        "scope": "user/*.read", "subject": "muscle-spasm-cds",
    }  # fmt: skip
    return request


class FakeFhir:
    """Answers our five prefetch queries; counts calls and the most requests in flight at once."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: list[httpx.Request] = []
        self.patient = patient(birth_date="1950-03-01")
        self.medications: list[dict[str, Any]] = []
        self.k: list[dict[str, Any]] = [potassium(3.1, "2026-11-20T08:00:00Z")]
        self.mg: list[dict[str, Any]] = []
        self.conditions: list[dict[str, Any]] = []
        self.extra: dict[str, Callable[[httpx.Request], httpx.Response]] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            path = request.url.path.removeprefix("/r4/")
            if path in self.extra:
                return self.extra[path](request)
            if path == "Patient/pat1":
                return httpx.Response(200, json=self.patient)
            if path == "MedicationRequest":
                return httpx.Response(200, json=searchset(self.medications))
            if path == "Observation":
                codes = request.url.params.get("code", "")
                return httpx.Response(200, json=searchset(self.k if "2823-3" in codes else self.mg))
            if path == "Condition":
                return httpx.Response(200, json=searchset(self.conditions))
            return httpx.Response(404, json={"resourceType": "OperationOutcome", "issue": []})
        finally:
            self.in_flight -= 1


@pytest.fixture
def fhir() -> Any:
    fake = FakeFhir()
    with respx.mock(assert_all_called=False) as router:
        router.route(host="fhir.test").mock(side_effect=fake)
        yield fake


def test_absent_keys_are_fetched_concurrently_with_the_bearer_token(client: TestClient, fhir: FakeFhir) -> None:
    request = _with_server(hook_request("patient-view", omit=tuple(PREFETCH_TEMPLATES)))
    body = post_hook(client, request)
    assert len(fhir.calls) == 6
    assert all(call.headers["Authorization"] == f"Bearer {TOKEN}" for call in fhir.calls)
    assert fhir.max_in_flight == 6, "the six queries must run at the same time"
    paths = sorted(call.url.path for call in fhir.calls)
    assert paths == ["/r4/Condition", "/r4/MedicationRequest"] + ["/r4/Observation"] * 3 + ["/r4/Patient/pat1"]
    assert "data-unavailable" not in topics(body)


def test_only_absent_keys_are_fetched_and_null_means_no_data(client: TestClient, fhir: FakeFhir) -> None:
    request = _with_server(hook_request("patient-view", omit=("conditions",)))
    request["prefetch"]["magnesium"] = None  # "no data": must not be re-fetched
    post_hook(client, request)
    assert [call.url.path for call in fhir.calls] == ["/r4/Condition"]


def test_prefetch_operation_outcome_is_a_gap_not_data_and_not_refetched(client: TestClient, fhir: FakeFhir) -> None:
    request = _with_server(hook_request("order-select", drafts=[draft("197391", "baclofen 10 MG Oral Tablet")]))
    request["prefetch"]["potassium"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "lab system down"}],
    }
    body = post_hook(client, request)
    assert fhir.calls == []
    gap_cards = [c for c in body["cards"] if c["source"]["topic"]["code"] == "data-unavailable"]
    assert len(gap_cards) == 1
    assert "potassium" in gap_cards[0]["summary"]
    assert "does **not** mean" in gap_cards[0]["detail"]


def test_paging_is_followed(client: TestClient, fhir: FakeFhir) -> None:
    page2 = searchset([medication_request("197392", "baclofen 20 MG Oral Tablet", rid="mr-page2")])

    def first_page(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json=page2)
        bundle = searchset([medication_request("197391", "baclofen 10 MG Oral Tablet", rid="mr-page1")])
        bundle["link"] = [{"relation": "next", "url": f"{FHIR}/MedicationRequest?patient=pat1&page=2"}]
        return httpx.Response(200, json=bundle)

    fhir.extra["MedicationRequest"] = first_page
    request = _with_server(hook_request("patient-view", omit=("medications",)))
    post_hook(client, request)
    pages = [c.url.params.get("page") for c in fhir.calls if c.url.path.endswith("MedicationRequest")]
    assert pages == [None, "2"]


def test_a_first_page_sent_without_a_fhir_server_is_reported_as_partial(client: TestClient) -> None:
    """An EHR that prefetches only the first page of the orders (a `next` link) and gives no FHIR
    server: the patient on baclofen is told the rest of the orders could not be read, not all clear."""
    request = hook_request("order-sign", drafts=[draft("197391", "baclofen 10 MG Oral Tablet", dose=10, frequency=3)])
    request["prefetch"]["medications"]["link"] = [
        {"relation": "next", "url": f"{FHIR}/MedicationRequest?patient=pat1&page=2"}
    ]
    request.pop("fhirServer", None)
    body = post_hook(client, request)
    gap_cards = [c for c in body["cards"] if c["source"]["topic"]["code"] == "data-unavailable"]
    assert len(gap_cards) == 1 and "medication" in gap_cards[0]["summary"].lower()
    request["prefetch"]["medications"].pop("link")
    assert "data-unavailable" not in topics(post_hook(client, request))  # one page, the whole search


def test_medication_reference_outside_the_bundle_is_fetched(client: TestClient, fhir: FakeFhir) -> None:
    fhir.extra["Medication/med-bac"] = lambda r: httpx.Response(
        200, json=medication("med-bac", "197392", "baclofen 20 MG Oral Tablet")
    )
    order = draft(None, "BACLOFEN 20 MG PO TABS", medication_reference="Medication/med-bac", dose=20,
                  frequency=3)  # fmt: skip
    request = _with_server(hook_request("order-sign", drafts=[order]))
    body = post_hook(client, request)
    assert [c.url.path for c in fhir.calls] == ["/r4/Medication/med-bac"]
    assert fhir.calls[0].headers["Authorization"] == f"Bearer {TOKEN}"
    # 20 mg TID = 60 mg/day of baclofen: the titration rule must have recognized the drug.
    assert "baclofen-titration" in topics(body)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (lambda r: httpx.Response(500), "answered 500"),
        (lambda r: httpx.Response(401), "refused access"),
        (lambda r: (_ for _ in ()).throw(httpx.ConnectTimeout("slow")), "did not answer"),
        (lambda r: httpx.Response(302, headers={"Location": "https://evil.example/"}), "redirect"),
    ],
    ids=["500", "401", "timeout", "redirect"],
)
def test_fhir_failure_degrades_to_a_card_not_silence(
    client: TestClient, fhir: FakeFhir, failure: Callable[[httpx.Request], httpx.Response], reason: str
) -> None:
    fhir.extra["Observation"] = failure
    order = draft("197391", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)  # a start above the label's
    request = _with_server(hook_request("order-select", drafts=[order], omit=("potassium", "magnesium")))
    body = post_hook(client, request)
    assert "data-unavailable" not in topics(body)  # information only: a line in the order's own card (issue 19)
    # the other checks still ran: the baclofen order got its titration card, which names what was not checked
    titration = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "baclofen-titration")
    (line,) = [part for part in titration["detail"].split("\n\n") if part.startswith("Also: not checked")]
    assert "potassium" in line and "magnesium" in line
    assert reason in line
    assert TOKEN not in str(body)


def test_nothing_prefetched_and_no_server_is_412(client: TestClient) -> None:
    request = hook_request("patient-view", omit=tuple(PREFETCH_TEMPLATES))
    response = client.post("/cds-services/muscle-spasm-patient-view", json=request)
    assert response.status_code == 412
    assert "fhirServer" in response.json()["issue"][0]["diagnostics"]


def test_partial_prefetch_and_no_server_names_what_was_not_checked(client: TestClient) -> None:
    request = hook_request("order-select", drafts=[draft("197391", "baclofen 10 MG Oral Tablet")], omit=("potassium",))
    body = post_hook(client, request)
    gap = [c for c in body["cards"] if c["source"]["topic"]["code"] == "data-unavailable"]
    assert len(gap) == 1 and "potassium" in gap[0]["summary"]


def test_spec_patient_view_example_fetches_our_keys(client: TestClient, fhir: FakeFhir) -> None:
    import json
    from pathlib import Path

    request = json.loads((Path(__file__).parents[2] / "fixtures/spec-examples/patient-view.json").read_text())
    request["fhirServer"] = FHIR
    request["context"]["patientId"] = "pat1"
    post_hook(client, request)
    assert len(fhir.calls) == 6
    assert all(c.headers["Authorization"] == "Bearer some-opaque-fhir-access-token" for c in fhir.calls)


def test_an_unrelated_order_reads_nothing_from_the_fhir_server(client: TestClient, fhir: FakeFhir) -> None:
    """Most orders in a hospital have nothing to do with muscle spasm: no query, no card."""
    order = draft("314076", "lisinopril 10 MG Oral Tablet", dose=10, frequency=1)
    request = _with_server(hook_request("order-sign", drafts=[order], omit=tuple(PREFETCH_TEMPLATES)))
    assert post_hook(client, request) == {"cards": []}
    assert fhir.calls == []
