"""engine.relevant_gaps on typed facts (issue 19, item 9): which missing datum matters, and how much."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.engine import evaluate, relevant_gaps
from cds_service.facts.model import ConditionCategory as Cat
from cds_service.facts.model import DataGap, Route
from tests.support.facts import cond, facts, med

RENAL = DataGap("kidney function (eGFR and creatinine results)", "FHIR server answered 500", "renal")
MEDS = DataGap("the patient's current and recent medications", "FHIR server answered 500", "medications")
CONDITIONS = DataGap("the patient's active conditions", "timed out", "conditions")
POTASSIUM = DataGap("potassium results", "timed out", "potassium")
AGE = DataGap("the patient's age", "timed out", "patient")


def _gaps(*gaps: DataGap, **kw: object) -> list[tuple[str | None, str, tuple[str, ...]]]:
    found = relevant_gaps(replace(facts(**kw), gaps=gaps))
    return [(g.gap.prefetch_key, g.indicator, tuple(m.reference for m in g.about)) for g in found]


def test_kidney_function_feeds_oral_baclofen_and_tizanidine_only() -> None:
    oral = med("baclofen", 15, draft=True)
    assert _gaps(RENAL, drafts=[oral]) == [("renal", "info", (oral.reference,))]
    tizanidine = med("tizanidine", 6, draft=True)
    assert _gaps(RENAL, drafts=[tizanidine]) == [("renal", "info", (tizanidine.reference,))]
    pump = med("baclofen", 0.3, draft=True, route=Route.INTRATHECAL)
    assert _gaps(RENAL, drafts=[pump]) == []
    assert _gaps(RENAL, drafts=[med("cyclobenzaprine", 15, draft=True)]) == []
    assert _gaps(RENAL, drafts=[med("baclofen", 15, draft=True, status="stopped")]) == []  # a stop


def test_on_order_hooks_the_drug_in_scope_is_the_draft_not_the_chart() -> None:
    """Drafting cyclobenzaprine for a patient on oral baclofen: no kidney check reads the draft."""
    assert _gaps(RENAL, drafts=[med("cyclobenzaprine", 15, draft=True)], meds=[med("baclofen", 30)]) == []
    assert _gaps(RENAL, hook="patient-view", meds=[med("baclofen", 30)]) == [
        ("renal", "info", ("MedicationRequest/baclofen-1",))
    ]


@pytest.mark.parametrize("drafts", [[], [med("sertraline", 50, draft=True)]], ids=["none", "no-relaxant"])
def test_missing_medications_are_a_warning_whoever_the_patient(drafts: list) -> None:
    assert _gaps(MEDS, drafts=drafts) == [("medications", "warning", ())]


def test_missing_conditions_are_a_warning_only_where_they_hide_a_critical_card() -> None:
    assert _gaps(CONDITIONS, drafts=[med("cyclobenzaprine", 15, draft=True)])[0][1] == "warning"
    assert _gaps(CONDITIONS, drafts=[med("dantrolene", 100, draft=True)])[0][1] == "warning"
    assert _gaps(CONDITIONS, drafts=[med("baclofen", 15, draft=True)])[0][1] == "info"
    assert _gaps(CONDITIONS, drafts=[med("sertraline", 50, draft=True)]) == []


def test_labs_and_age_for_a_relaxant_or_on_a_chart_for_cramps_or_spasm() -> None:
    assert _gaps(POTASSIUM, AGE, drafts=[med("methocarbamol", 3000, draft=True)]) == [
        ("potassium", "info", ("MedicationRequest/draft-methocarbamol",)),
        ("patient", "info", ("MedicationRequest/draft-methocarbamol",)),
    ]
    spasm = cond(Cat.MUSCLE_SPASM, "M62.830", "Muscle spasm of back")
    assert _gaps(POTASSIUM, hook="patient-view", conditions=[spasm]) == [("potassium", "info", ())]
    assert _gaps(POTASSIUM, AGE, hook="patient-view") == []


def test_one_card_a_warning_when_any_gap_is_and_information_folds_into_the_drugs_warning() -> None:
    oral = med("baclofen", 15, draft=True)
    cards = evaluate(replace(facts(drafts=[oral]), gaps=(RENAL, MEDS))).cards
    (card,) = [c for c in cards if c.topic_code == "data-unavailable"]
    assert card.indicator == "warning" and "kidney" in card.detail and "medications" in card.detail
    cards = evaluate(replace(facts(drafts=[oral]), gaps=(RENAL,))).cards
    (card,) = [c for c in cards if c.topic_code == "data-unavailable"]
    assert card.indicator == "info"
