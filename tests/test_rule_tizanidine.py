"""tizanidine-interaction (S4; FDA tizanidine label contraindication) on typed facts."""

from __future__ import annotations

import pytest

from cds_service.cards.tizanidine_interaction import RULE, evaluate
from tests.safety_facts import actions, ago, drug, facts, only_card


@pytest.mark.parametrize("inhibitor", ["fluvoxamine", "ciprofloxacin"])
def test_tizanidine_draft_with_active_inhibitor_is_critical(inhibitor: str) -> None:
    card = only_card(evaluate(facts(drafts=[drug("tizanidine", draft=True)], meds=[drug(inhibitor, start=ago(5))])))
    assert card.indicator == "critical"
    assert card.topic_code == "tizanidine-interaction"
    assert inhibitor in card.summary and "contraindicated" in card.summary
    assert f"MedicationRequest/{inhibitor}-1" in card.detail
    [action] = actions(card)
    assert action.type == "delete" and action.resourceId == ["MedicationRequest/draft-tizanidine"]


def test_ciprofloxacin_draft_for_a_patient_on_tizanidine_is_critical() -> None:
    card = only_card(
        evaluate(facts(drafts=[drug("ciprofloxacin", draft=True)], meds=[drug("tizanidine", start=ago(60))]))
    )
    assert card.indicator == "critical"
    assert actions(card)[0].resourceId == ["MedicationRequest/draft-ciprofloxacin"]


def test_inhibitor_recognized_by_ingredient_even_without_class() -> None:
    cipro = drug("ciprofloxacin", start=ago(1), classes=frozenset())
    assert only_card(evaluate(facts(drafts=[drug("tizanidine", draft=True)], meds=[cipro]))).indicator == "critical"


def test_both_inhibitors_make_one_card() -> None:
    card = only_card(
        evaluate(
            facts(
                drafts=[drug("tizanidine", draft=True)],
                meds=[drug("fluvoxamine", start=ago(9)), drug("ciprofloxacin", start=ago(1))],
            )
        )
    )
    assert "fluvoxamine and ciprofloxacin" in card.summary


def test_tizanidine_alone_or_with_other_drugs_is_quiet() -> None:
    assert evaluate(facts(drafts=[drug("tizanidine", draft=True)], meds=[drug("sertraline", start=ago(5))])) == []


def test_stopped_ciprofloxacin_is_quiet() -> None:
    done = drug("ciprofloxacin", status="completed", start=ago(20), end=ago(13))
    assert evaluate(facts(drafts=[drug("tizanidine", draft=True)], meds=[done])) == []


def test_unrelated_draft_with_both_already_active_is_not_repeated_at_order_time() -> None:
    meds = [drug("tizanidine", start=ago(30)), drug("ciprofloxacin", start=ago(2))]
    assert evaluate(facts(drafts=[drug("lisinopril", draft=True)], meds=meds)) == []


def test_patient_view_with_both_active_is_critical() -> None:
    meds = [drug("tizanidine", start=ago(30)), drug("fluvoxamine", start=ago(2))]
    card = only_card(evaluate(facts("patient-view", meds=meds)))
    assert card.indicator == "critical" and not card.suggestions


def test_rule_metadata() -> None:
    assert RULE.statements == ("S4",)
