"""electrolyte-correction (S16, A5; issue 19, item 10) on typed facts: one chart card, magnesium first.

Threshold edges on both sides of the information band, each quiet case beside its firing case: the
warning band (the per-lab rules speak), a value at the cut-off, an old result, a supplement started
after the result, a patient the guideline is not about, an order hook.
"""

from __future__ import annotations

import pytest

from cds_service.cards.electrolyte_correction import evaluate
from cds_service.cards.thresholds import Thresholds
from cds_service.facts.model import ConditionCategory as Cat
from tests.support.facts import T, ago, cond, facts, magnesium, med, only, potassium

BACLOFEN = med("baclofen", 30)


def chart(**kw: object) -> object:
    kw.setdefault("meds", [BACLOFEN])
    return facts("patient-view", **kw)


def test_both_mildly_low_one_info_card_naming_both_values_magnesium_first() -> None:
    card = only(evaluate(chart(potassium=potassium(3.2), magnesium=magnesium(0.65))))
    assert card.indicator == "info" and card.topic_code == "electrolyte-correction"
    assert card.summary == "Correct magnesium, then potassium: Mg 0.65 mmol/L, K 3.2 mmol/L"
    assert card.detail.index("Latest magnesium") < card.detail.index("Latest potassium")
    assert "**Magnesium first**" in card.detail
    assert "on baclofen" in card.detail


@pytest.mark.parametrize(
    ("k", "fires"),
    [(T.potassium_low_mmol_per_l, False), (3.49, True), (T.potassium_warning_mmol_per_l, True), (2.99, False)],
)
def test_potassium_band_edges(k: float, fires: bool) -> None:
    """3.5 is normal; 3.0-3.49 is the information band; below 3.0 the warning card of electrolyte-potassium."""
    cards = evaluate(chart(potassium=potassium(k)))
    assert bool(cards) is fires
    if fires:
        assert only(cards).summary == f"Correct low potassium (K {k:g} mmol/L): mildly low"


@pytest.mark.parametrize(
    ("value", "unit", "fires"),
    [(0.70, "mmol/L", False), (0.69, "mmol/L", True), (0.60, "mmol/L", True), (0.59, "mmol/L", False),
     (1.7, "mg/dL", False), (1.6, "mg/dL", True), (1.4, "mEq/L", False), (1.3, "mEq/L", True)],
)  # fmt: skip
def test_magnesium_band_edges_in_the_labs_unit(value: float, unit: str, fires: bool) -> None:
    """1.7 mg/dL = 1.4 mEq/L = 0.70 mmol/L: at the cut-off, not low (no rounding artefact)."""
    assert bool(evaluate(chart(magnesium=magnesium(value, unit)))) is fires


def test_result_age_edge() -> None:
    assert evaluate(chart(potassium=potassium(3.2, days_ago=T.lab_recent_days)))
    assert evaluate(chart(potassium=potassium(3.2, days_ago=T.lab_recent_days + 1))) == []
    assert evaluate(chart(potassium=potassium(3.2, days_ago=40)), Thresholds(lab_recent_days=60))


def test_quiet_once_a_supplement_started_after_the_result() -> None:
    kcl = med("potassium chloride", 40, ref="MedicationRequest/kcl", start=ago(1))
    assert evaluate(chart(meds=[BACLOFEN, kcl], potassium=potassium(3.2, days_ago=2))) == []
    # only the treated one drops out: magnesium stays, named alone
    card = only(evaluate(chart(meds=[BACLOFEN, kcl], potassium=potassium(3.2, days_ago=2), magnesium=magnesium(0.65))))
    assert card.summary == "Correct low magnesium (Mg 0.65 mmol/L): mildly low"


def test_a_supplement_held_since_before_the_result_did_not_correct_it() -> None:
    kcl = med("potassium chloride", 20, ref="MedicationRequest/kcl", start=ago(90), display="Potassium Chloride 20 MEQ")
    card = only(evaluate(chart(meds=[BACLOFEN, kcl], potassium=potassium(3.2, days_ago=2))))
    assert "low despite it; review the dose" in card.detail


@pytest.mark.parametrize(
    "conditions",
    [
        [cond(Cat.MUSCLE_CRAMPS, "R25.2", "Cramp and spasm")],
        [cond(Cat.MUSCLE_SPASM, "M62.830", "Muscle spasm of back")],
    ],
    ids=["cramps", "spasm"],
)
def test_cramps_or_spasm_on_the_problem_list_without_a_relaxant(conditions: list) -> None:
    card = only(evaluate(chart(meds=[], conditions=conditions, potassium=potassium(3.2))))
    assert "on record" in card.detail


def test_quiet_for_a_patient_the_guideline_is_not_about_and_on_order_hooks() -> None:
    low_back_pain = cond(Cat.ACUTE_MUSCULOSKELETAL, "M54.50", "Low back pain")
    assert evaluate(chart(meds=[], conditions=[low_back_pain], potassium=potassium(3.2))) == []
    assert evaluate(facts("order-sign", drafts=[med("baclofen", 15, draft=True)], potassium=potassium(3.2))) == []


def test_quiet_when_flagged_critically_low_or_a_newer_result_could_not_be_read() -> None:
    assert evaluate(chart(potassium=potassium(3.2, interpretation="LL"))) == []
