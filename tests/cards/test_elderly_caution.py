"""elderly-caution (S22, S8; AGS Beers 2023) on typed facts, at the 64/65 edge."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cds_service.cards.elderly_caution import RULE, evaluate
from tests.support import fhir as fb
from tests.support.facts import actions, ago, facts, med, only
from tests.support.http import cards_of, days_ago, delete_targets, one_card, post_hook, years_ago


def test_age_64_is_quiet() -> None:
    assert evaluate(facts(age=64, drafts=[med("cyclobenzaprine", draft=True)])) == []


def test_unknown_age_is_quiet() -> None:
    assert evaluate(facts(age=None, drafts=[med("cyclobenzaprine", draft=True)])) == []


@pytest.mark.parametrize("ingredient", ["cyclobenzaprine", "methocarbamol", "carisoprodol", "lorazepam", "diazepam"])
def test_age_65_with_beers_avoid_drug_warns_and_offers_removal(ingredient: str) -> None:
    card = only(evaluate(facts(age=65, drafts=[med(ingredient, draft=True)])))
    assert card.indicator == "warning"
    assert card.topic_code == "elderly-caution"
    assert card.summary.startswith("Age 65: Beers 2023 says avoid") and ingredient in card.summary
    assert "**65 years old**" in card.detail
    [action] = actions(card)
    assert action.type == "delete" and action.resourceId == [f"MedicationRequest/draft-{ingredient}"]


def test_benzodiazepine_card_cites_s8_and_the_boxed_warning() -> None:
    card = only(evaluate(facts(age=80, drafts=[med("lorazepam", draft=True)])))
    assert "Guideline S8" in card.detail and "Guideline S22" in card.detail
    assert "Boxed warning" in card.detail


def test_cyclobenzaprine_card_gives_the_label_start_dose_and_amrix_note() -> None:
    card = only(evaluate(facts(age=72, drafts=[med("cyclobenzaprine", draft=True)])))
    assert "start with 5 mg" in card.detail and "Amrix" in card.detail
    assert "Guideline S8" not in card.detail


def test_baclofen_at_65_asks_for_lower_start_and_renal_check_not_beers_avoid() -> None:
    card = only(evaluate(facts(age=70, drafts=[med("baclofen", draft=True)])))
    assert card.indicator == "warning"
    assert "avoid baclofen" not in card.summary and "start low" in card.summary
    assert "check renal function" in card.detail and "eGFR < 60" in card.detail
    assert not card.suggestions  # no one-click removal for a drug Beers does not say to avoid


def test_tizanidine_at_65_asks_for_lower_start() -> None:
    card = only(evaluate(facts(age=66, drafts=[med("tizanidine", draft=True)])))
    assert "tizanidine" in card.summary and "hypotension" in card.detail


def test_mixed_drafts_make_one_card_with_advice_for_each() -> None:
    drafts = [med("cyclobenzaprine", draft=True), med("baclofen", draft=True)]
    card = only(evaluate(facts(age=68, drafts=drafts)))
    assert "avoid cyclobenzaprine" in card.summary and "start baclofen low" in card.summary
    assert [a.resourceId for a in actions(card)] == [["MedicationRequest/draft-cyclobenzaprine"]]


def test_unrelated_drug_at_90_is_quiet() -> None:
    assert evaluate(facts(age=90, drafts=[med("lisinopril", draft=True), med("sertraline", draft=True)])) == []


def test_order_hooks_do_not_repeat_existing_medications() -> None:
    assert evaluate(facts(age=80, drafts=[med("lisinopril", draft=True)], meds=[med("lorazepam", start=ago(99))])) == []


def test_patient_view_of_an_elderly_patient_on_methocarbamol_warns_without_suggestion() -> None:
    card = only(evaluate(facts("patient-view", age=77, meds=[med("methocarbamol", start=ago(10))])))
    assert "methocarbamol" in card.summary and not card.suggestions


def test_patient_view_ignores_a_completed_order() -> None:
    done = med("methocarbamol", status="completed", start=ago(40), end=ago(20))
    assert evaluate(facts("patient-view", age=77, meds=[done])) == []


def test_rule_metadata() -> None:
    assert RULE.statements == ("S22", "S8")


# --------------------------------------------------------------------- end to end (FHIR → HTTP)

CYCLO_10 = ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet")
METHOCARBAMOL_750 = ("197944", "methocarbamol 750 MG Oral Tablet")
LORAZEPAM_1 = ("197901", "lorazepam 1 MG Oral Tablet")
BACLOFEN_10 = ("197391", "baclofen 10 MG Oral Tablet")


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_e2e_cyclobenzaprine_order_at_age_65_cites_beers(client, hook: str) -> None:
    order = fb.draft(*CYCLO_10, dose=5, frequency=3, supply_days=7)
    body = post_hook(client, fb.hook_request(hook, drafts=[order], patient_resource=fb.patient(years_ago(65))))
    card = one_card(body, "elderly-caution")
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Age 65: Beers 2023 says avoid cyclobenzaprine")
    assert delete_targets(card) == [["MedicationRequest/draft-1"]]


def test_e2e_cyclobenzaprine_order_one_day_short_of_65_is_quiet(client) -> None:
    order = fb.draft(*CYCLO_10, dose=5, frequency=3, supply_days=7)
    birth = (datetime.fromisoformat(years_ago(65)) + timedelta(days=1)).date().isoformat()
    body = post_hook(client, fb.hook_request("order-sign", drafts=[order], patient_resource=fb.patient(birth)))
    assert cards_of(body, "elderly-caution") == []


def test_e2e_lorazepam_and_baclofen_at_80_in_one_card(client) -> None:
    drafts = [
        fb.draft(*LORAZEPAM_1, rid="d-lora", dose=1, frequency=2),
        fb.draft(*BACLOFEN_10, rid="d-bac", dose=5, frequency=2),
    ]
    body = post_hook(
        client, fb.hook_request("order-sign", drafts=drafts, patient_resource=fb.patient(years_ago(80, 30)))
    )
    card = one_card(body, "elderly-caution")
    assert "avoid lorazepam" in card["summary"] and "baclofen" in card["summary"]
    assert "check renal function" in card["detail"]
    assert delete_targets(card) == [["MedicationRequest/d-lora"]]


def test_e2e_patient_view_methocarbamol_via_contained_medication_at_72(client) -> None:
    order = fb.medication_request(
        None,
        "methocarbamol (ROBAXIN) 750 mg tablet",
        authored_on=days_ago(5),
        medication_reference="#m1",
        contained=[fb.medication("m1", *METHOCARBAMOL_750)],
        dose=750,
        frequency=3,
        supply_days=10,
    )
    body = post_hook(
        client, fb.hook_request("patient-view", meds=[order], patient_resource=fb.patient(years_ago(72, 10)))
    )
    card = one_card(body, "elderly-caution")
    assert "methocarbamol" in card["summary"] and "suggestions" not in card


def test_e2e_young_patient_and_unrelated_drug_are_quiet(client) -> None:
    order = fb.draft(*CYCLO_10, dose=5, frequency=3, supply_days=7)
    body = post_hook(client, fb.hook_request("order-sign", drafts=[order], patient_resource=fb.patient(years_ago(40))))
    assert cards_of(body, "elderly-caution") == []
    other = fb.draft("314076", "lisinopril 10 MG Oral Tablet", dose=10, frequency=1)
    body = post_hook(client, fb.hook_request("order-sign", drafts=[other], patient_resource=fb.patient(years_ago(85))))
    assert cards_of(body, "elderly-caution") == []


def test_intrathecal_baclofen_pump_refill_at_80_is_quiet() -> None:
    from cds_service.facts.model import Route

    assert evaluate(facts(age=80, drafts=[med("baclofen", draft=True, route=Route.INTRATHECAL)])) == []
