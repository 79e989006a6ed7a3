"""spasm-treatment-summary from typed facts: one orienting card on patient-view, quiet otherwise."""

from __future__ import annotations

from cds_service.cards.spasm_treatment_summary import RULE, evaluate
from cds_service.facts.model import ConditionCategory, Route
from tests.rule_facts import ago, cond, facts, history, magnesium, med, only, potassium


def test_patient_on_baclofen_gets_agents_step_due_date_and_labs() -> None:
    card = only(
        evaluate(
            facts(
                "patient-view",
                medications=(
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
    card = only(evaluate(facts("patient-view", conditions=(cond(ConditionCategory.SPINAL_SPASTICITY, "Paraplegia"),))))
    assert "no relaxant" in card.summary
    assert "no potassium; no magnesium" in card.summary
    assert "Paraplegia" in card.detail


def test_intrathecal_pump_is_listed_without_a_titration_step() -> None:
    pump = med(mg_per_day=0.4, route=Route.INTRATHECAL, display="Gablofen 500 MCG/ML")
    card = only(evaluate(facts("patient-view", medications=(pump,))))
    assert "intrathecal baclofen" in card.summary
    assert "titration" not in card.detail.lower()


def test_quiet_for_unrelated_patients_and_order_hooks() -> None:
    assert evaluate(facts("patient-view", medications=(med("lisinopril", 10),), potassium=potassium(2.0))) == []
    assert RULE.hooks == {"patient-view"}
