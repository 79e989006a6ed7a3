"""tizanidine-interaction (S4; FDA tizanidine label contraindication) on typed facts."""

from __future__ import annotations

import pytest

from cds_service.cards.tizanidine_interaction import RULE, evaluate
from tests.support import fhir as fb
from tests.support.facts import actions, ago, facts, med, only
from tests.support.http import cards_of, days_ago, delete_targets, one_card, post_hook


@pytest.mark.parametrize("inhibitor", ["fluvoxamine", "ciprofloxacin"])
def test_tizanidine_draft_with_active_inhibitor_is_critical(inhibitor: str) -> None:
    card = only(evaluate(facts(drafts=[med("tizanidine", draft=True)], meds=[med(inhibitor, start=ago(5))])))
    assert card.indicator == "critical"
    assert card.topic_code == "tizanidine-interaction"
    assert inhibitor in card.summary and "contraindicated" in card.summary
    assert f"{inhibitor} (since 2026-11-20)" in card.detail
    [action] = actions(card)
    assert action.type == "delete" and action.resourceId == ["MedicationRequest/draft-tizanidine"]


def test_ciprofloxacin_draft_for_a_patient_on_tizanidine_is_critical() -> None:
    card = only(evaluate(facts(drafts=[med("ciprofloxacin", draft=True)], meds=[med("tizanidine", start=ago(60))])))
    assert card.indicator == "critical"
    assert actions(card)[0].resourceId == ["MedicationRequest/draft-ciprofloxacin"]


def test_inhibitor_recognized_by_ingredient_even_without_class() -> None:
    cipro = med("ciprofloxacin", start=ago(1), classes=frozenset())
    assert only(evaluate(facts(drafts=[med("tizanidine", draft=True)], meds=[cipro]))).indicator == "critical"


def test_both_inhibitors_make_one_card() -> None:
    card = only(
        evaluate(
            facts(
                drafts=[med("tizanidine", draft=True)],
                meds=[med("fluvoxamine", start=ago(9)), med("ciprofloxacin", start=ago(1))],
            )
        )
    )
    assert "fluvoxamine and ciprofloxacin" in card.summary


def test_tizanidine_alone_or_with_other_drugs_is_quiet() -> None:
    assert evaluate(facts(drafts=[med("tizanidine", draft=True)], meds=[med("sertraline", start=ago(5))])) == []


def test_stopped_ciprofloxacin_is_quiet() -> None:
    done = med("ciprofloxacin", status="completed", start=ago(20), end=ago(13))
    assert evaluate(facts(drafts=[med("tizanidine", draft=True)], meds=[done])) == []


def test_unrelated_draft_with_both_already_active_is_not_repeated_at_order_time() -> None:
    meds = [med("tizanidine", start=ago(30)), med("ciprofloxacin", start=ago(2))]
    assert evaluate(facts(drafts=[med("lisinopril", draft=True)], meds=meds)) == []


def test_patient_view_with_both_active_is_critical() -> None:
    meds = [med("tizanidine", start=ago(30)), med("fluvoxamine", start=ago(2))]
    card = only(evaluate(facts("patient-view", meds=meds)))
    assert card.indicator == "critical" and not card.suggestions


def test_rule_metadata() -> None:
    assert RULE.statements == ("S4",)


# --------------------------------------------------------------------- end to end (FHIR → HTTP)

TIZANIDINE_2 = ("313412", "tizanidine 2 MG Oral Tablet")
CIPRO_250 = ("197511", "ciprofloxacin 250 MG Oral Tablet")
FLUVOXAMINE_25 = ("903887", "fluvoxamine maleate 25 MG Oral Tablet")


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_e2e_ciprofloxacin_order_for_patient_on_tizanidine_is_critical(client, hook: str) -> None:
    tizanidine = fb.medication_request(*TIZANIDINE_2, rid="tiz", authored_on=days_ago(60), dose=2, frequency=3)
    cipro = fb.draft(*CIPRO_250, dose=250, frequency=2, supply_days=7)
    body = post_hook(client, fb.hook_request(hook, drafts=[cipro], meds=[tizanidine]))
    card = one_card(body, "tizanidine-interaction")
    assert card["indicator"] == "critical"
    assert "ciprofloxacin" in card["summary"].lower()
    assert "tizanidine (since " in card["detail"]
    assert delete_targets(card) == [["MedicationRequest/draft-1"]]


def test_e2e_zanaflex_by_name_with_fluvoxamine(client) -> None:
    fluvoxamine = fb.medication_request(*FLUVOXAMINE_25, authored_on=days_ago(30), dose=50, frequency=1)
    zanaflex = fb.draft(None, "Zanaflex 4 mg tablet", dose=4, frequency=3)
    body = post_hook(client, fb.hook_request("order-sign", drafts=[zanaflex], meds=[fluvoxamine]))
    card = one_card(body, "tizanidine-interaction")
    assert "fluvoxamine" in card["summary"].lower()


def test_e2e_patient_view_both_active_is_critical(client) -> None:
    meds = [
        fb.medication_request(*TIZANIDINE_2, authored_on=days_ago(60), dose=2, frequency=3),
        fb.medication_request(*CIPRO_250, authored_on=days_ago(1), dose=250, frequency=2, supply_days=7),
    ]
    card = one_card(post_hook(client, fb.hook_request("patient-view", meds=meds)), "tizanidine-interaction")
    assert card["indicator"] == "critical" and "suggestions" not in card


def test_e2e_tizanidine_without_inhibitor_is_quiet(client) -> None:
    tizanidine = fb.draft(*TIZANIDINE_2, dose=2, frequency=3)
    body = post_hook(client, fb.hook_request("order-sign", drafts=[tizanidine]))
    assert cards_of(body, "tizanidine-interaction") == []


# --- issue 11: the label's other CYP1A2 inhibitors ---------------------------------------------------


def test_other_cyp1a2_inhibitor_is_a_warning_to_avoid_or_start_low() -> None:
    from cds_service.facts.model import DrugClass
    from tests.support.facts import facts as _facts
    from tests.support.facts import med as _med
    from tests.support.facts import only as _only

    amiodarone = _med("amiodarone", 200, classes=frozenset({DrugClass.CYP1A2_INHIBITOR}))
    card = _only(evaluate(_facts(drafts=[_med("tizanidine", 6, draft=True)], meds=[amiodarone])))
    assert card.indicator == "warning"
    assert "start low" in card.summary and "amiodarone" in card.summary
    assert "blood pressure and sedation" in card.detail
    on_chart = _only(evaluate(_facts("patient-view", meds=[_med("tizanidine", 6), amiodarone])))
    assert on_chart.indicator == "warning" and not on_chart.suggestions
    assert evaluate(_facts("patient-view", meds=[_med("tizanidine", 6)])) == []


def test_a_stopped_ciprofloxacin_is_not_a_partner() -> None:
    from tests.support.facts import facts as _facts
    from tests.support.facts import med as _med

    stop = _med("ciprofloxacin", 1000, draft=True, status="stopped", ref="MedicationRequest/ciprofloxacin-1")
    meds = [_med("ciprofloxacin", 1000)]
    assert evaluate(_facts(drafts=[_med("tizanidine", 6, draft=True)], other_drafts=[stop], meds=meds)) == []
