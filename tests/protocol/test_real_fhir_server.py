"""Integration: the cards are the same whether the EHR sends prefetch or the service fetches.

respx tests answer what their author believes FHIR search does. Here the FHIR server is real
code: Medplum's in-memory R4 engine (npm `@medplum/fhir-router` 4.5.2, behind the small wrapper in
`tests/medplum/server.mjs`) evaluates the service's own prefetch queries with R4 search semantics:
reference and token parameters, OR lists, status filters, `_sort=-date`, `_count`, reads.

Each scenario describes one patient twice: the prefetch an EHR would send for our templates, and
the FHIR server's contents: that same data plus records the queries must leave out. Some of those
would change the cards if a query let them through (another patient's critical potassium or active
MAOI, older normal potassium results beyond `_count` that only `_sort=-date` pushes out); others
(cancelled or entered-in-error orders, resolved conditions, other lab codes) the facts layer also
ignores, so there they only prove the fetch path copes with them. Every hook is called once with
full prefetch (no FHIR server) and once with no prefetch and `fhirServer` pointing at Medplum; the
cards must match in topic, indicator, summary, detail and suggestion labels (uuids differ), the
fetched variant must carry no data-unavailable card, and order-sign must show the scenario's cards.
A control test proves the comparison can fail: the prefetch a broken search would produce gives
different cards.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.engine import DATA_UNAVAILABLE_TOPIC
from cds_service.protocol.services import POTASSIUM, PREFETCH_TEMPLATES
from cds_service.settings import load_settings
from tests.support.fhir import (
    condition,
    draft,
    hook_request,
    magnesium,
    medication,
    medication_request,
    observation,
    patient,
    potassium,
)
from tests.support.node_servers import MedplumServer

pytestmark = pytest.mark.medplum

REQUEST_FIXTURES = Path(__file__).parents[2] / "fixtures" / "fhir" / "requests"
ACCESS_TOKEN = "medplum-test-access-token"
HOOKS = ("order-select", "order-sign", "patient-view")
POTASSIUM_COUNT = int(re.search(r"_count=(\d+)", PREFETCH_TEMPLATES[POTASSIUM])[1])  # type: ignore[index]


# The FHIR server: the session's `medplum` fixture (tests/conftest.py, tests/support/node_servers.py).


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    # dev: any fhirServer may be called (the Medplum port is random); no audit storage.
    with TestClient(create_app(load_settings(dev=True, storage_enabled=False))) as test_client:
        yield test_client


# ------------------------------------------------------------------------- patients


def days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def birth_date(years: int) -> str:
    return (datetime.now(UTC) - timedelta(days=365.25 * years + 30)).date().isoformat()


@dataclass
class Scenario:
    """One patient: what the prefetch holds, the draft orders, and what only the server holds."""

    pid: str
    drafts: list[dict[str, Any]]
    patient: dict[str, Any]
    medications: list[dict[str, Any]] = field(default_factory=list)
    included_medications: list[dict[str, Any]] = field(default_factory=list)  # `_include`d Medications
    potassium: list[dict[str, Any]] = field(default_factory=list)  # all results, newest first
    magnesium: list[dict[str, Any]] = field(default_factory=list)
    conditions: list[dict[str, Any]] = field(default_factory=list)
    draft_extra: list[dict[str, Any]] = field(default_factory=list)  # Epic: Medications in draftOrders
    excluded_by_search: list[dict[str, Any]] = field(default_factory=list)  # on the server only
    order_sign_topics: frozenset[str] = frozenset()  # cards order-sign must show (not vacuous)
    # What a broken search would have returned instead (edits a with-prefetch request in place).
    broken_search: dict[str, Callable[[dict[str, Any]], None]] = field(default_factory=dict)

    def server_resources(self) -> list[dict[str, Any]]:
        return [
            self.patient,
            *self.medications,
            *self.included_medications,
            *reversed(self.potassium),  # oldest stored first: only `_sort=-date` brings the newest up
            *self.magnesium,
            *self.conditions,
            *self.excluded_by_search,
        ]

    def with_prefetch(self, hook: str) -> dict[str, Any]:
        request = hook_request(
            hook,
            drafts=copy.deepcopy(self.drafts),
            draft_extra=copy.deepcopy(self.draft_extra),
            patient_resource=self.patient,
            meds=self.medications,
            potassium_results=self.potassium[:POTASSIUM_COUNT],
            magnesium_results=self.magnesium,
            conditions=self.conditions,
            pid=self.pid,
        )
        # What an EHR returns for `_include=MedicationRequest:medication`.
        request["prefetch"]["medications"]["entry"] += [
            {"fullUrl": f"urn:uuid:include-{m['id']}", "resource": m, "search": {"mode": "include"}}
            for m in self.included_medications
        ]
        return request

    def without_prefetch(self, hook: str, fhir_base: str) -> dict[str, Any]:
        return fetching_from(self.with_prefetch(hook), fhir_base)


def fetching_from(request: dict[str, Any], fhir_base: str) -> dict[str, Any]:
    """The same request with no prefetch at all: the service must query `fhir_base` for everything."""
    request = {key: value for key, value in request.items() if key not in ("prefetch", "fhirAuthorization")}
    request["fhirServer"] = fhir_base
    request["fhirAuthorization"] = {
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/Patient.read user/MedicationRequest.read user/Medication.read "
        "user/Observation.read user/Condition.read",
        "subject": "muscle-spasm-cds",
    }
    return request


BACLOFEN_10 = ("197391", "baclofen 10 MG Oral Tablet")
CYCLOBENZAPRINE_10 = ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet")
SERTRALINE_50 = ("312941", "Sertraline 50 MG Oral Tablet")
PHENELZINE_15 = ("312347", "Phenelzine 15 MG Oral Tablet")
TIZANIDINE_4 = ("313413", "tizanidine 4 MG Oral Tablet")
CIPROFLOXACIN_500 = ("309309", "Ciprofloxacin 500 MG Oral Tablet")
SODIUM_LOINC = "2951-2"


def _prepend(request: dict[str, Any], key: str, resource: dict[str, Any]) -> None:
    request["prefetch"][key]["entry"].insert(0, {"resource": resource})


def _replace(request: dict[str, Any], key: str, resources: list[dict[str, Any]]) -> None:
    request["prefetch"][key]["entry"] = [{"resource": r} for r in resources]


def baclofen_step_with_low_potassium() -> Scenario:
    """Baclofen 15 → 45 mg/day (a step above the label's 15 mg/day) a week after the last step; K 3.1."""
    pid = "mp-baclofen"
    other_patient_potassium = potassium(2.4, days_ago(1), oid="mp-k-other-patient", pid="mp-someone-else")
    scenario = Scenario(
        pid=pid,
        patient=patient(birth_date=birth_date(52), gender="male", pid=pid),
        drafts=[draft(*BACLOFEN_10, dose=15, frequency=3, authored_on=days_ago(0), pid=pid)],
        medications=[
            medication_request(
                *BACLOFEN_10, rid="mp-bac-active", dose=5, frequency=3, route="oral", authored_on=days_ago(7), pid=pid
            ),
            medication_request(
                *BACLOFEN_10,
                rid="mp-bac-start",
                status="stopped",
                dose=5,
                frequency=2,
                route="oral",
                authored_on=days_ago(14),
                pid=pid,
            ),
        ],
        # The low result and, before it, more normal ones than one `_count` page holds.
        potassium=[
            potassium(3.1, days_ago(2), oid="mp-k-low", pid=pid),
            *(potassium(4.0 + i / 10, days_ago(10 + i), oid=f"mp-k-old-{i}", pid=pid) for i in range(POTASSIUM_COUNT)),
        ],
        magnesium=[magnesium(2.0, days_ago(2), oid="mp-mg", pid=pid)],
        excluded_by_search=[
            other_patient_potassium,
            medication_request(
                *BACLOFEN_10,
                rid="mp-bac-cancelled",
                status="cancelled",
                dose=30,
                frequency=3,
                authored_on=days_ago(3),
                pid=pid,
            ),
            observation(SODIUM_LOINC, 128, "mmol/L", days_ago(1), ucum="mmol/L", oid="mp-na", pid=pid),
        ],
        order_sign_topics=frozenset({"baclofen-titration", "electrolyte-potassium"}),
        broken_search={
            "patient filter ignored": lambda request: _prepend(request, "potassium", other_patient_potassium),
            "_sort ignored": lambda request: _replace(request, "potassium", oldest_first[:POTASSIUM_COUNT]),
        },
    )
    oldest_first = scenario.potassium[::-1]
    return scenario


def cyclobenzaprine_with_ssri_and_arrhythmia() -> Scenario:
    """Cyclobenzaprine for a patient on sertraline with atrial fibrillation."""
    pid = "mp-cyclo"
    other_patient_maoi = medication_request(
        *PHENELZINE_15,
        rid="mp-phenelzine-other-patient",
        dose=15,
        frequency=3,
        authored_on=days_ago(30),
        pid="mp-someone-else",
    )
    return Scenario(
        pid=pid,
        patient=patient(birth_date=birth_date(58), pid=pid),
        drafts=[draft(*CYCLOBENZAPRINE_10, dose=5, frequency=3, supply_days=7, pid=pid)],
        medications=[
            medication_request(
                *SERTRALINE_50, rid="mp-sertraline", dose=50, frequency=1, authored_on=days_ago(60), pid=pid
            ),
        ],
        potassium=[potassium(4.2, days_ago(5), oid="mp-k-normal", pid=pid)],
        magnesium=[magnesium(2.1, days_ago(5), oid="mp-mg-normal", pid=pid)],
        conditions=[condition("I48.0", "Paroxysmal atrial fibrillation", cid="mp-afib", pid=pid)],
        excluded_by_search=[
            other_patient_maoi,
            medication_request(
                *PHENELZINE_15,
                rid="mp-phenelzine-error",
                status="entered-in-error",
                dose=15,
                frequency=3,
                authored_on=days_ago(2),
                pid=pid,
            ),
            condition(
                "E05.90",
                "Thyrotoxicosis, unspecified without thyrotoxic crisis or storm",
                clinical_status="resolved",
                cid="mp-thyro-resolved",
                pid=pid,
            ),
        ],
        order_sign_topics=frozenset({"cyclobenzaprine-cardiac", "serotonergic-combination"}),
        broken_search={"patient filter ignored": lambda request: _prepend(request, "medications", other_patient_maoi)},
    )


def epic_medication_references() -> Scenario:
    """Epic style: orders name their drug only through `medicationReference` to a Medication.

    The draft's Medication travels in draftOrders (as Epic sends it); the active ciprofloxacin's
    Medication is on the server only: without prefetch the service must read it to see the
    tizanidine interaction.
    """
    pid = "mp-epic"
    tizanidine = medication("mp-med-tizanidine", *TIZANIDINE_4)
    ciprofloxacin = medication("mp-med-cipro", *CIPROFLOXACIN_500)
    return Scenario(
        pid=pid,
        patient=patient(birth_date=birth_date(47), pid=pid),
        drafts=[
            draft(
                None,
                "tizanidine 4 mg tablet",
                medication_reference="Medication/mp-med-tizanidine",
                dose=4,
                frequency=3,
                dose_at_root=True,
                pid=pid,
            )
        ],
        draft_extra=[tizanidine],
        medications=[
            medication_request(
                None,
                "ciprofloxacin 500 mg tablet",
                rid="mp-cipro",
                medication_reference="Medication/mp-med-cipro",
                dose=500,
                frequency=2,
                dose_at_root=True,
                authored_on=days_ago(2),
                pid=pid,
            ),
        ],
        included_medications=[ciprofloxacin],
        potassium=[potassium(4.0, days_ago(3), oid="mp-k-epic", pid=pid)],
        magnesium=[magnesium(2.0, days_ago(3), oid="mp-mg-epic", pid=pid)],
        excluded_by_search=[tizanidine],  # Medications are not matched by MedicationRequest searches
        order_sign_topics=frozenset({"tizanidine-interaction"}),
        broken_search={
            "medicationReference not resolved": lambda request: _replace(
                request,
                "medications",
                [
                    e["resource"]
                    for e in request["prefetch"]["medications"]["entry"]
                    if e["resource"]["resourceType"] == "MedicationRequest"
                ],
            )
        },
    )


SCENARIOS = {
    "baclofen-step-low-potassium": baclofen_step_with_low_potassium,
    "cyclobenzaprine-ssri-arrhythmia": cyclobenzaprine_with_ssri_and_arrhythmia,
    "epic-medication-reference": epic_medication_references,
}


# ------------------------------------------------------------------------- comparison


def card_view(card: dict[str, Any]) -> dict[str, Any]:
    """What a clinician sees of a card; uuids (per response) left out."""
    return {
        "topic": card["source"]["topic"]["code"],
        "indicator": card["indicator"],
        "summary": card["summary"],
        "detail": card.get("detail"),
        "suggestions": [s["label"] for s in card.get("suggestions", [])],
        # topics folded into this card as "Also:" lines (issue 20: at most two cards per order)
        "also": sorted(
            link["url"].rsplit("/", 1)[1] for link in card.get("links", []) if link["label"].startswith("Also:")
        ),
    }


def call(client: TestClient, request: dict[str, Any]) -> list[dict[str, Any]]:
    service = f"muscle-spasm-{request['hook']}"
    response = client.post(f"/cds-services/{service}", json=request)
    assert response.status_code == 200, response.text
    return [card_view(card) for card in response.json()["cards"]]


@pytest.fixture(scope="module")
def loaded(medplum: MedplumServer) -> MedplumServer:
    for make in SCENARIOS.values():
        medplum.put(make().server_resources())
    return medplum


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_cards_with_prefetch_and_fetched_from_medplum(
    client: TestClient, loaded: MedplumServer, name: str, hook: str
) -> None:
    scenario = SCENARIOS[name]()
    with_prefetch = call(client, scenario.with_prefetch(hook))

    loaded.clear_requests()
    fetched = call(client, scenario.without_prefetch(hook, loaded.base))
    asked = loaded.requests()

    assert fetched == with_prefetch
    assert DATA_UNAVAILABLE_TOPIC not in {c["topic"] for c in fetched}
    if hook == "order-sign":
        shown = {c["topic"] for c in fetched} | {topic for c in fetched for topic in c["also"]}
        assert scenario.order_sign_topics <= shown, fetched

    # The cards came from the server: every prefetch query was asked, with the bearer token.
    searched = {r["url"].split("?")[0] for r in asked}
    assert {f"Patient/{scenario.pid}", "MedicationRequest", "Observation", "Condition"} <= searched, asked
    assert all(r["bearer"] for r in asked)
    assert all(scenario.pid in r["url"] for r in asked if "?" in r["url"])
    for medication_resource in scenario.included_medications:
        assert f"Medication/{medication_resource['id']}" in searched, asked
    if len(scenario.potassium) > POTASSIUM_COUNT:  # the second page, through the server's `next` link
        assert any("_offset=" in r["url"] for r in asked if r["url"].startswith("Observation")), asked


BROKEN_SEARCHES = [(name, broken) for name in sorted(SCENARIOS) for broken in SCENARIOS[name]().broken_search]


@pytest.mark.parametrize(("name", "broken"), BROKEN_SEARCHES)
def test_control_what_a_broken_search_returns_changes_the_cards(client: TestClient, name: str, broken: str) -> None:
    """Without this, equal cards could mean the data never mattered."""
    scenario = SCENARIOS[name]()
    correct = call(client, scenario.with_prefetch("order-sign"))
    request = scenario.with_prefetch("order-sign")
    scenario.broken_search[broken](request)
    assert call(client, request) != correct


# ------------------------------------------------------------------------- recorded-style fixtures


def _fixture_requests() -> list[Path]:
    """Full CDS Hooks requests in fixtures/fhir/requests with every prefetch key present."""
    found = []
    for path in sorted(REQUEST_FIXTURES.glob("*.json")):
        request = json.loads(path.read_text())
        if request.get("hook") in HOOKS and set(PREFETCH_TEMPLATES) <= set(request.get("prefetch") or {}):
            found.append(path)
    return found


def _server_copy(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as its own server stores it: references relative (Epic writes them absolute)."""
    text = json.dumps(resource)
    text = re.sub(
        r'"reference": "https?://[^"]*/((?:Patient|Medication|Practitioner|Encounter)/[^"/]+)"',
        r'"reference": "\1"',
        text,
    )
    return json.loads(text)


@pytest.mark.parametrize("path", _fixture_requests(), ids=lambda p: p.stem)
def test_fixture_requests_same_cards_when_fetched(client: TestClient, medplum: MedplumServer, path: Path) -> None:
    """The integrators' fixtures: their prefetch loaded into Medplum, then fetched instead of sent.

    A prefetch OperationOutcome (an EHR saying "could not search") is a data gap in the sent
    variant only, so the data-unavailable card is compared separately: absent when fetched.
    """
    request = json.loads(path.read_text())
    resources = [
        _server_copy(entry["resource"])
        for value in request["prefetch"].values()
        if isinstance(value, dict)
        for entry in (value.get("entry") or [] if value.get("resourceType") == "Bundle" else [{"resource": value}])
        if entry.get("resource", {}).get("resourceType") not in (None, "OperationOutcome")
    ]
    medplum.put(resources)
    sent = [c for c in call(client, request) if c["topic"] != DATA_UNAVAILABLE_TOPIC]

    medplum.clear_requests()
    fetched = call(client, fetching_from(request, medplum.base))
    assert fetched, "every fixture request is expected to produce cards"
    assert fetched == sent
    assert DATA_UNAVAILABLE_TOPIC not in {c["topic"] for c in fetched}
    assert medplum.requests() and all(r["bearer"] for r in medplum.requests())
