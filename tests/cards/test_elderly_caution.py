"""elderly-caution (S22, S8; AGS Beers 2023) on typed facts, at the 64/65 edge.

Rewritten for issue 11: Beers "avoid" wording only for the drugs Beers lists (the six antispasmodics,
benzodiazepines for spasm); baclofen and tizanidine moved to their dose cards and renal-dosing; only
starts and restarts, on order hooks (not every renewal or chart opening).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cds_service.cards.elderly_caution import RULE, evaluate
from cds_service.facts.model import Indication, OrderRelation, Route
from tests.support import fhir as fb
from tests.support.facts import actions, continues, facts, indicated, med, only
from tests.support.http import cards_of, delete_targets, one_card, post_hook, years_ago

SIX = ["cyclobenzaprine", "methocarbamol", "carisoprodol", "chlorzoxazone", "metaxalone", "orphenadrine"]


def test_age_64_is_quiet() -> None:
    assert evaluate(facts(age=64, drafts=[med("cyclobenzaprine", draft=True)])) == []


def test_unknown_age_is_quiet() -> None:
    assert evaluate(facts(age=None, drafts=[med("cyclobenzaprine", draft=True)])) == []


@pytest.mark.parametrize("ingredient", SIX)
def test_age_65_starting_a_beers_antispasmodic_warns_and_offers_removal(ingredient: str) -> None:
    card = only(evaluate(facts(age=65, drafts=[med(ingredient, draft=True)])))
    assert card.indicator == "warning"
    assert card.topic_code == "elderly-caution"
    assert card.summary.startswith(f"Avoid {ingredient} at age 65 (Beers 2023)")  # "age N": the audit scrubs ages
    assert "AGS Beers 2023" in card.source.label
    [action] = actions(card)
    assert action.type == "delete" and action.resourceId == [f"MedicationRequest/draft-{ingredient}"]


def test_benzodiazepine_for_spasm_cites_s8_and_the_boxed_warning() -> None:
    lorazepam = med("lorazepam", draft=True)
    card = only(evaluate(facts(age=80, drafts=[lorazepam], indications=indicated(Indication.SPASTICITY, lorazepam))))
    assert "Boxed warning" in card.detail
    assert "summary, statement S22, S8" in card.source.label.replace("statements", "statement")


def test_benzodiazepine_not_for_spasm_is_the_ehrs_general_beers_screening() -> None:
    assert evaluate(facts(age=80, drafts=[med("lorazepam", draft=True)])) == []


def test_cyclobenzaprine_card_gives_the_label_start_and_the_er_note() -> None:
    card = only(evaluate(facts(age=70, drafts=[med("cyclobenzaprine", draft=True)])))
    assert "start with 5 mg" in card.detail
    er = med("cyclobenzaprine", draft=True, extended_release=True)
    assert "extended-release form not recommended in the elderly" in only(evaluate(facts(age=70, drafts=[er]))).detail


@pytest.mark.parametrize("ingredient", ["baclofen", "tizanidine"])
def test_baclofen_and_tizanidine_get_no_beers_card(ingredient: str) -> None:
    assert evaluate(facts(age=80, drafts=[med(ingredient, draft=True)])) == []


def test_renewal_is_quiet_and_restart_fires() -> None:
    current = med("methocarbamol", start=None)
    draft = med("methocarbamol", draft=True)
    renewal = continues(draft, OrderRelation.RENEWAL, current)
    assert evaluate(facts(age=70, drafts=[draft], meds=[current], continuations=renewal)) == []
    restart = continues(draft, OrderRelation.RESTART, current)
    assert only(evaluate(facts(age=70, drafts=[draft], continuations=restart))).indicator == "warning"


def test_mixed_drafts_make_one_card() -> None:
    drafts = [med("cyclobenzaprine", draft=True), med("methocarbamol", draft=True), med("baclofen", draft=True)]
    card = only(evaluate(facts(age=75, drafts=drafts)))
    assert "cyclobenzaprine, methocarbamol" in card.summary
    assert "baclofen" not in card.summary
    assert len(actions(card)) == 2


def test_a_stop_is_quiet_and_patient_view_is_quiet() -> None:
    stop = med("cyclobenzaprine", draft=True, status="stopped")
    assert evaluate(facts(age=80, drafts=[stop])) == []
    assert RULE.hooks == {"order-select", "order-sign"}


def test_intrathecal_baclofen_pump_refill_at_80_is_quiet() -> None:
    assert evaluate(facts(age=80, drafts=[med("baclofen", draft=True, route=Route.INTRATHECAL)])) == []


def test_rule_metadata() -> None:
    assert RULE.statements == ("S22", "S8")


# --------------------------------------------------------------------- end to end (FHIR → HTTP)

CYCLO_10 = ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet")


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_e2e_cyclobenzaprine_order_at_age_65_cites_beers(client, hook: str) -> None:
    order = fb.draft(*CYCLO_10, dose=5, frequency=3, supply_days=7)
    body = post_hook(client, fb.hook_request(hook, drafts=[order], patient_resource=fb.patient(years_ago(65))))
    card = one_card(body, "elderly-caution")
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Avoid cyclobenzaprine at age 65 (Beers 2023)")
    assert delete_targets(card) == [["MedicationRequest/draft-1"]]


def test_e2e_cyclobenzaprine_order_one_day_short_of_65_is_quiet(client) -> None:
    order = fb.draft(*CYCLO_10, dose=5, frequency=3, supply_days=7)
    birth = (datetime.fromisoformat(years_ago(65)) + timedelta(days=1)).date().isoformat()
    body = post_hook(client, fb.hook_request("order-sign", drafts=[order], patient_resource=fb.patient(birth)))
    assert cards_of(body, "elderly-caution") == []


def test_e2e_young_patient_and_unrelated_drug_are_quiet(client) -> None:
    order = fb.draft(*CYCLO_10, dose=5, frequency=3, supply_days=7)
    body = post_hook(client, fb.hook_request("order-sign", drafts=[order], patient_resource=fb.patient(years_ago(40))))
    assert cards_of(body, "elderly-caution") == []
    other = fb.draft("314076", "lisinopril 10 MG Oral Tablet", dose=10, frequency=1)
    body = post_hook(client, fb.hook_request("order-sign", drafts=[other], patient_resource=fb.patient(years_ago(85))))
    assert cards_of(body, "elderly-caution") == []
