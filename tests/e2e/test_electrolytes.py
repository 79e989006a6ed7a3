"""electrolyte-potassium, -magnesium and -monitoring from FHIR through HTTP, all three hooks.

Units as labs send them: potassium in mmol/L and mEq/L, magnesium in mg/dL (LOINC 19123-9) and
mmol/L (2601-3); a preliminary result; scope by relaxant order, active relaxant or condition.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.fhir import condition, draft, hook_request, magnesium, medication_request, patient, potassium
from tests.support.http import post_hook, topics, years_ago

BAC_10 = ("197391", "baclofen 10 MG Oral Tablet")
BAC_5 = ("430902", "baclofen 5 MG Oral Tablet")
TIZANIDINE_4 = ("313413", "tizanidine 4 MG Oral Tablet")
LISINOPRIL = ("314076", "lisinopril 10 MG Oral Tablet")
FUROSEMIDE_40 = ("313988", "furosemide 40 MG Oral Tablet")
ORDER_HOOKS = ("order-select", "order-sign")
ELECTROLYTE_TOPICS = {"electrolyte-potassium", "electrolyte-magnesium", "electrolyte-monitoring"}


def days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def one(body: dict[str, Any], topic: str) -> dict[str, Any]:
    found = [c for c in body["cards"] if c["source"]["topic"]["code"] == topic]
    assert len(found) == 1, [c["summary"] for c in body["cards"]]
    return found[0]


def baclofen_draft() -> dict[str, Any]:
    """30 mg/day: a start above the label's 15 mg/day, so the titration card warns about this order."""
    return draft(*BAC_10, dose=1, dose_unit="tablet", timing_code="TID")


def label_start_draft() -> dict[str, Any]:
    """15 mg/day, the label's start: no other card speaks about this order."""
    return draft(*BAC_5, dose=1, dose_unit="tablet", timing_code="TID")


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_low_potassium_meq_and_low_magnesium_mg_dl_when_ordering_baclofen(client: TestClient, hook: str) -> None:
    k = potassium(3.1, days_ago(3), unit="mEq/L", ucum="meq/L")
    mg = magnesium(1.5, days_ago(3))
    body = post_hook(
        client, hook_request(hook, drafts=[label_start_draft()], potassium_results=[k], magnesium_results=[mg])
    )
    # issue 20: potassium and magnesium in one card (each card told to check the other), magnesium
    # first (potassium is hard to correct while magnesium is low)
    [card] = body["cards"]
    assert card["source"]["topic"]["code"] == "electrolyte-magnesium"
    assert card["indicator"] == "info"  # 0.62 mmol/L: 0.60-0.69 is the mild band
    assert "Mg 1.5 mg/dL" in card["summary"]
    assert "0.62 mmol/L" in card["detail"]  # 1.5 × 0.4114
    assert days_ago(3)[:10] in card["detail"]
    # potassium 3.1 mEq/L, the mild band (issue 12): a line with its reasoning linked
    assert "Also: Correct low potassium (K 3.1 mEq/L): mild hypokalaemia." in card["detail"]
    assert any(link["url"].endswith("/guideline/electrolyte-potassium") for link in card["links"])
    assert "electrolyte-monitoring" not in topics(body)


def test_a_mild_low_potassium_is_a_line_in_the_card_about_the_order(client: TestClient) -> None:
    """Issue 20: an info card beside a warning about the same order is a line in it, its reasoning linked."""
    body = post_hook(
        client,
        hook_request(
            "order-sign",
            drafts=[baclofen_draft()],
            potassium_results=[potassium(3.1, days_ago(3), unit="mEq/L", ucum="meq/L")],
            magnesium_results=[magnesium(2.0, days_ago(3))],
        ),
    )
    [card] = body["cards"]
    assert card["source"]["topic"]["code"] == "baclofen-titration"
    assert "Also: Correct low potassium (K 3.1 mEq/L)" in card["detail"]
    assert any(link["url"].endswith("/guideline/electrolyte-potassium") for link in card["links"])


def test_magnesium_at_1_7_mg_dl_is_not_low(client: TestClient) -> None:
    body = post_hook(
        client,
        hook_request(
            "order-sign",
            drafts=[baclofen_draft()],
            potassium_results=[potassium(4.0, days_ago(1))],
            magnesium_results=[magnesium(1.7, days_ago(1))],
        ),
    )
    assert not ELECTROLYTE_TOPICS & set(topics(body))


def test_patient_view_on_tizanidine_with_severe_hypokalaemia_is_critical(client: TestClient) -> None:
    body = post_hook(
        client,
        hook_request(
            "patient-view",
            meds=[medication_request(*TIZANIDINE_4, dose=4, frequency=3, authored_on=days_ago(20))],
            potassium_results=[potassium(2.3, days_ago(1))],
            magnesium_results=[magnesium(0.45, days_ago(1), unit="mmol/L")],
        ),
    )
    [card] = body["cards"]  # potassium and magnesium: one card (issue 20)
    assert card["indicator"] == "critical" and "Mg 0.45 mmol/L" in card["summary"]
    assert "Also: Correct low potassium (K 2.3 mmol/L)" in card["detail"]


def test_patient_view_with_a_cramp_condition_only(client: TestClient) -> None:
    cramps = [condition("R25.2", "Cramp and spasm")]
    body = post_hook(
        client, hook_request("patient-view", conditions=cramps, potassium_results=[potassium(2.8, days_ago(0.2))])
    )
    card = one(body, "electrolyte-potassium")
    assert "Cramp and spasm" in card["detail"]
    # A condition alone does not make the service order labs.
    assert "electrolyte-monitoring" not in topics(body)


def test_a_preliminary_result_is_not_used(client: TestClient) -> None:
    """Issue 11: preliminary results are not acted on (they may still change); the final one is."""
    cramps = [condition("R25.2", "Cramp and spasm")]
    preliminary = potassium(2.8, days_ago(0.2), status="preliminary")
    body = post_hook(client, hook_request("patient-view", conditions=cramps, potassium_results=[preliminary]))
    assert "electrolyte-potassium" not in topics(body)


@pytest.mark.parametrize("hook", [*ORDER_HOOKS, "patient-view"])
def test_quiet_for_a_patient_this_guideline_is_not_about(client: TestClient, hook: str) -> None:
    drafts = [draft(*LISINOPRIL, dose=10, frequency=1)] if hook != "patient-view" else None
    body = post_hook(
        client,
        hook_request(
            hook,
            drafts=drafts,
            meds=[medication_request(*LISINOPRIL, dose=10, frequency=1)],
            potassium_results=[potassium(2.9, days_ago(1))],
            magnesium_results=[magnesium(1.1, days_ago(1))],
        ),
    )
    assert not ELECTROLYTE_TOPICS & set(topics(body))


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_a_healthy_40_year_olds_relaxant_order_without_labs_gets_no_lab_card(client: TestClient, hook: str) -> None:
    request = hook_request(hook, drafts=[label_start_draft()], patient_resource=patient(years_ago(40)))
    assert "electrolyte-monitoring" not in topics(post_hook(client, request))


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_monitoring_with_cramps_offers_one_lab_order_per_missing_result(client: TestClient, hook: str) -> None:
    request = hook_request(hook, drafts=[label_start_draft()], conditions=[condition("R25.2", "Cramp and spasm")])
    card = one(post_hook(client, request), "electrolyte-monitoring")
    assert card["indicator"] == "info"
    # The reason: cramps on the problem list (or, once the facts read it, what the order treats).
    assert card["summary"] == "Check potassium and magnesium before treating spasm: cramps, none in 30 days"
    resources = [s["actions"][0]["resource"] for s in card["suggestions"]]
    assert [r["code"]["coding"][0]["code"] for r in resources] == ["2823-3", "19123-9"]
    assert all(s["actions"][0]["type"] == "create" and not s.get("isRecommended") for s in card["suggestions"])
    assert all(r["resourceType"] == "ServiceRequest" and r["subject"]["reference"] == "Patient/pat1" for r in resources)


def test_monitoring_for_a_patient_on_furosemide(client: TestClient) -> None:
    furosemide = medication_request(*FUROSEMIDE_40, dose=40, frequency=1, authored_on=days_ago(200))
    body = post_hook(client, hook_request("order-sign", drafts=[label_start_draft()], meds=[furosemide]))
    assert "loop diuretic" in one(body, "electrolyte-monitoring")["summary"]


def test_no_lab_request_on_chart_opening(client: TestClient) -> None:
    """Issue 12: a stale potassium in a patient on baclofen with cramps waits for the next relaxant order."""
    body = post_hook(
        client,
        hook_request(
            "patient-view",
            meds=[medication_request(*BAC_10, dose=10, frequency=3, authored_on=days_ago(40))],
            conditions=[condition("R25.2", "Cramp and spasm")],
            potassium_results=[potassium(4.2, days_ago(45))],
            magnesium_results=[magnesium(2.0, days_ago(5))],
        ),
    )
    assert topics(body) == []


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_cirrhosis_cramps_at_the_plans_start_is_one_card_with_the_albumin_line(client: TestClient, hook: str) -> None:
    """Found in the sandbox: baclofen 10 mg once a day for cramps in cirrhosis (the plan's own start)
    showed two info cards, "Consider albumin" and the lab request. One card: the lab request keeps
    its buttons, albumin (nothing to click) is a line in it."""
    order = draft(*BAC_10, dose=1, dose_unit="tablet", timing_code="QD")
    problems = [condition("K74.60", "Unspecified cirrhosis of liver"), condition("R25.2", "Cramp and spasm")]
    body = post_hook(client, hook_request(hook, drafts=[order], conditions=problems))
    [card] = body["cards"]
    assert card["source"]["topic"]["code"] == "electrolyte-monitoring" and card["indicator"] == "info"
    assert len(card["suggestions"]) == 2  # the two lab orders, still one click each
    assert "Also: Consider albumin 20-40 g/week for cramps in cirrhosis" in card["detail"]


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_cirrhosis_cramps_with_recent_labs_keeps_the_albumin_card(client: TestClient, hook: str) -> None:
    """With no lab card to carry it, the albumin information is a card of its own (nothing lost)."""
    order = draft(*BAC_10, dose=1, dose_unit="tablet", timing_code="QD")
    problems = [condition("K74.60", "Unspecified cirrhosis of liver"), condition("R25.2", "Cramp and spasm")]
    request = hook_request(
        hook,
        drafts=[order],
        conditions=problems,
        potassium_results=[potassium(4.1, days_ago(3))],
        magnesium_results=[magnesium(2.0, days_ago(3))],
    )
    assert topics(post_hook(client, request)) == ["albumin-liver-cramps"]
