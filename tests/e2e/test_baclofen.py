"""baclofen-titration and baclofen-withdrawal from FHIR through HTTP.

Issue 11: without an indication on record (today's facts do not read one yet) orders are judged by
the FDA label (start 5 mg TID, +5 mg per dose every 3 days, critical above 80 mg/day); the tests that
encoded the source's 10 → 30 mg/day plan for every patient were rewritten to the label.

Realistic variants: SCD codes (197391 10 mg, 197392 20 mg, 430902 5 mg), doses in tablets with a
GTS timing code (TID/BID/QID) and in mg with timing.repeat, medicationReference to a contained
Medication, an intrathecal pump order. Dates are relative to today (the service evaluates at the
real clock); the exact threshold edges are in the unit tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.facts import dose_of
from tests.support.fhir import draft, hook_request, medication, medication_request
from tests.support.http import post_hook, topics

BAC_10 = ("197391", "baclofen 10 MG Oral Tablet")
BAC_20 = ("197392", "baclofen 20 MG Oral Tablet")
BAC_5 = ("430902", "baclofen 5 MG Oral Tablet")
LISINOPRIL = ("314076", "lisinopril 10 MG Oral Tablet")
ORDER_HOOKS = ("order-select", "order-sign")


def days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


def cards_of(body: dict[str, Any], topic: str) -> list[dict[str, Any]]:
    return [c for c in body["cards"] if c["source"]["topic"]["code"] == topic]


def one(body: dict[str, Any], topic: str) -> dict[str, Any]:
    found = cards_of(body, topic)
    assert len(found) == 1, [c["summary"] for c in body["cards"]]
    return found[0]


def per_dose_and_frequency(resource: dict[str, Any]) -> tuple[float, int]:
    """mg per dose (tablets times the strength of the product the resource orders), doses a day."""
    return dose_of(resource)


def active_baclofen(mg_per_dose: float, per_day: int, days: float, rid: str = "bac-active") -> dict[str, Any]:
    return medication_request(
        *BAC_10, rid=rid, dose=mg_per_dose, frequency=per_day, authored_on=days_ago(days), route="oral"
    )


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_start_above_the_label_start_in_tablets_with_timing_code(client: TestClient, hook: str) -> None:
    order = draft(*BAC_20, dose=1, dose_unit="tablet", dose_code="{tbl}", timing_code="TID", authored_on=days_ago(0))
    card = one(post_hook(client, hook_request(hook, drafts=[order])), "baclofen-titration")
    assert card["indicator"] == "warning"
    assert "(60 mg/day ordered)" in card["summary"]
    assert "Start baclofen at 15 mg/day or less" in card["summary"]
    assert "60 mg/day" in card["detail"] and "TID" in card["detail"]
    assert card["links"][0]["url"].endswith("/guideline/baclofen-titration")
    assert "dailymed" in card["links"][1]["url"]
    action = card["suggestions"][0]["actions"][0]
    assert action["type"] == "update"
    assert action["resource"]["id"] == "draft-1"
    assert action["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == BAC_5[0]
    assert per_dose_and_frequency(action["resource"]) == (5, 3)  # 15 mg/day
    assert card["selectionBehavior"] == "any"
    assert card["source"]["url"].endswith("/guideline/baclofen-titration")


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_label_step_via_contained_medication_is_quiet(client: TestClient, hook: str) -> None:
    contained = medication("m1", *BAC_10)
    order = draft(
        None,
        BAC_10[1],
        medication_reference="#m1",
        contained=[contained],
        dose=10,
        frequency=2,
        authored_on=days_ago(0),
    )
    body = post_hook(client, hook_request(hook, drafts=[order], meds=[active_baclofen(5, 2, days=10)]))
    assert cards_of(body, "baclofen-titration") == []  # 10 → 20 mg/day after 10 days: within the label
    assert cards_of(body, "baclofen-withdrawal") == []


def test_increase_two_days_after_the_last_change_says_below_72_hours(client: TestClient) -> None:
    order = draft(*BAC_10, dose=10, frequency=2, authored_on=days_ago(0))
    body = post_hook(client, hook_request("order-sign", drafts=[order], meds=[active_baclofen(5, 2, days=2)]))
    card = one(body, "baclofen-titration")
    assert card["indicator"] == "warning"
    assert "<72 h" in card["summary"]
    assert "less than 72 hours" in card["detail"]
    # Keep the current 10 mg/day until the step is due: the sig is in mg ("10 mg twice a day"), which a
    # client applying only the medication keeps, so no button, the card says what to order.
    assert "suggestions" not in card
    assert "Change the order by hand to baclofen 5 mg tablet, 1 twice a day (10 mg/day)" in card["detail"]


def test_above_label_maximum_is_critical(client: TestClient) -> None:
    order = draft(*BAC_20, dose=2, dose_unit="tablet", timing_code="QID", authored_on=days_ago(0))
    body = post_hook(client, hook_request("order-sign", drafts=[order], meds=[active_baclofen(10, 3, days=30)]))
    card = one(body, "baclofen-titration")
    assert card["indicator"] == "critical"
    assert "160 mg/day" in card["detail"]
    assert "80 mg/day" in card["summary"]
    # One label step up from 30: 45 mg/day; no tablet gives it as 2 tablets four times a day
    assert "suggestions" not in card
    assert "No baclofen product gives 45 mg/day as ordered (2 tablets four times a day)" in card["detail"]
    assert "baclofen 5 mg tablet, 3 three times a day" in card["detail"]


def test_the_label_start_in_five_mg_tablets_is_quiet(client: TestClient) -> None:
    order = draft(*BAC_5, dose=1, dose_unit="tablet", timing_code="TID", authored_on=days_ago(0))
    assert cards_of(post_hook(client, hook_request("order-select", drafts=[order])), "baclofen-titration") == []


def test_cut_by_two_steps_warns_withdrawal_and_suggests_first_taper_step(client: TestClient) -> None:
    order = draft(*BAC_10, dose=5, frequency=2, authored_on=days_ago(0))  # 10 mg/day
    body = post_hook(client, hook_request("order-sign", drafts=[order], meds=[active_baclofen(10, 3, days=30)]))
    card = one(body, "baclofen-withdrawal")
    assert card["indicator"] == "warning"
    assert "30 → 10 mg/day" in card["summary"]
    assert "seizures" in card["detail"]
    # the first taper step, 20 mg/day: the order's sig is in mg, so what to order, not a button
    assert "suggestions" not in card
    assert "next **20 mg/day**" in card["detail"]
    assert "baclofen 10 mg tablet, 1 twice a day (20 mg/day)" in card["detail"]
    assert "override" not in card  # sanity: CDS Hooks field is overrideReasons
    assert {r["code"] for r in card["overrideReasons"]} >= {"stopping-for-adverse-effect"}


def test_stop_order_for_active_oral_baclofen(client: TestClient) -> None:
    stop = draft(*BAC_10, rid="bac-active", status="stopped", dose=10, frequency=3, authored_on=days_ago(0))
    body = post_hook(client, hook_request("order-sign", drafts=[stop], meds=[active_baclofen(10, 3, days=30)]))
    card = one(body, "baclofen-withdrawal")
    assert "stopped abruptly" in card["summary"]
    assert cards_of(body, "baclofen-titration") == []


def test_intrathecal_pump_stop_has_boxed_warning_and_no_titration(client: TestClient) -> None:
    pump = medication_request(
        None, "baclofen 2 MG/ML Intrathecal Solution", rid="itb", route="intrathecal", authored_on=days_ago(90)
    )
    stop = draft(None, "baclofen 2 MG/ML Intrathecal Solution", rid="itb", status="stopped", route="intrathecal")
    body = post_hook(client, hook_request("order-sign", drafts=[stop], meds=[pump]))
    card = one(body, "baclofen-withdrawal")
    assert "Taper intrathecal baclofen" in card["summary"]
    assert "Boxed warning" in card["detail"]
    assert cards_of(body, "baclofen-titration") == []


@pytest.mark.parametrize("hook", [*ORDER_HOOKS, "patient-view"])
def test_quiet_for_an_unrelated_drug_and_on_patient_view(client: TestClient, hook: str) -> None:
    drafts = [draft(*LISINOPRIL, dose=10, frequency=1)] if hook != "patient-view" else None
    body = post_hook(client, hook_request(hook, drafts=drafts, meds=[active_baclofen(10, 3, days=30)]))
    assert "baclofen-titration" not in topics(body)
    assert "baclofen-withdrawal" not in topics(body)


def test_order_select_speaks_only_about_the_selected_draft(client: TestClient) -> None:
    baclofen = draft(*BAC_10, rid="bac-draft", dose=10, frequency=3)
    other = draft(*LISINOPRIL, rid="lis-draft", dose=10, frequency=1)
    request = hook_request("order-select", drafts=[baclofen, other], selections=["MedicationRequest/lis-draft"])
    assert "baclofen-titration" not in topics(post_hook(client, request))


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_dose_change_draft_with_the_stored_order_id_is_judged_as_a_step(client: TestClient, hook: str) -> None:
    """EHRs modify an order by sending a draft with the stored order's id: that is a step, not a start."""
    stored = active_baclofen(10, 1, days=10, rid="bac-1")
    step_ok = draft(*BAC_10, rid="bac-1", dose=10, frequency=2, authored_on=days_ago(0))
    body = post_hook(client, hook_request(hook, drafts=[step_ok], meds=[stored]))
    assert cards_of(body, "baclofen-titration") == []  # 10 → 20 mg/day: a label step, not a start

    too_big = draft(*BAC_10, rid="bac-1", dose=10, frequency=4, authored_on=days_ago(0))
    body = post_hook(client, hook_request(hook, drafts=[too_big], meds=[stored]))
    card = one(body, "baclofen-titration")
    assert card["indicator"] == "warning"
    assert "40 mg/day" in card["summary"] + card["detail"]
    assert "10 mg/day" in card["detail"]


def test_suggested_dose_comes_with_a_tablet_that_can_give_it(client: TestClient) -> None:
    """5 mg doses cannot be given from 20 mg tablets: the update orders the 5 mg tablet instead."""
    order = draft(*BAC_20, dose=1, dose_unit="{pill}", dose_code="{pill}", frequency=3, authored_on=days_ago(0))
    card = one(post_hook(client, hook_request("order-select", drafts=[order])), "baclofen-titration")
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["id"] == order["id"]
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == BAC_5[0]
    assert per_dose_and_frequency(resource) == (5, 3)

    assert card["suggestions"][0]["label"] == "Change to baclofen 5 mg tablet, 1 three times a day (15 mg/day)"

    # from 10 mg tablets too: half tablets are never what the button leaves (the sandbox keeps "1 tablet")
    order = draft(*BAC_10, dose=1, dose_unit="{pill}", dose_code="{pill}", frequency=3, authored_on=days_ago(0))
    card = one(post_hook(client, hook_request("order-select", drafts=[order])), "baclofen-titration")
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == BAC_5[0]
    assert resource["dosageInstruction"] == order["dosageInstruction"]
