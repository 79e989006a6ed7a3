"""sedation-risk (S18, S8; benzodiazepine-opioid boxed warning; Beers 2023) on typed facts.

Rewritten for issue 11: combinations fire only with a drug this service is about (a muscle relaxant,
or a benzodiazepine for spasm); two depressants are info, Beers' three CNS-active drugs at 65 a warning.
"""

from __future__ import annotations

import pytest

from cds_service.cards.sedation_risk import RULE, evaluate
from cds_service.facts.model import Indication
from tests.support import fhir as fb
from tests.support.facts import actions, ago, facts, indicated, med, only
from tests.support.http import cards_of, days_ago, delete_targets, one_card, post_hook


def test_muscle_relaxant_draft_with_active_gabapentinoid_is_info_to_monitor() -> None:
    card = only(evaluate(facts(drafts=[med("baclofen", draft=True)], meds=[med("gabapentin", start=ago(60))])))
    assert card.indicator == "info"
    assert card.topic_code == "sedation-risk"
    assert "2 CNS depressants" in card.summary and "baclofen" in card.summary and "gabapentin" in card.summary
    assert "sedation, dizziness and weakness" in card.detail
    assert "summary, statement S18" in card.source.label.replace("statements", "statement")
    assert not card.suggestions


def test_single_cns_depressant_is_quiet() -> None:
    assert evaluate(facts(drafts=[med("baclofen", draft=True)], meds=[med("sertraline", start=ago(60))])) == []


def test_renewal_of_the_same_drug_is_not_a_combination() -> None:
    assert evaluate(facts(drafts=[med("baclofen", draft=True)], meds=[med("baclofen", start=ago(20))])) == []


def _spasm(order):
    return indicated(Indication.ACUTE_MUSCULOSKELETAL, order)


def test_benzodiazepine_opioid_without_a_spasm_drug_is_left_to_the_ehr() -> None:
    assert evaluate(facts(drafts=[med("diazepam", draft=True)], meds=[med("oxycodone", start=ago(30))])) == []
    assert evaluate(facts(drafts=[med("oxycodone", draft=True)], meds=[med("gabapentin", start=ago(30))])) == []


def test_starting_a_benzodiazepine_for_spasm_for_a_patient_on_an_opioid_is_critical() -> None:
    diazepam = med("diazepam", draft=True)
    card = only(
        evaluate(facts(drafts=[diazepam], meds=[med("oxycodone", start=ago(30))], indications=_spasm(diazepam)))
    )
    assert card.indicator == "critical"
    assert card.summary.startswith("Avoid diazepam + oxycodone: boxed warning")
    assert "Boxed warning" in card.detail and "respiratory depression" in card.detail
    assert "summary, statement S18, S8" in card.source.label.replace("statements", "statement")
    [action] = actions(card)
    assert action.type == "delete" and action.resourceId == ["MedicationRequest/draft-diazepam"]


def test_starting_an_opioid_for_a_patient_on_a_benzodiazepine_and_a_relaxant_is_critical() -> None:
    meds = [med("lorazepam", start=ago(30)), med("baclofen", start=ago(30))]
    card = only(evaluate(facts(drafts=[med("tramadol", draft=True)], meds=meds)))
    assert card.indicator == "critical"


def test_renewing_an_established_benzodiazepine_opioid_combination_is_a_warning() -> None:
    meds = [med("lorazepam", start=ago(90)), med("oxycodone", start=ago(90)), med("tizanidine", start=ago(90))]
    card = only(evaluate(facts(drafts=[med("lorazepam", draft=True)], meds=meds)))
    assert card.indicator == "warning"
    assert "already takes both" in card.detail
    assert "already-tolerating" in {o.code for o in card.overrideReasons or []}


def test_three_cns_drugs_at_65_make_it_a_warning_citing_beers() -> None:
    meds = [med("gabapentin", start=ago(90)), med("zolpidem", start=ago(90))]
    card = only(evaluate(facts(age=65, drafts=[med("methocarbamol", draft=True)], meds=meds)))
    assert card.indicator == "warning"
    assert card.summary.startswith("Reduce CNS-active drugs at age 65: 3 together")
    assert "Beers 2023: avoid 3 or more CNS-active drugs" in card.detail


def test_beers_count_needs_no_second_depressant_and_shows_on_chart_opening() -> None:
    """Methocarbamol (a depressant) with quetiapine and sertraline (CNS-active, not depressants) at 70."""
    meds = [med("quetiapine", start=ago(200)), med("sertraline", start=ago(200))]
    card = only(evaluate(facts(age=70, drafts=[med("methocarbamol", draft=True)], meds=meds)))
    assert card.indicator == "warning" and "3 together" in card.summary
    on_chart = only(evaluate(facts("patient-view", age=70, meds=[*meds, med("methocarbamol", start=ago(30))])))
    assert on_chart.indicator == "warning"
    assert evaluate(facts("patient-view", age=60, meds=[*meds, med("methocarbamol", start=ago(30))])) == []
    two = [med("gabapentin", start=ago(90)), med("baclofen", start=ago(90))]
    assert evaluate(facts("patient-view", age=50, meds=two)) == []  # a pair of depressants waits for an order


def test_beers_count_includes_antidepressants_antipsychotics_and_antiepileptics() -> None:
    from cds_service.facts.model import DrugClass

    sertraline = med("sertraline", start=ago(90), classes=frozenset({DrugClass.ANTIDEPRESSANT, DrugClass.SSRI}))
    card = only(evaluate(facts(age=70, drafts=[med("baclofen", draft=True)], meds=[med("gabapentin"), sertraline])))
    assert card.indicator == "warning"
    assert "sertraline" in card.detail
    assert (
        only(
            evaluate(facts(age=64, drafts=[med("baclofen", draft=True)], meds=[med("gabapentin"), sertraline]))
        ).indicator
        == "info"
    )


def test_a_stop_order_is_not_a_drug_taken() -> None:
    stop = med("gabapentin", draft=True, status="stopped", ref="MedicationRequest/gabapentin-1")
    assert evaluate(facts(drafts=[med("baclofen", draft=True)], other_drafts=[stop], meds=[med("gabapentin")])) == []


def test_three_cns_drugs_at_64_do_not_cite_beers() -> None:
    meds = [med("gabapentin", start=ago(90)), med("zolpidem", start=ago(90))]
    card = only(evaluate(facts(age=64, drafts=[med("methocarbamol", draft=True)], meds=meds)))
    assert "Beers" not in card.detail


def test_unrelated_draft_for_a_patient_on_two_depressants_is_quiet() -> None:
    meds = [med("baclofen", start=ago(90)), med("gabapentin", start=ago(90))]
    assert evaluate(facts(drafts=[med("lisinopril", draft=True)], meds=meds)) == []


def test_chart_opening_is_quiet_even_for_a_benzodiazepine_opioid_combination() -> None:
    """Issue 12: a combination the patient already takes needs no action at a chart opening under 65; each
    order that continues it is judged when placed (a renewal: warning, a start: critical). Only the Beers
    count speaks on a chart opening."""
    assert evaluate(facts("patient-view", meds=[med("cyclobenzaprine", start=ago(5)), med("oxycodone")])) == []
    assert evaluate(facts("patient-view", meds=[med("lorazepam"), med("oxycodone"), med("tizanidine")])) == []
    assert RULE.hooks == {"order-select", "order-sign", "patient-view"}


def test_patient_view_opioid_plus_gabapentinoid_without_guideline_drug_is_quiet() -> None:
    meds = [med("oxycodone", start=ago(5)), med("gabapentin", start=ago(5))]
    assert evaluate(facts("patient-view", meds=meds)) == []


def test_rule_metadata() -> None:
    assert RULE.statements == ("S18", "S8")


# --------------------------------------------------------------------- end to end (FHIR → HTTP)

OXYCODONE_5 = ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
DIAZEPAM_5 = ("197591", "diazepam 5 MG Oral Tablet")
GABAPENTIN_300 = ("310431", "gabapentin 300 MG Oral Capsule")
BACLOFEN_10 = ("197391", "baclofen 10 MG Oral Tablet")
CYCLO_10 = ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet")


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_e2e_diazepam_order_for_patient_on_oxycodone_and_baclofen_is_critical(client, hook: str) -> None:
    oxycodone = fb.medication_request(*OXYCODONE_5, rid="oxy", authored_on=days_ago(20), dose=5, frequency=4)
    baclofen = fb.medication_request(*BACLOFEN_10, rid="bac", authored_on=days_ago(20), dose=10, frequency=3)
    diazepam = fb.draft(*DIAZEPAM_5, dose=5, frequency=2, supply_days=7)
    body = post_hook(client, fb.hook_request(hook, drafts=[diazepam], meds=[oxycodone, baclofen]))
    card = one_card(body, "sedation-risk")
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("Avoid diazepam + oxycodone: boxed warning")
    assert "current: oxycodone, baclofen" in card["detail"]
    assert delete_targets(card) == [["MedicationRequest/draft-1"]]


def test_e2e_baclofen_order_with_gabapentin_warns(client) -> None:
    gabapentin = fb.medication_request(*GABAPENTIN_300, authored_on=days_ago(90), dose=300, frequency=3)
    baclofen = fb.draft(*BACLOFEN_10, dose=5, frequency=2)
    body = post_hook(client, fb.hook_request("order-sign", drafts=[baclofen], meds=[gabapentin]))
    card = one_card(body, "sedation-risk")
    assert card["indicator"] == "info"
    assert "baclofen" in card["summary"] and "gabapentin" in card["summary"]


def test_e2e_patient_view_cyclobenzaprine_and_oxycodone_is_quiet(client) -> None:
    meds = [
        fb.medication_request(*CYCLO_10, authored_on=days_ago(3), dose=10, frequency=3, supply_days=10),
        fb.medication_request(*OXYCODONE_5, authored_on=days_ago(3), dose=5, frequency=4, supply_days=5),
    ]
    assert cards_of(post_hook(client, fb.hook_request("patient-view", meds=meds)), "sedation-risk") == []


def test_e2e_single_depressant_and_unrelated_order_are_quiet(client) -> None:
    baclofen = fb.draft(*BACLOFEN_10, dose=5, frequency=2)
    assert cards_of(post_hook(client, fb.hook_request("order-sign", drafts=[baclofen])), "sedation-risk") == []
    meds = [
        fb.medication_request(*BACLOFEN_10, authored_on=days_ago(30), dose=10, frequency=3),
        fb.medication_request(*GABAPENTIN_300, authored_on=days_ago(90), dose=300, frequency=3),
    ]
    other = fb.draft("314076", "lisinopril 10 MG Oral Tablet", dose=10, frequency=1)
    body = post_hook(client, fb.hook_request("order-sign", drafts=[other], meds=meds))
    assert cards_of(body, "sedation-risk") == []
