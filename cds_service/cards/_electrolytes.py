"""What the electrolyte rules share: when a patient is in scope, and how a lab result is shown.

Scope (quiet by default): the guideline's electrolyte statements (S16, A5) are about muscle spasm
and cramps, so a potassium or magnesium card appears only for a patient this guideline is about.
Order hooks: a muscle relaxant is being ordered (a draft in scope; a stop order does not count).
Patient-view: the patient is on a muscle relaxant, or has muscle cramps on the problem list (cramps
are what low K or Mg explain; spasticity alone is not); the rules then speak only in the warning and
critical bands. Anyone else gets no electrolyte card from this service. Not a rule module (leading
underscore: skipped by the registry).
"""

from __future__ import annotations

from datetime import datetime

from cds_service.cards.base import DATA_OUTDATED, WILL_MONITOR, Rule, make_card
from cds_service.cards.scope import is_muscle_relaxant
from cds_service.cards.text import clip, escape_md, fmt_date, fmt_number, main_name, quote
from cds_service.cdshooks import ORDER_HOOKS, Card
from cds_service.facts.labs import from_mmol_per_l
from cds_service.facts.model import (
    ConditionCategory,
    LabKind,
    LabResult,
    MedicationFact,
    PatientFacts,
    UnreadableLab,
)

LOW_LAB_OVERRIDES = (WILL_MONITOR, DATA_OUTDATED)
_LAB_NAMES = {LabKind.POTASSIUM: "potassium", LabKind.MAGNESIUM: "magnesium"}


def relaxant_drafts(facts: PatientFacts) -> tuple[MedicationFact, ...]:
    """Muscle-relaxant drafts this hook speaks about (stop orders excluded)."""
    return tuple(m for m in facts.drafts_in_scope if is_muscle_relaxant(m) and not m.is_stop)


def active_relaxants(facts: PatientFacts) -> tuple[MedicationFact, ...]:
    return tuple(m for m in facts.active_medications() if is_muscle_relaxant(m))


def relaxants_in_scope(facts: PatientFacts) -> tuple[MedicationFact, ...]:
    """The relaxant orders a card speaks of: the drafts (order hooks) or the current orders."""
    return relaxant_drafts(facts) if facts.hook in ORDER_HOOKS else active_relaxants(facts)


def drug_names(medications: tuple[MedicationFact, ...]) -> tuple[str, ...]:
    return tuple(sorted({main_name(m) for m in medications}))


def why_in_scope(facts: PatientFacts, *, conditions_count: bool = True) -> str | None:
    """Why the electrolyte rules speak about this patient, as escaped markdown; None: stay quiet."""
    if facts.hook in ORDER_HOOKS:
        drafts = relaxant_drafts(facts)
        if drafts:
            names = ", ".join(sorted({main_name(m) for m in drafts}))
            return f"{quote(names, 40)} being ordered"
        return None
    active = active_relaxants(facts)
    if active:
        names = ", ".join(sorted({main_name(m) for m in active}))
        return f"on {quote(names, 40)}"
    if conditions_count:
        # Chart opening: cramps are the condition low K or Mg explains (issue 12); spasticity alone is not.
        conditions = facts.conditions_in(ConditionCategory.MUSCLE_CRAMPS)
        if conditions:
            return f"{quote(conditions[0].display, 40)} on record"
    return None


def describe_result(result: LabResult, now: datetime) -> str:
    """'3.2 mEq/L (3.2 mmol/L) on 2026-11-20, 5 days ago — preliminary result', escaped."""
    comparator = result.comparator or ""
    value = f"{escape_md(comparator)}{fmt_number(result.value)} {quote(result.unit, 12)}"
    if result.unit.lower().replace(" ", "") != "mmol/l":
        value += f" ({escape_md(comparator)}{fmt_number(result.value_mmol_l)} mmol/L)"
    text = f"**{value}**"
    if result.effective is not None:
        age = result.age_days(now) or 0.0
        text += f" on {result.effective.date().isoformat()} ({_age_text(age)})"
    else:
        text += " (date not recorded)"
    if result.preliminary or (result.status or "").lower() == "preliminary":
        text += " — **preliminary result**: confirm before acting"
    if result.interpretation:
        text += f"; lab flag {quote(result.interpretation, 10)}"
    return text


def short_value(result: LabResult) -> str:
    """'K 3.2 mEq/L' style, for summaries (units as reported, comparator kept)."""
    name = "K" if result.kind is LabKind.POTASSIUM else "Mg"
    flag = " (prelim.)" if is_preliminary(result) else ""
    return f"{name} {result.comparator or ''}{fmt_number(result.value)} {clip(result.unit, 15)}{flag}"


def is_preliminary(result: LabResult) -> bool:
    return result.preliminary or (result.status or "").lower() == "preliminary"


def cutoff_in_reported_unit(result: LabResult, mmol_per_l: float) -> tuple[float, float, str]:
    """(value, cut-off, unit) in the unit the lab reported, at its usual precision, when convertible.

    A result reported exactly at the cut-off (1.7 mg/dL against 0.70 mmol/L) is then not called
    low by a conversion's rounding (1.7 × 0.4114 = 0.6994).
    """
    converted = from_mmol_per_l(result.kind, mmol_per_l, result.unit)
    if converted is None or result.unit.lower().replace(" ", "") in ("mmol/l", "mmol/liter"):
        return result.value_mmol_l, mmol_per_l, "mmol/L"
    return result.value, round(converted, 1), result.unit


def is_below(value: float, comparator: str | None, threshold: float) -> bool:
    """Whether the true value is certainly below `threshold`, honouring a reported comparator.

    "<2.5" means the value is under 2.5, so it is below 2.5; ">3.0" says nothing about "< 3.5".
    """
    match comparator:
        case None | "" | "=":
            return value < threshold
        case "<":
            return value <= threshold
        case "<=":
            return value < threshold
        case _:  # ">" / ">=": only a lower bound is known
            return False


def _age_text(days: float) -> str:
    if days < 1:
        return "less than a day ago" if days >= 0 else "dated in the future"
    whole = int(days)
    return f"{whole} day{'s' if whole != 1 else ''} ago"


def lab_name(kind: LabKind) -> str:
    return _LAB_NAMES[kind]


def low_lab_card(
    rule: Rule,
    facts: PatientFacts,
    result: LabResult,
    *,
    critical: bool,
    band: str,
    warning: bool = True,
    below: str,
    advice: str,
    reason: str,
) -> Card:
    """The card of a low K or Mg result: value as reported and normalized, its band, the advice.

    When a newer result could not be read, this one is the *previous* result and the card says so.
    """
    name = lab_name(result.kind)
    newer = unreadable_of(facts, result.kind)
    which = "Previous readable" if newer is not None else "Latest"
    lines = [describe_unreadable(newer)] if newer is not None else []
    lines += [
        f"{which} {name}: {describe_result(result, facts.now)}. **Below {below}**: {band}; {reason}.",
        advice,
    ]
    prefix = "previous " if newer is not None else ""
    relaxants = relaxants_in_scope(facts)
    # About the patient, and on order hooks about the relaxant orders it is shown with (issue 20: it
    # counts among that order's cards, and becomes a line when the order has two already).
    return make_card(
        rule,
        summary=f"Correct low {name} ({prefix}{short_value(result)}): {band}",
        indicator="critical" if critical else "warning" if warning else "info",
        detail="\n\n".join(lines),
        overrides=LOW_LAB_OVERRIDES,
        about=relaxants,
        drugs=drug_names(relaxants),
        basis=(result.kind, result.value, result.unit, result.comparator, result.effective, band, newer is not None),
    )


def on_supplement(facts: PatientFacts, kind: LabKind) -> bool:
    """A current potassium or magnesium supplement: the deficit is being treated."""
    from cds_service.facts.model import DrugClass

    wanted = DrugClass.POTASSIUM_SUPPLEMENT if kind is LabKind.POTASSIUM else DrugClass.MAGNESIUM_SUPPLEMENT
    pool = facts.would_be_active() if facts.hook in ORDER_HOOKS else facts.active_medications()
    return any(m.in_class(wanted) and not m.is_stop for m in pool)


def flagged_low_card(rule: Rule, facts: PatientFacts, lab: UnreadableLab, reason: str, advice: str) -> Card:
    """The newest result could not be read but the lab flagged it low (L) or critically low (LL)."""
    name = lab_name(lab.kind)
    critical = flag_of(lab) == "LL"
    previous = facts.potassium if lab.kind is LabKind.POTASSIUM else facts.magnesium
    lines = [f"{describe_unreadable(lab)} In scope: {reason}."]
    if previous is not None:
        lines.append(f"Previous readable {name}: {describe_result(previous, facts.now)}.")
    lines.append(advice)
    flag = "critically low (LL)" if critical else "low (L)"
    relaxants = relaxants_in_scope(facts)
    return make_card(
        rule,
        summary=f"Recheck and correct {name}: newest result flagged {flag}, value unreadable",
        indicator="critical" if critical else "warning",
        detail="\n\n".join(lines),
        overrides=LOW_LAB_OVERRIDES,
        about=relaxants,
        drugs=drug_names(relaxants),
        basis=(lab.kind, lab.raw_value, lab.raw_unit, flag_of(lab), lab.effective),
    )


def unreadable_of(facts: PatientFacts, kind: LabKind) -> UnreadableLab | None:
    return facts.potassium_unreadable if kind is LabKind.POTASSIUM else facts.magnesium_unreadable


def flag_of(lab: UnreadableLab | None) -> str:
    return (lab.interpretation or "").upper() if lab is not None else ""


def describe_unreadable(lab: UnreadableLab) -> str:
    """'the newest potassium, on 2026-11-24, could not be read ("see note" mmol/L: value is text); lab flag LL'."""
    when = fmt_date(lab.effective)
    raw = f"{lab.raw_value} {lab.raw_unit}".strip()
    text = (
        f"The newest {lab_name(lab.kind)}, on {when}, could not be read "
        f"(&quot;{quote(raw, 24)}&quot;: {quote(lab.problem, 30)})"
    )
    if lab.interpretation:
        text += f"; the lab flagged it **{quote(lab.interpretation, 10)}**"
    return text + "."
