"""Mildly low potassium and/or magnesium on chart opening: one card, magnesium first (S16, A5; issue 19, item 10).

What it checks: on `patient-view`, for a patient on a muscle relaxant or with cramps or muscle spasm
on the problem list, the latest potassium and magnesium in the information band (potassium below
`potassium_low_mmol_per_l` but not below `potassium_warning_mmol_per_l`; magnesium below
`magnesium_low_mmol_per_l` but not below `magnesium_warning_mmol_per_l`, judged in the lab's unit),
from the last `lab_recent_days`. Why: the summary says correcting hypokalaemia and hypomagnesaemia "is
essential when present"; on a chart no order exists to carry the order hooks' information cards, so
one card names both values and what to correct, magnesium first when both are low (potassium does
not correct while magnesium is low).

Quiet: a value in the warning or critical band (electrolyte-potassium and electrolyte-magnesium speak,
as before); a lab flagged LL; a newer result that could not be read (those rules name it); an older
result; a value that is being treated, i.e. a current supplement of that electrolyte started after
the result; anyone not on a relaxant without cramps or spasm (general lab alerting is the EHR's).
"""

from __future__ import annotations

from cds_service.cards._electrolytes import (
    LOW_LAB_OVERRIDES,
    active_relaxants,
    cutoff_in_reported_unit,
    describe_result,
    drug_names,
    is_below,
    short_value,
    unreadable_of,
)
from cds_service.cards.base import Rule, make_card
from cds_service.cards.text import fmt_date, fmt_number, main_name, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import Card
from cds_service.facts.model import ConditionCategory, DrugClass, LabKind, LabResult, PatientFacts

_SUPPLEMENT = {LabKind.POTASSIUM: DrugClass.POTASSIUM_SUPPLEMENT, LabKind.MAGNESIUM: DrugClass.MAGNESIUM_SUPPLEMENT}
_NAMES = {LabKind.POTASSIUM: "potassium", LabKind.MAGNESIUM: "magnesium"}


def _why(facts: PatientFacts) -> str | None:
    """Why this patient is one the summary's electrolyte statements are about, as escaped markdown."""
    relaxants = active_relaxants(facts)
    if relaxants:
        return f"on {quote(', '.join(sorted({main_name(m) for m in relaxants})), 40)}"
    conditions = facts.conditions_in(ConditionCategory.MUSCLE_CRAMPS, ConditionCategory.MUSCLE_SPASM)
    if conditions:
        return f"{quote(conditions[0].display, 40)} on record"
    return None


def _mild(result: LabResult, t: Thresholds) -> tuple[bool, str]:
    """Whether the result is in the information band, and its cut-off as the lab reports ("3.5 mmol/L")."""
    if (result.interpretation or "").upper() == "LL":
        return False, ""
    if result.kind is LabKind.POTASSIUM:
        value, low, moderate, unit = (
            result.value_mmol_l,
            t.potassium_low_mmol_per_l,
            t.potassium_warning_mmol_per_l,
            "mmol/L",
        )
    else:
        value, low, unit = cutoff_in_reported_unit(result, t.magnesium_low_mmol_per_l)
        _, moderate, _ = cutoff_in_reported_unit(result, t.magnesium_warning_mmol_per_l)
    mild = is_below(value, result.comparator, low) and not is_below(value, result.comparator, moderate)
    return mild, f"{fmt_number(low)} {unit}"


def _treated(facts: PatientFacts, result: LabResult) -> bool:
    """A current supplement of this electrolyte started after the result: the low value is being corrected."""
    wanted = _SUPPLEMENT[result.kind]
    return any(
        m.in_class(wanted) and m.start is not None and result.effective is not None and m.start > result.effective
        for m in facts.active_medications()
    )


def _held_supplement_line(facts: PatientFacts, result: LabResult) -> str | None:
    """A supplement held since before the result: it has not corrected it (its dose is worth a look)."""
    wanted = _SUPPLEMENT[result.kind]
    held = [m for m in facts.active_medications() if m.in_class(wanted)]
    if not held:
        return None
    return f"On {quote(main_name(held[0]), 30)} since {fmt_date(held[0].start)}: low despite it; review the dose."


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    if facts.hook != "patient-view":
        return []
    shown: list[tuple[LabResult, str]] = []
    for result in (facts.magnesium, facts.potassium):  # magnesium first: it is corrected first
        if result is None or unreadable_of(facts, result.kind) is not None:
            continue
        age = result.age_days(facts.now)
        if age is None or age > t.lab_recent_days:
            continue
        mild, below = _mild(result, t)
        if mild and not _treated(facts, result):
            shown.append((result, below))
    if not shown:
        return []
    why = _why(facts)
    if why is None:
        return []
    lines = [f"In scope: {why}."]
    for result, below in shown:
        name = _NAMES[result.kind]
        lines.append(f"Latest {name}: {describe_result(result, facts.now)}: below {below}, mildly low.")
        held = _held_supplement_line(facts, result)
        if held:
            lines.append(held)
    kinds = [result.kind for result, _ in shown]
    if len(kinds) == 2:
        summary = f"Correct magnesium, then potassium: {short_value(shown[0][0])}, {short_value(shown[1][0])}"
        lines.append(
            "**Magnesium first**: potassium does not correct while magnesium is low. Oral magnesium oxide, then "
            "oral potassium chloride; recheck both."
        )
    elif kinds == [LabKind.MAGNESIUM]:
        summary = f"Correct low magnesium ({short_value(shown[0][0])}): mildly low"
        lines.append(
            "Oral magnesium oxide; avoid supplements when creatinine clearance is below 20-30 mL/min. Recheck, "
            "with potassium."
        )
    else:
        summary = f"Correct low potassium ({short_value(shown[0][0])}): mildly low"
        lines.append("Oral potassium chloride; check magnesium too (potassium does not correct while it is low).")
    relaxants = active_relaxants(facts)
    return [
        make_card(
            RULE,
            summary=summary,
            indicator="info",
            detail="\n\n".join(lines),
            overrides=LOW_LAB_OVERRIDES,
            drugs=drug_names(relaxants),
            basis=tuple((r.kind, r.value, r.unit, r.comparator, r.effective) for r, _ in shown),
        )
    ]


_REASONING = "\n\n".join(
    (
        (
            "The summary asks to correct hypokalaemia and hypomagnesaemia when present (S16, A5): both cause "
            "cramps and weakness no muscle relaxant treats. On order hooks a mildly low value shows as information "
            "on the relaxant order; a chart opening has no order, so this one card names both values. Bands: "
            "potassium below {potassium_low_mmol_per_l} and not below {potassium_warning_mmol_per_l} mmol/L, "
            "magnesium below {magnesium_low_mmol_per_l} and not below {magnesium_warning_mmol_per_l} mmol/L "
            "(converted into the lab's unit at its precision); lower values get the warning and critical cards "
            "of electrolyte-potassium and electrolyte-magnesium."
        ),
        (
            "Magnesium first: hypokalaemia is refractory while magnesium is low, so when both are low magnesium "
            "is replaced first (or together). General guidance, not an order: oral magnesium oxide; oral "
            "potassium chloride 20-40 mEq a day in divided doses; avoid magnesium supplements when creatinine "
            "clearance is below 20-30 mL/min; recheck after replacement."
        ),
        (
            "Scope, quiet by default: a patient on a muscle relaxant, or with cramps or muscle spasm on the "
            "problem list; results from the last {lab_recent_days} days; not a value already being treated (a "
            "current supplement of that electrolyte started after the result). A supplement held since before "
            "the result did not correct it: the card says so."
        ),
        ("Sources: StatPearls, Hypokalemia (NBK482465) and Hypomagnesemia (NBK500003)."),
    )
)


RULE = Rule(
    topic="electrolyte-correction",
    title="Mildly low potassium or magnesium on the chart",
    statements=("S16", "A5"),
    hooks=frozenset({"patient-view"}),
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "On chart opening, for a patient on a relaxant or with cramps or spasm on the problem list: one information "
        "card for potassium below {potassium_low_mmol_per_l} (not below {potassium_warning_mmol_per_l}) and "
        "magnesium below {magnesium_low_mmol_per_l} (not below {magnesium_warning_mmol_per_l}) mmol/L in the last "
        "{lab_recent_days} days, magnesium first; quiet once a supplement started after the result."
    ),
    overrides=LOW_LAB_OVERRIDES,
    thresholds=(
        "potassium_low_mmol_per_l",
        "potassium_warning_mmol_per_l",
        "magnesium_low_mmol_per_l",
        "magnesium_warning_mmol_per_l",
        "lab_recent_days",
    ),
)
