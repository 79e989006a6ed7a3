"""renal-dosing from typed facts: baclofen at eGFR 60/30 and dialysis, tizanidine at CrCl 25."""

from __future__ import annotations

import pytest

from cds_service.cards.renal_dosing import RULE, evaluate
from cds_service.facts.model import ConditionCategory, OrderRelation
from tests.support.facts import cond, continues, egfr, facts, med, only


def _baclofen(renal=None, **kw) -> list:
    return evaluate(facts(drafts=(med(mg_per_day=15, draft=True),), renal=renal, **kw))


@pytest.mark.parametrize(("value", "indicator"), [(60, None), (59.9, "warning"), (30, "warning"), (29.9, "critical")])
def test_baclofen_egfr_edges(value: float, indicator: str | None) -> None:
    cards = _baclofen(egfr(value))
    if indicator is None:
        assert cards == []
        return
    card = only(cards)
    assert card.indicator == indicator
    assert card.topic_code == "renal-dosing"
    assert "LOINC 98979-8" in card.detail  # how the eGFR was obtained
    # A 50-year-old: the label's words, never Beers' "avoid" (issue 19, item 4)
    assert "AGS Beers 2023" not in card.source.label and "avoid" not in card.summary.lower()
    if indicator == "critical":
        assert card.summary.startswith("No labelled baclofen dose at eGFR")
        assert "Consider holding or stopping" in card.detail and not card.suggestions


@pytest.mark.parametrize(("age", "beers"), [(64, False), (65, True)])
def test_beers_avoid_only_from_65_below_the_label_dose_review(age: int, beers: bool) -> None:
    card = only(_baclofen(egfr(45), age=age))
    assert card.indicator == "warning"
    if beers:
        assert card.summary.startswith("Avoid baclofen at eGFR < 60 (Beers)") and "AGS Beers 2023" in card.source.label
    else:
        assert card.summary.startswith("Review the baclofen dose (15 mg/day): renally excreted, eGFR 45")
        assert "reduced dosage" in card.detail and "avoid" not in card.detail.lower()
        assert "AGS Beers 2023" not in card.source.label


def test_dialysis_is_critical_and_a_computed_egfr_says_so() -> None:
    assert only(_baclofen(egfr(None, dialysis=True))).indicator == "critical"
    computed = egfr(45, method="CKD-EPI 2021 from creatinine 1.4 mg/dL, age 70, female")
    assert "CKD-EPI 2021" in only(_baclofen(computed)).detail


def test_ckd_stage_from_a_condition_stands_in_for_the_egfr() -> None:
    stage4 = cond(ConditionCategory.CKD_STAGE_4, "N18.4", "CKD stage 4")
    card = only(_baclofen(conditions=(stage4,)))
    assert card.indicator == "critical"
    assert "CKD stage 4 on the problem list" in card.detail


def test_no_renal_data_and_a_reduction_in_the_30_59_band_are_quiet() -> None:
    assert _baclofen() == []
    current = med(mg_per_day=30)
    draft = med(mg_per_day=20, draft=True)
    reduction = continues(draft, OrderRelation.DECREASE, current)
    assert evaluate(facts(drafts=(draft,), meds=(current,), renal=egfr(40), continuations=reduction)) == []


def test_a_reduction_with_acute_kidney_injury_and_egfr_22_is_judged() -> None:
    """Issue 19, item 3: 60 → 50 mg/day with AKI and eGFR 22 leaves the patient on a dose the kidney
    cannot clear: critical, no dose offered, AKI named."""
    current = med(mg_per_day=60)
    draft = med(mg_per_day=50, draft=True)
    reduction = continues(draft, OrderRelation.DECREASE, current)
    aki = cond(ConditionCategory.ACUTE_KIDNEY_INJURY, "N17.9", "Acute kidney injury")
    card = only(
        evaluate(facts(drafts=(draft,), meds=(current,), renal=egfr(22), conditions=(aki,), continuations=reduction))
    )
    assert card.indicator == "critical" and not card.suggestions
    assert "acute kidney injury" in card.detail and "not at steady state" in card.detail


def test_the_egfr_date_sits_beside_the_value_and_the_method_is_whole() -> None:
    """Issue 19, item 11: the date is the eGFR's, not the CKD entry's; the CKD-EPI explanation is not cut."""
    method = (
        "CKD-EPI 2021 from creatinine 3.1 mg/dL on 2026-11-20, age 70, female (computed, race-free); "
        "CKD stage 4 on the problem list"
    )
    card = only(_baclofen(egfr(15.2, method=method)))
    assert "eGFR 15.2 mL/min/1.73 m², measured 2026-11-20 (CKD-EPI 2021" in card.detail
    assert "CKD stage 4 on the problem list)" in card.detail and "…" not in card.detail


@pytest.mark.parametrize(("value", "fires"), [(25, False), (24.9, True)])
def test_tizanidine_crcl_edge_at_25(value: float, fires: bool) -> None:
    cards = evaluate(facts(drafts=(med("tizanidine", 12, draft=True),), renal=egfr(value)))
    if not fires:
        assert cards == []
        return
    card = only(cards)
    assert card.indicator == "warning"
    assert "stands in for the creatinine clearance" in card.detail


def test_patient_view_speaks_for_the_regimen_in_place() -> None:
    """A current baclofen order in reduced kidney function is a chart-level concern (warning or critical)."""
    assert only(evaluate(facts("patient-view", meds=(med(mg_per_day=30),), renal=egfr(45)))).indicator == "warning"
    assert only(evaluate(facts("patient-view", meds=(med(mg_per_day=30),), renal=egfr(20)))).indicator == "critical"
    assert evaluate(facts("patient-view", meds=(med(mg_per_day=30),), renal=egfr(75))) == []
    assert RULE.hooks == {"order-select", "order-sign", "patient-view"}
