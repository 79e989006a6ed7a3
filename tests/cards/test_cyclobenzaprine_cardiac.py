"""cyclobenzaprine-cardiac (S21; FDA label contraindications) on typed facts."""

from __future__ import annotations

import pytest

from cds_service.cards.cyclobenzaprine_cardiac import RULE, evaluate
from cds_service.facts.model import ConditionCategory as Cat
from tests.support.facts import SNOMED, actions, ago, cond, facts, med, only

AFIB = cond(Cat.CARDIAC_ARRHYTHMIA, "I48.0", "Paroxysmal atrial fibrillation")
AV_BLOCK = cond(Cat.CARDIAC_CONDUCTION, "I44.2", "Atrioventricular block, complete")
CHF = cond(Cat.HEART_FAILURE, "42343007", "Congestive heart failure", system=SNOMED)
ACUTE_MI = cond(Cat.RECENT_MI, "I21.4", "Non-ST elevation (NSTEMI) myocardial infarction", onset=ago(10))
THYROTOXICOSIS = cond(Cat.HYPERTHYROIDISM, "E05.90", "Thyrotoxicosis, unspecified")


@pytest.mark.parametrize(
    ("problem", "short", "label_words"),
    [
        (AFIB, "arrhythmia", "arrhythmia"),
        (AV_BLOCK, "heart block", "heart block or conduction disturbances"),
        (CHF, "heart failure", "congestive heart failure"),
        (ACUTE_MI, "acute MI", "acute recovery phase of myocardial infarction"),
        (THYROTOXICOSIS, "hyperthyroidism", "hyperthyroidism"),
    ],
)
def test_each_label_contraindication_is_critical(problem, short: str, label_words: str) -> None:
    order = med("cyclobenzaprine", draft=True, display="cyclobenzaprine hydrochloride 10 MG Oral Tablet")
    card = only(evaluate(facts(drafts=[order], conditions=[problem])))
    assert card.indicator == "critical"
    assert card.topic_code == "cyclobenzaprine-cardiac"
    assert card.summary == f"Avoid cyclobenzaprine: contraindicated with {short} (label)"
    assert f": {short}" in card.detail  # the patient's condition, with the contraindication it is
    assert label_words in RULE.reasoning  # the label's own words are on the guideline page
    assert problem.code in card.detail  # the patient's own coded condition
    assert "summary, statement S21" in card.source.label.replace("statements", "statement")
    [action] = actions(card)
    assert action.type == "delete" and action.resourceId == ["MedicationRequest/draft-cyclobenzaprine"]


def test_several_conditions_make_one_card_naming_all() -> None:
    order = med("cyclobenzaprine", draft=True)
    card = only(evaluate(facts(drafts=[order], conditions=[AFIB, CHF, THYROTOXICOSIS])))
    assert "arrhythmia, heart failure and hyperthyroidism" in card.summary
    assert all(c.code in card.detail for c in (AFIB, CHF, THYROTOXICOSIS))


def test_snomed_coded_condition_is_named_with_its_system() -> None:
    card = only(evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], conditions=[CHF])))
    assert "SNOMED CT 42343007" in card.detail


def test_no_cardiac_condition_is_quiet() -> None:
    other = cond(Cat.ACUTE_MUSCULOSKELETAL, "M62.830", "Muscle spasm of back")
    assert evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], conditions=[other])) == []


def test_other_muscle_relaxant_with_heart_failure_is_quiet() -> None:
    assert evaluate(facts(drafts=[med("baclofen", draft=True)], conditions=[CHF])) == []


def test_patient_view_active_cyclobenzaprine_with_arrhythmia_is_critical_without_suggestion() -> None:
    card = only(evaluate(facts("patient-view", meds=[med("cyclobenzaprine", start=ago(3))], conditions=[AFIB])))
    assert card.indicator == "critical"
    assert card.summary.startswith("Stop cyclobenzaprine")
    assert not card.suggestions


def test_patient_view_without_cyclobenzaprine_is_quiet() -> None:
    assert evaluate(facts("patient-view", meds=[med("sertraline", start=ago(90))], conditions=[AFIB])) == []


def test_order_select_ignores_an_unselected_cyclobenzaprine_draft() -> None:
    unselected = med("cyclobenzaprine", draft=True)
    assert evaluate(facts("order-select", drafts=[], other_drafts=[unselected], conditions=[AFIB])) == []


def test_rule_metadata() -> None:
    assert RULE.statements == ("S21",)
    assert "patient-view" in RULE.hooks
