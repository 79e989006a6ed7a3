"""cyclobenzaprine-duration and cyclobenzaprine-cardiac from FHIR through HTTP, all three hooks.

Realistic variants: RxNorm SCD/SBD codes, medicationReference to a contained Medication, the
Flexeril brand in text only, ICD-10-CM and SNOMED CT conditions. Dates are relative to today
because the service evaluates at the real clock; exact threshold edges are in the unit tests.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.support.fhir import (
    SNOMED,
    condition,
    draft,
    hook_request,
    medication,
    medication_request,
    patient,
)
from tests.support.http import cards_of, days_ago, one_card, post_hook, topics, years_ago

CYCLO_10_SCD = ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet")
AMRIX_15_SBD = ("828359", "24 HR cyclobenzaprine hydrochloride 15 MG Extended Release Oral Capsule [Amrix]")
ORDER_HOOKS = ("order-select", "order-sign")


# --------------------------------------------------------------------- cyclobenzaprine-duration


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_e2e_duration_30_day_scd_order_with_refill_gets_update_to_21_days(
    whole_resource_client: TestClient, hook: str
) -> None:
    """An EHR that applies a suggestion's whole resource gets the whole order back, limited."""
    order = draft(*CYCLO_10_SCD, dose=10, frequency=3, supply_days=30, quantity=90, refills=1, route="oral")
    body = post_hook(whole_resource_client, hook_request(hook, drafts=[order]))
    card = one_card(body, "cyclobenzaprine-duration")
    assert card["indicator"] == "warning"
    assert "60 days" in card["summary"]  # 30 days × (1 + 1 refill): refills extend the course
    assert "refill" in card["detail"]
    assert "enter on the order" not in card["detail"]  # the button does it
    [suggestion] = card["suggestions"]
    [action] = suggestion["actions"]
    assert action["type"] == "update"
    resource = action["resource"]
    assert resource["id"] == "draft-1"
    assert resource["dosageInstruction"] == order["dosageInstruction"]  # the sig as ordered
    assert resource["dispenseRequest"]["expectedSupplyDuration"]["value"] == 21
    assert resource["dispenseRequest"]["quantity"]["value"] == 63  # 10 mg tablets, 3 a day, 21 days
    assert "numberOfRepeatsAllowed" not in resource["dispenseRequest"]
    assert card["source"]["url"].endswith("/guideline/cyclobenzaprine-duration")


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_e2e_duration_for_a_client_that_applies_only_the_medication_says_what_to_enter(
    client: TestClient, hook: str
) -> None:
    """The sandbox (and --dev, and any client not configured otherwise) keeps its own supply when it
    takes a suggestion: "Limit the supply to 21 days" would be accepted and change nothing. So no
    button: the card says what to enter."""
    order = draft(*CYCLO_10_SCD, dose=10, frequency=3, supply_days=30, quantity=90, refills=1, route="oral")
    card = one_card(post_hook(client, hook_request(hook, drafts=[order])), "cyclobenzaprine-duration")
    assert "60 days" in card["summary"]
    assert "suggestions" not in card and "selectionBehavior" not in card
    assert card["detail"].endswith("enter on the order: days' supply **21**, quantity **63 tablets**, no refills.")


def test_e2e_duration_30_day_order_without_refills(client: TestClient) -> None:
    order = draft(*CYCLO_10_SCD, dose=10, frequency=3, supply_days=30)
    card = one_card(post_hook(client, hook_request("order-sign", drafts=[order])), "cyclobenzaprine-duration")
    assert "30 days" in card["summary"]
    # Seen in the sandbox: the detail said "supply 30 days (30 days = 30 days)".
    assert "supply **30 days** (expected supply duration)" in card["detail"]


def test_e2e_duration_supply_computed_from_quantity(client: TestClient) -> None:
    # 84 tablets at 1 tablet three times daily = 28 days; no expectedSupplyDuration on the order.
    order = draft(*CYCLO_10_SCD, dose=1, dose_unit="tablet", dose_code="{tbl}", frequency=3, quantity=84)
    card = one_card(post_hook(client, hook_request("order-sign", drafts=[order])), "cyclobenzaprine-duration")
    assert "28 days" in card["summary"]


def test_e2e_duration_contained_medication_reference_amrix(client: TestClient) -> None:
    contained = [medication("med1", *AMRIX_15_SBD)]
    order = draft(
        None,
        "cyclobenzaprine (AMRIX) 15 mg 24 hr capsule",
        medication_reference="#med1",
        contained=contained,
        dose=15,
        frequency=1,
        supply_days=30,
    )
    body = post_hook(client, hook_request("order-sign", drafts=[order]))
    assert one_card(body, "cyclobenzaprine-duration")["indicator"] == "warning"


def test_e2e_duration_14_day_order_is_quiet(client: TestClient) -> None:
    order = draft(*CYCLO_10_SCD, dose=10, frequency=3, supply_days=14)
    assert cards_of(post_hook(client, hook_request("order-sign", drafts=[order])), "cyclobenzaprine-duration") == []


def test_e2e_duration_renewal_counts_the_current_course(whole_resource_client: TestClient) -> None:
    current = medication_request(
        *CYCLO_10_SCD, rid="cyclo-current", authored_on=days_ago(10), dose=10, frequency=3, supply_days=14
    )
    renewal = draft(*CYCLO_10_SCD, dose=10, frequency=3, supply_days=14)
    body = post_hook(whole_resource_client, hook_request("order-sign", drafts=[renewal], meds=[current]))
    card = one_card(body, "cyclobenzaprine-duration")
    assert "renewal" in card["summary"]
    assert days_ago(10) in card["detail"]
    days = card["suggestions"][0]["actions"][0]["resource"]["dispenseRequest"]["expectedSupplyDuration"]["value"]
    assert days in (10, 11)


def test_e2e_duration_patient_view_course_past_21_days(client: TestClient) -> None:
    current = medication_request(*CYCLO_10_SCD, authored_on=days_ago(25), dose=10, frequency=3, supply_days=30)
    body = post_hook(client, hook_request("patient-view", meds=[current]))
    card = one_card(body, "cyclobenzaprine-duration")
    assert re.search(r"Reassess cyclobenzaprine: taken 2[56] days", card["summary"])  # authored at midnight
    assert days_ago(25) in card["detail"]
    assert "suggestions" not in card


def test_e2e_duration_patient_view_ended_course_is_quiet(client: TestClient) -> None:
    """A completed order is over whatever its supply said (status decides, issue 11)."""
    ended = medication_request(
        *CYCLO_10_SCD, authored_on=days_ago(40), dose=10, frequency=3, supply_days=30, status="completed"
    )
    body = post_hook(client, hook_request("patient-view", meds=[ended]))
    assert cards_of(body, "cyclobenzaprine-duration") == []


def test_e2e_duration_patient_view_short_course_is_quiet(client: TestClient) -> None:
    current = medication_request(*CYCLO_10_SCD, authored_on=days_ago(3), dose=10, frequency=3, supply_days=10)
    body = post_hook(client, hook_request("patient-view", meds=[current]))
    assert cards_of(body, "cyclobenzaprine-duration") == []


# --------------------------------------------------------------------- cyclobenzaprine-cardiac

AFIB_ICD10 = ("I48.0", "Paroxysmal atrial fibrillation")
CHF_SNOMED = ("42343007", "Congestive heart failure")
THYROTOXICOSIS_ICD10 = ("E05.90", "Thyrotoxicosis, unspecified without thyrotoxic crisis or storm")


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_e2e_cardiac_afib_icd10_is_critical_with_remove_suggestion(client: TestClient, hook: str) -> None:
    order = draft(*CYCLO_10_SCD, dose=5, frequency=3, supply_days=7)
    body = post_hook(client, hook_request(hook, drafts=[order], conditions=[condition(*AFIB_ICD10)]))
    card = one_card(body, "cyclobenzaprine-cardiac")
    assert card["indicator"] == "critical"
    assert "arrhythmia" in card["summary"]
    assert "I48.0" in card["detail"]
    [action] = card["suggestions"][0]["actions"]
    assert action == {
        "type": "delete",
        "description": action["description"],
        "resourceId": ["MedicationRequest/draft-1"],
    }


def test_e2e_cardiac_snomed_heart_failure_and_flexeril_by_name(client: TestClient) -> None:
    order = draft(None, "Flexeril 10 mg tablet", dose=10, frequency=3, supply_days=7)
    body = post_hook(
        client, hook_request("order-sign", drafts=[order], conditions=[condition(*CHF_SNOMED, system=SNOMED)])
    )
    card = one_card(body, "cyclobenzaprine-cardiac")
    assert card["indicator"] == "critical" and "heart failure" in card["summary"]
    assert "matched by name only" in card["detail"]


def test_e2e_cardiac_patient_view_hyperthyroidism(client: TestClient) -> None:
    current = medication_request(*CYCLO_10_SCD, authored_on=days_ago(2), dose=10, frequency=3, supply_days=10)
    body = post_hook(
        client, hook_request("patient-view", meds=[current], conditions=[condition(*THYROTOXICOSIS_ICD10)])
    )
    card = one_card(body, "cyclobenzaprine-cardiac")
    assert card["indicator"] == "critical" and "hyperthyroidism" in card["summary"]


def test_e2e_cardiac_resolved_condition_and_other_drug_are_quiet(client: TestClient) -> None:
    resolved = condition(*AFIB_ICD10, clinical_status="resolved")
    body = post_hook(
        client,
        hook_request(
            "order-sign", drafts=[draft(*CYCLO_10_SCD, dose=5, frequency=3, supply_days=7)], conditions=[resolved]
        ),
    )
    assert cards_of(body, "cyclobenzaprine-cardiac") == []
    other = draft("197391", "baclofen 10 MG Oral Tablet", dose=5, frequency=2, supply_days=7)
    body = post_hook(client, hook_request("order-sign", drafts=[other], conditions=[condition(*AFIB_ICD10)]))
    assert cards_of(body, "cyclobenzaprine-cardiac") == []


def test_e2e_young_patient_short_cyclobenzaprine_course_is_completely_quiet(client: TestClient) -> None:
    order = draft(*CYCLO_10_SCD, dose=5, frequency=3, supply_days=7)
    body = post_hook(client, hook_request("order-sign", drafts=[order], patient_resource=patient("1990-01-01")))
    mine = {
        "cyclobenzaprine-duration",
        "cyclobenzaprine-cardiac",
        "serotonergic-combination",
        "elderly-caution",
        "sedation-risk",
        "tizanidine-interaction",
    }
    assert mine.isdisjoint(topics(body))


def test_e2e_order_select_speaks_only_about_the_selected_draft(whole_resource_client: TestClient) -> None:
    client = whole_resource_client
    cyclo = draft(*CYCLO_10_SCD, rid="d-cyclo", dose=10, frequency=3, supply_days=30)
    other = draft("314076", "lisinopril 10 MG Oral Tablet", rid="d-lis", dose=10, frequency=1)
    request = hook_request("order-select", drafts=[cyclo, other], selections=["MedicationRequest/d-lis"])
    assert cards_of(post_hook(client, request), "cyclobenzaprine-duration") == []
    request = hook_request("order-select", drafts=[cyclo, other], selections=["MedicationRequest/d-cyclo"])
    card = one_card(post_hook(client, request), "cyclobenzaprine-duration")
    assert card["suggestions"][0]["actions"][0]["resource"]["id"] == "d-cyclo"


def test_e2e_patient_view_contraindication_carries_the_duration_as_a_line(client: TestClient) -> None:
    """Found in the sandbox: a 78-year-old with heart failure, on cyclobenzaprine for 35 days, got
    "Stop cyclobenzaprine: contraindicated" and "Reassess cyclobenzaprine: taken 35 days" as two cards.
    Stopping settles the duration: one card, the duration a line in it."""
    current = medication_request(*CYCLO_10_SCD, authored_on=days_ago(35), dose=10, frequency=3, supply_days=30)
    request = hook_request(
        "patient-view",
        meds=[current],
        conditions=[condition(*CHF_SNOMED, system=SNOMED)],
        patient_resource=patient(years_ago(78)),
    )
    body = post_hook(client, request)
    [card] = body["cards"]
    assert card["indicator"] == "critical" and "heart failure" in card["summary"]
    assert re.search(r"Also: Reassess cyclobenzaprine: taken 3[56] days", card["detail"])
    [also] = [link for link in card["links"] if link["label"].startswith("Also:")]  # its reasoning, one click
    assert also["url"].endswith("/guideline/cyclobenzaprine-duration") and also["url"].startswith("http")
    # Without the contraindication the duration is a card of its own, as before.
    request["prefetch"]["conditions"]["entry"] = []
    assert topics(post_hook(client, request)) == ["cyclobenzaprine-duration"]


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_e2e_order_nothing_stands_beside_the_contraindication_for_the_same_order(client: TestClient, hook: str) -> None:
    """Issue 20: "Limit cyclobenzaprine to 21 days" stood beside the critical "do not use" card for the
    same order, while the chart made it a line: now both hooks make it a line of the critical card, its
    reasoning and override reasons kept, and no supply button beside the removal."""
    order = draft(*CYCLO_10_SCD, dose=10, frequency=3, supply_days=30)
    body = post_hook(client, hook_request(hook, drafts=[order], conditions=[condition(*AFIB_ICD10)]))
    [card] = body["cards"]
    assert card["indicator"] == "critical" and card["source"]["topic"]["code"] == "cyclobenzaprine-cardiac"
    assert "Also: Limit cyclobenzaprine to 21 days" in card["detail"]
    assert any(link["url"].endswith("/guideline/cyclobenzaprine-duration") for link in card["links"])
    assert [s["label"] for s in card["suggestions"]] == ["Remove the draft cyclobenzaprine order"]
    assert "specialist-directed" in {r["code"] for r in card["overrideReasons"]}  # the duration card's reason
