"""Low magnesium in a patient this guideline is about (guideline S16, A5).

Fires on the latest valid magnesium below 0.70 mmol/L (warning) or 0.5 mmol/L (critical, the
symptomatic band), judged in the unit the lab reported: 1.7 / 1.2 mg/dL, 1.4 / 1.0 mEq/L, so a
result reported exactly at the cut-off (1.7 mg/dL) is not called low by a conversion's rounding.
A unit outside these is judged on the normalized mmol/L value. Scope as for potassium (see
`cards._electrolytes`): order hooks when a muscle relaxant is being ordered; patient-view when on
a muscle relaxant or with a spasm/spasticity/cramp condition. A lab flag LL makes it critical.
"""

from __future__ import annotations

from cds_service.cards._electrolytes import is_below, low_lab_card, why_in_scope
from cds_service.cards.base import Rule
from cds_service.cards.thresholds import MAGNESIUM_CRITICAL, MAGNESIUM_LOW
from cds_service.cdshooks import ALL_HOOKS, Card
from cds_service.facts.model import LabResult, PatientFacts

_ADVICE = (
    "Replace magnesium (general guidance, not an order): oral magnesium oxide for mild deficits; IV "
    "magnesium sulfate 1-2 g when severe or symptomatic. Avoid magnesium supplements when creatinine "
    "clearance is below 20-30 mL/min. Correct magnesium **before or with** potassium: hypokalaemia does "
    "not correct while magnesium is low. Recheck after replacement."
)


def _unit_key(unit: str) -> str:
    return unit.lower().replace(" ", "")


def _thresholds(result: LabResult) -> tuple[float, float, float, str]:
    """(value, low, critical, unit) in the reported unit when known, otherwise in mmol/L."""
    key = _unit_key(result.unit)
    if key in MAGNESIUM_LOW:
        return result.value, MAGNESIUM_LOW[key], MAGNESIUM_CRITICAL[key], result.unit
    return result.value_mmol_l, MAGNESIUM_LOW["mmol/l"], MAGNESIUM_CRITICAL["mmol/l"], "mmol/L"


def evaluate(facts: PatientFacts) -> list[Card]:
    result = facts.magnesium
    if result is None:
        return []
    value, low, severe, unit = _thresholds(result)
    if not is_below(value, result.comparator, low):
        return []
    reason = why_in_scope(facts)
    if reason is None:
        return []
    critical = is_below(value, result.comparator, severe) or (result.interpretation or "").upper() == "LL"
    band = "severe hypomagnesaemia" if critical else "hypomagnesaemia"
    threshold = severe if critical else low
    return [
        low_lab_card(
            RULE,
            facts,
            result,
            critical=critical,
            band=band,
            below=f"{threshold:g} {unit}",
            cutoff_note="; the cut-offs are 0.70 mmol/L = 1.7 mg/dL = 1.4 mEq/L, and 0.5 mmol/L for the severe band",
            why_it_matters="low magnesium causes cramps and keeps potassium low, and the guideline asks to correct it.",
            advice=_ADVICE,
            reason=reason,
        )
    ]


RULE = Rule(
    topic="electrolyte-magnesium",
    title="Low magnesium",
    statements=("S16", "A5"),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    description=(
        "Latest magnesium below 0.70 mmol/L / 1.7 mg/dL (warning) or 0.5 mmol/L (critical) in a patient "
        "being ordered, or on, a muscle relaxant, or with a spasm/spasticity/cramp condition."
    ),
)
