"""spasm-treatment-summary from typed facts: one orienting card on patient-view, quiet otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cds_service.cards.spasm_treatment_summary import RULE, evaluate
from cds_service.facts.model import ConditionCategory, Route
from tests.support.facts import ago, cond, facts, history, magnesium, med, only, potassium
from tests.support.fhir import draft, hook_request, medication, medication_request
from tests.support.fhir import magnesium as fhir_magnesium
from tests.support.fhir import potassium as fhir_potassium
from tests.support.http import post_hook, topics


def test_patient_on_baclofen_gets_agents_step_due_date_and_labs() -> None:
    card = only(
        evaluate(
            facts(
                "patient-view",
                meds=(
                    med(mg_per_day=20, start=ago(3), explanation="10 mg × 2 per day (BID)"),
                    med("lisinopril", 10, ref="MedicationRequest/lis"),
                ),
                dose_histories=history(20, ago(3)),
                potassium=potassium(4.1, days_ago=5),
                magnesium=magnesium(1.9, "mg/dL", days_ago=40),
            )
        )
    )
    assert card.indicator == "info"
    assert card.topic_code == "spasm-treatment-summary"
    assert "baclofen 20 mg/day" in card.summary
    assert "next step 2026-11-29" in card.summary  # changed 3 days ago + 7
    assert "K 4.1 mmol/L" in card.summary
    assert "Mg 1.9 mg/dL (old)" in card.summary
    assert "step 2 of 3" in card.detail
    assert "10 mg × 2 per day \\(BID\\)" in card.detail
    assert "2026-11-20" in card.detail  # potassium date
    assert "older than 30 days" in card.detail
    assert "lisinopril" not in card.detail
    assert "physical therapy" in card.detail.lower()
    assert len(card.summary) <= 140


def test_condition_only_patient_gets_the_card_with_missing_labs() -> None:
    card = only(
        evaluate(facts("patient-view", conditions=(cond(ConditionCategory.SPINAL_SPASTICITY, display="Paraplegia"),)))
    )
    assert "no relaxant" in card.summary
    assert "no potassium; no magnesium" in card.summary
    assert "Paraplegia" in card.detail


def test_intrathecal_pump_is_listed_without_a_titration_step() -> None:
    pump = med(mg_per_day=0.4, route=Route.INTRATHECAL, display="Gablofen 500 MCG/ML")
    card = only(evaluate(facts("patient-view", meds=(pump,))))
    assert "intrathecal baclofen" in card.summary
    assert "titration" not in card.detail.lower()


def test_quiet_for_unrelated_patients_and_order_hooks() -> None:
    assert evaluate(facts("patient-view", meds=(med("lisinopril", 10),), potassium=potassium(2.0))) == []
    assert RULE.hooks == {"patient-view"}


# --------------------------------------------------------------------------- FHIR through HTTP


def test_e2e_patient_view_summary_from_fhir(client) -> None:

    def days_ago(days: float) -> str:
        return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    contained = medication("m1", "197392", "baclofen 20 MG Oral Tablet")
    baclofen = medication_request(
        None,
        "baclofen 20 MG Oral Tablet",
        medication_reference="#m1",
        contained=[contained],
        dose=1,
        dose_unit="tablet",
        timing_code="QD",
        authored_on=days_ago(3),
    )
    body = post_hook(
        client,
        hook_request(
            "patient-view",
            meds=[baclofen],
            potassium_results=[fhir_potassium(4.4, days_ago(2))],
            magnesium_results=[fhir_magnesium(0.8, days_ago(2), unit="mmol/L")],
        ),
    )
    cards = [c for c in body["cards"] if c["source"]["topic"]["code"] == "spasm-treatment-summary"]
    assert len(cards) == 1
    card = cards[0]
    assert "baclofen 20 mg/day" in card["summary"]
    due = (datetime.now(UTC) - timedelta(days=3) + timedelta(days=7)).date().isoformat()
    assert f"next step {due}" in card["summary"]
    assert "K 4.4 mmol/L" in card["summary"] and "Mg 0.8 mmol/L" in card["summary"]


def test_e2e_quiet_for_an_unrelated_patient_and_on_order_hooks(client) -> None:

    lisinopril = medication_request("314076", "lisinopril 10 MG Oral Tablet", dose=10, frequency=1)
    assert topics(post_hook(client, hook_request("patient-view", meds=[lisinopril]))) == []
    baclofen = draft("197391", "baclofen 10 MG Oral Tablet", dose=5, frequency=2)
    assert "spasm-treatment-summary" not in topics(post_hook(client, hook_request("order-sign", drafts=[baclofen])))
