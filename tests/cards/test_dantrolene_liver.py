"""dantrolene-liver from typed facts: contraindicated in active liver disease; info at a start."""

from __future__ import annotations

from cds_service.cards.dantrolene_liver import RULE, evaluate
from cds_service.facts.model import ConditionCategory, OrderRelation
from tests.support.facts import actions, cond, continues, facts, med, only

HEPATITIS = cond(ConditionCategory.ACTIVE_LIVER_DISEASE, "K73.9", "Chronic hepatitis")


def test_active_liver_disease_is_critical_with_removal() -> None:
    card = only(evaluate(facts(drafts=(med("dantrolene", 100, draft=True),), conditions=(HEPATITIS,))))
    assert card.indicator == "critical"
    assert card.topic_code == "dantrolene-liver"
    assert actions(card)[0].type == "delete"
    assert "summary, statement S5" in card.source.label.replace("statements", "statement")


def test_a_start_without_liver_disease_gets_liver_test_info() -> None:
    card = only(evaluate(facts(drafts=(med("dantrolene", 25, draft=True),))))
    assert card.indicator == "info" and "liver tests" in card.summary


def test_renewal_fatty_liver_and_patient_view_without_disease_are_quiet() -> None:
    current = med("dantrolene", 100)
    draft = med("dantrolene", 100, draft=True)
    renewal = continues(draft, OrderRelation.RENEWAL, current)
    assert evaluate(facts(drafts=(draft,), meds=(current,), continuations=renewal)) == []
    fatty = cond(ConditionCategory.LIVER_DISEASE, "K76.0", "Fatty liver")
    assert only(evaluate(facts(drafts=(med("dantrolene", 25, draft=True),), conditions=(fatty,)))).indicator == "info"
    assert evaluate(facts("patient-view", meds=(current,))) == []
    assert only(evaluate(facts("patient-view", meds=(current,), conditions=(HEPATITIS,)))).indicator == "critical"
    assert RULE.statements == ("S5",)
