"""The dose judgment per order (issue 19): label by route and form, kidney, liver, age, indication,
stop reason, exposure; threshold edges on typed facts, each quiet case beside its firing one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.facts.judgment import CautionKind, LabelScope, RenalBand, judgment_of, suggestion_outside
from cds_service.facts.model import ConditionCategory, Indication, OrderRelation, Route
from cds_service.facts.orders import with_daily_dose
from tests.support.facts import T, ago, cond, continues, egfr, facts, indicated, med


def _judge(order=None, **kw):
    order = order or med(mg_per_day=15, draft=True)
    f = facts(drafts=(order,), **kw)
    return judgment_of(f, order, T), f, order


def test_oral_baclofen_by_the_label_for_spasticity() -> None:
    order = med(mg_per_day=15, draft=True)
    j, _, _ = _judge(order, indications=indicated(Indication.SPASTICITY, order))
    assert (j.scope, j.label, j.plan) == (LabelScope.ORAL, "FDA oral baclofen label", "the label")
    assert (j.start_mg_per_day, j.step_mg_per_day, j.interval_days) == (15, 15, 3)
    assert j.ceiling_mg_per_day == j.label_max_mg_per_day == 80
    assert j.has_labelled_dose and j.no_dose_reason is None and j.kidney is None


def test_cramps_in_liver_disease_take_the_cramp_plan() -> None:
    order = med(mg_per_day=10, draft=True)
    j, _, _ = _judge(order, indications=indicated(Indication.CRAMPS_WITH_LIVER_DISEASE, order))
    assert (j.plan, j.start_mg_per_day, j.step_mg_per_day, j.interval_days) == ("the cramp plan", 10, 10, 7)
    assert (j.plan_ceiling_mg_per_day, j.ceiling_mg_per_day) == (30, 80)
    assert j.sources[0].startswith("EASL 2018")


@pytest.mark.parametrize(
    ("value", "band", "dose"),
    [(60, RenalBand.NORMAL, True), (59.9, RenalBand.REDUCED, True), (30, RenalBand.REDUCED, True),
     (29.9, RenalBand.SEVERE, False)],
)  # fmt: skip
def test_baclofen_kidney_edges(value: float, band: RenalBand, dose: bool) -> None:
    j, _, _ = _judge(renal=egfr(value))
    assert j.kidney is not None and j.kidney.band is band
    assert j.has_labelled_dose is dose
    assert j.renal_adjusted is (band is not RenalBand.NORMAL)
    if not dose:
        assert "no labelled oral baclofen dose at eGFR below 30" in (j.no_dose_reason or "")
        assert "nephrology" in j.consider
        assert j.max_suggestable() is None


def test_dialysis_leaves_no_labelled_dose_whatever_the_egfr() -> None:
    j, _, _ = _judge(renal=egfr(None, dialysis=True))
    assert j.kidney is not None and j.kidney.band is RenalBand.SEVERE
    assert "on dialysis" in (j.no_dose_reason or "")


def test_dialysis_from_the_problem_list_alone() -> None:
    j, _, _ = _judge(conditions=(cond(ConditionCategory.DIALYSIS, "Z99.2"),))
    assert not j.has_labelled_dose


@pytest.mark.parametrize(("age", "kind"), [(64, CautionKind.RENAL_LABEL), (65, CautionKind.RENAL_BEERS)])
def test_renal_wording_beers_only_from_65(age: int, kind: CautionKind) -> None:
    j, _, _ = _judge(renal=egfr(45), age=age)
    kinds = {c.kind for c in j.cautions}
    assert kind in kinds
    other = CautionKind.RENAL_BEERS if kind is CautionKind.RENAL_LABEL else CautionKind.RENAL_LABEL
    assert other not in kinds
    text = j.caution(kind).text  # type: ignore[union-attr]
    if age < 65:
        assert "avoid" not in text.lower() and "reduced dosage" in text and "AGS Beers 2023" not in j.sources
    else:
        assert "avoid" in text and "AGS Beers 2023" in j.sources


def test_acute_kidney_injury_is_a_caution_and_a_renal_adjustment() -> None:
    aki = cond(ConditionCategory.ACUTE_KIDNEY_INJURY, "N17.9")
    j, _, _ = _judge(renal=egfr(70), conditions=(aki,))
    assert j.renal_adjusted and j.caution(CautionKind.UNSTABLE_KIDNEY) is not None and j.has_labelled_dose
    quiet, _, _ = _judge(renal=egfr(70))
    assert not quiet.renal_adjusted and quiet.cautions == ()


def test_iv_dantrolene_has_its_own_label_and_no_oral_maximum() -> None:
    iv = med("dantrolene", 175, draft=True, route=Route.INJECTION, display="dantrolene sodium 20 MG Injection")
    j, _, _ = _judge(iv)
    assert j.scope is LabelScope.OWN_LABEL and j.form == "injection"
    assert j.label_max_mg_per_day is None and j.ceiling_mg_per_day is None
    assert "malignant hyperthermia" in (j.label or "")
    oral, _, _ = _judge(med("dantrolene", 100, draft=True, display="dantrolene sodium 25 MG Oral Capsule"))
    assert oral.scope is LabelScope.ORAL and oral.label_max_mg_per_day == 400 and oral.form == "capsule"


def test_intrathecal_baclofen_is_the_pump_label() -> None:
    itb = med(mg_per_day=None, draft=True, route=Route.INTRATHECAL, display="baclofen 2 MG/ML Injection")
    j, _, _ = _judge(itb)
    assert j.scope is LabelScope.OWN_LABEL and j.form == "intrathecal" and j.label_max_mg_per_day is None


def test_liver() -> None:
    cirrhosis = cond(ConditionCategory.CIRRHOSIS, "K74.60")
    amrix = med("cyclobenzaprine", 15, draft=True, extended_release=True, display="Amrix 15 MG ER Capsule")
    j, _, _ = _judge(amrix, conditions=(cirrhosis,))
    assert not j.has_labelled_dose and "hepatic impairment" in (j.no_dose_reason or "") and j.hepatic_adjusted
    ir = med("cyclobenzaprine", 15, draft=True)
    j_ir, _, _ = _judge(ir, conditions=(cirrhosis,))
    assert j_ir.has_labelled_dose and j_ir.hepatic_adjusted and j_ir.caution(CautionKind.HEPATIC) is not None
    j_quiet, _, _ = _judge(amrix)
    assert j_quiet.has_labelled_dose and j_quiet.label_max_mg_per_day == 30 and not j_quiet.hepatic_adjusted
    active = cond(ConditionCategory.ACTIVE_LIVER_DISEASE, "K73.9")
    dan, _, _ = _judge(med("dantrolene", 75, draft=True), conditions=(active,))
    assert "contraindicated" in (dan.no_dose_reason or "")


@pytest.mark.parametrize(("age", "pediatric"), [(11, True), (12, False)])
def test_baclofen_label_age_edge(age: int, pediatric: bool) -> None:
    j, _, _ = _judge(age=age)
    assert j.pediatric is pediatric and j.has_labelled_dose is not pediatric
    assert j.label_max_mg_per_day == 80  # the maximum still applies to a child


@pytest.mark.parametrize(("age", "beers"), [(64, False), (65, True)])
def test_beers_avoid_for_the_six_relaxants_only_from_65(age: int, beers: bool) -> None:
    j, _, _ = _judge(med("methocarbamol", 3000, draft=True), age=age)
    assert (j.caution(CautionKind.BEERS_AVOID) is not None) is beers and j.age_adjusted is beers
    baclofen, _, _ = _judge(age=age)
    assert baclofen.caution(CautionKind.BEERS_AVOID) is None  # Beers does not list baclofen as an SMR to avoid


def test_max_suggestable_by_relation() -> None:
    draft = med(mg_per_day=30, draft=True)
    start, _, _ = _judge(draft, continuations=continues(draft, OrderRelation.START))
    assert start.max_suggestable() == 15 and start.allows(15) and not start.allows(20)
    up = med(mg_per_day=60, draft=True)
    increase, _, _ = _judge(up, continuations=continues(up, OrderRelation.INCREASE, previous_mg=30))
    assert increase.max_suggestable(30) == 45 and not increase.allows(60, 30)
    down = med(mg_per_day=50, draft=True)
    cut, _, _ = _judge(down, continuations=continues(down, OrderRelation.DECREASE, previous_mg=60))
    assert cut.max_suggestable(60) == 80 and cut.allows(50, 60) and not cut.allows(0)


def test_stop_reason_from_reason_code_reference_and_problem_list() -> None:
    code = ("http://hl7.org/fhir/sid/icd-10-cm", "T42.8X5A", "Adverse effect of baclofen, initial encounter")
    stop = replace(med(mg_per_day=60, draft=True, status="stopped"), reason_codings=(code,))
    j, _, _ = _judge(stop)
    assert j.stop_reason is not None and (j.stop_reason.kind, j.stop_reason.source) == ("adverse-effect", "reasonCode")
    enc = replace(cond(ConditionCategory.ENCEPHALOPATHY, "G92.8", "Toxic encephalopathy"), provenance=None)
    from cds_service.facts.model import Provenance

    enc = replace(enc, provenance=Provenance("Condition/enc1", "code"))
    by_ref = replace(med(mg_per_day=60, draft=True, status="stopped"), reason_references=("Condition/enc1",))
    j2, _, _ = _judge(by_ref, conditions=(enc,))
    assert j2.stop_reason is not None and j2.stop_reason.source == "reasonReference"
    assert j2.stop_reason.kind == "encephalopathy"
    plain = med(mg_per_day=60, draft=True, status="stopped")
    j3, _, _ = _judge(plain, conditions=(enc,))
    assert j3.stop_reason is not None and j3.stop_reason.source == "problem list"
    j4, _, _ = _judge(plain)
    assert j4.stop_reason is None


def test_exposure_of_a_stop_counts_the_course() -> None:
    current = med(mg_per_day=60, start=ago(4))
    stop = med(mg_per_day=60, draft=True, status="stopped", ref=current.reference)
    j, _, _ = _judge(stop, meds=(current,))
    assert j.exposure is not None and j.exposure.mg_per_day == 60
    assert j.exposure.days is not None and 3.9 < j.exposure.days < 4.1


def test_suggestion_outside_reads_the_resource_back() -> None:
    draft = med(mg_per_day=30, draft=True, strength_mg=10)
    f = facts(drafts=(draft,), continuations=continues(draft, OrderRelation.START))
    assert suggestion_outside(f, T, with_daily_dose(draft, 15, 3)) is None
    assert "above the 15 mg/day" in (suggestion_outside(f, T, with_daily_dose(draft, 30, 3)) or "")
    severe = facts(drafts=(draft,), renal=egfr(22), continuations=continues(draft, OrderRelation.START))
    assert "no labelled dose" in (suggestion_outside(severe, T, with_daily_dose(draft, 15, 3)) or "")


def test_the_judgment_is_worked_out_once_per_call() -> None:
    j, f, order = _judge()
    assert judgment_of(f, order, T) is j


def test_a_changed_copy_of_the_facts_is_judged_afresh() -> None:
    j, f, order = _judge(renal=egfr(75))
    worse = replace(f, renal=egfr(20))
    assert j.has_labelled_dose and not judgment_of(worse, order, T).has_labelled_dose
