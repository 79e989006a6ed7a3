"""sedation-risk (S18, S8; benzodiazepine-opioid boxed warning; Beers 2023) on typed facts."""

from __future__ import annotations

from cds_service.cards.sedation_risk import RULE, evaluate
from tests.safety_facts import actions, ago, drug, facts, only_card


def test_muscle_relaxant_draft_with_active_gabapentinoid_warns_to_monitor() -> None:
    card = only_card(evaluate(facts(drafts=[drug("baclofen", draft=True)], meds=[drug("gabapentin", start=ago(60))])))
    assert card.indicator == "warning"
    assert card.topic_code == "sedation-risk"
    assert "2 CNS depressants" in card.summary and "baclofen" in card.summary and "gabapentin" in card.summary
    assert "sedation, dizziness and weakness" in card.detail
    assert "Guideline S18" in card.detail
    assert not card.suggestions


def test_single_cns_depressant_is_quiet() -> None:
    assert evaluate(facts(drafts=[drug("baclofen", draft=True)], meds=[drug("sertraline", start=ago(60))])) == []


def test_renewal_of_the_same_drug_is_not_a_combination() -> None:
    assert evaluate(facts(drafts=[drug("baclofen", draft=True)], meds=[drug("baclofen", start=ago(20))])) == []


def test_starting_a_benzodiazepine_for_a_patient_on_an_opioid_is_critical() -> None:
    card = only_card(evaluate(facts(drafts=[drug("diazepam", draft=True)], meds=[drug("oxycodone", start=ago(30))])))
    assert card.indicator == "critical"
    assert card.summary.startswith("Benzodiazepine + opioid")
    assert "Boxed warning" in card.detail and "respiratory depression" in card.detail
    assert "Guideline S8" in card.detail
    [action] = actions(card)
    assert action.type == "delete" and action.resourceId == ["MedicationRequest/draft-diazepam"]


def test_starting_an_opioid_for_a_patient_on_a_benzodiazepine_is_critical() -> None:
    card = only_card(evaluate(facts(drafts=[drug("tramadol", draft=True)], meds=[drug("lorazepam", start=ago(30))])))
    assert card.indicator == "critical"


def test_renewing_an_established_benzodiazepine_opioid_combination_is_a_warning() -> None:
    meds = [drug("lorazepam", start=ago(90)), drug("oxycodone", start=ago(90))]
    card = only_card(evaluate(facts(drafts=[drug("lorazepam", draft=True)], meds=meds)))
    assert card.indicator == "warning"
    assert "already takes both" in card.detail
    assert "already-tolerating" in {o.code for o in card.overrideReasons or []}


def test_three_cns_drugs_at_65_add_the_beers_avoid_sentence() -> None:
    meds = [drug("gabapentin", start=ago(90)), drug("zolpidem", start=ago(90))]
    card = only_card(evaluate(facts(age=65, drafts=[drug("methocarbamol", draft=True)], meds=meds)))
    assert "3 CNS depressants" in card.summary
    assert "Beers 2023 says avoid a total of 3 or more" in card.detail


def test_three_cns_drugs_at_64_do_not_cite_beers() -> None:
    meds = [drug("gabapentin", start=ago(90)), drug("zolpidem", start=ago(90))]
    card = only_card(evaluate(facts(age=64, drafts=[drug("methocarbamol", draft=True)], meds=meds)))
    assert "Beers" not in card.detail.split("> **Guideline")[0]


def test_unrelated_draft_for_a_patient_on_two_depressants_is_quiet() -> None:
    meds = [drug("baclofen", start=ago(90)), drug("gabapentin", start=ago(90))]
    assert evaluate(facts(drafts=[drug("lisinopril", draft=True)], meds=meds)) == []


def test_patient_view_relaxant_plus_opioid_warns() -> None:
    meds = [drug("cyclobenzaprine", start=ago(5)), drug("oxycodone", start=ago(5))]
    card = only_card(evaluate(facts("patient-view", meds=meds)))
    assert card.indicator == "warning" and not card.suggestions


def test_patient_view_opioid_plus_gabapentinoid_without_guideline_drug_is_quiet() -> None:
    meds = [drug("oxycodone", start=ago(5)), drug("gabapentin", start=ago(5))]
    assert evaluate(facts("patient-view", meds=meds)) == []


def test_rule_metadata() -> None:
    assert RULE.statements == ("S18", "S8")
