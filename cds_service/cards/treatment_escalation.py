"""The next step once baclofen has been held at the indication's ceiling (guideline S17, A3, A4).

What it checks. "Refractory" has no structured fact, but the moment the source says to reassess
does: an order that renews or raises oral baclofen (`facts.continuation_of`) after the patient has
taken a dose at the ceiling of the order's indication for at least
`Thresholds.escalation_min_days_at_ceiling` (the low end of "2-3 weeks") and at most
`escalation_max_days_at_ceiling` (the reassessment moment, not every renewal of a regimen held for
months). The ceiling is the cramp plan's `baclofen_plan_ceiling_mg_per_day` for cramps in liver
disease, and the label maximum otherwise (30-80 mg/day is the label's usual range for spasticity,
not a failure).

What it offers, by indication, never a drug the record says is contraindicated or not indicated:
spasticity: tizanidine (not beside fluvoxamine or ciprofloxacin), intrathecal baclofen, botulinum
toxin for focal spasticity (no cyclobenzaprine: not effective in spasticity); cramps: correct
potassium and magnesium, albumin in cirrhosis (no cyclobenzaprine); acute musculoskeletal spasm:
baclofen is not indicated there, so immediate-release cyclobenzaprine for 2-3 weeks, only without a
cardiac contraindication, hyperthyroidism or an MAOI, never extended-release in liver disease or at
65 or older (and not at all at 65 or older: Beers 2023 avoid); unknown: record the indication.

The ceiling is the order's dose judgment's plan ceiling (`facts.judgment`); where the judgment leaves
no labelled dose (kidney, a child) there is no ceiling to have been held at: quiet (issue 19).

When. Order hooks only: a chart opening is not a prescribing decision. Quiet when the patient
already takes a next-step agent (tizanidine, cyclobenzaprine, intrathecal baclofen).
"""

from __future__ import annotations

from datetime import datetime

from cds_service.cards._baclofen import BACLOFEN, Change, change_of, is_intrathecal_baclofen, is_oral_baclofen
from cds_service.cards.base import Override, Rule, make_card
from cds_service.cards.scope import combination_pool
from cds_service.cards.text import fmt_date, fmt_mg
from cds_service.cards.thresholds import ALBUMIN_G_PER_WEEK, DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ORDER_HOOKS, Card
from cds_service.facts.judgment import judgment_of
from cds_service.facts.model import (
    ConditionCategory,
    DrugClass,
    Indication,
    MedicationFact,
    OrderRelation,
    PatientFacts,
    above,
)

RESPONSE_ADEQUATE = Override("response-adequate", "Spasm is controlled on the current treatment")
_OVERRIDES = (RESPONSE_ADEQUATE,)
_NEXT_STEP_INGREDIENTS = frozenset({"tizanidine", "cyclobenzaprine"})
_CYCLOBENZAPRINE_CONTRAINDICATIONS = (
    ConditionCategory.CARDIAC_ARRHYTHMIA,
    ConditionCategory.CARDIAC_CONDUCTION,
    ConditionCategory.HEART_FAILURE,
    ConditionCategory.RECENT_MI,
    ConditionCategory.HYPERTHYROIDISM,
)


def _already_escalated(facts: PatientFacts) -> bool:
    return any(
        (not set(m.ingredients).isdisjoint(_NEXT_STEP_INGREDIENTS)) or is_intrathecal_baclofen(m)
        for m in combination_pool(facts)
    )


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    drafts = [m for m in facts.drafts_in_scope if is_oral_baclofen(m) and not m.is_stop]
    if not drafts or _already_escalated(facts):
        return []
    for draft in drafts:
        change = change_of(facts, draft)
        if change.relation not in (OrderRelation.RENEWAL, OrderRelation.INCREASE):
            continue
        judgment = judgment_of(facts, draft, t)
        if not judgment.has_labelled_dose or judgment.plan_ceiling_mg_per_day is None:
            continue  # no labelled dose here (kidney, age): no next step to judge from the ceiling
        indication = judgment.indication
        ceiling = judgment.plan_ceiling_mg_per_day
        if change.previous_mg is None or change.since is None or above(ceiling, change.previous_mg):
            continue
        days = (facts.now - change.since).total_seconds() / 86400
        if not t.escalation_min_days_at_ceiling <= days <= t.escalation_max_days_at_ceiling:
            continue
        return [_card(facts, draft, change, indication, change.since, int(days), t)]
    return []


def _options(facts: PatientFacts, indication: Indication, t: Thresholds) -> list[str]:
    older = facts.age_years is not None and facts.age_years >= t.elderly_age_years
    tizanidine_ok = not any(
        m.in_class(DrugClass.STRONG_CYP1A2_INHIBITOR) or m.has("fluvoxamine") or m.has("ciprofloxacin")
        for m in combination_pool(facts)
    )
    low, high = ALBUMIN_G_PER_WEEK
    if indication is Indication.SPASTICITY:
        options = ["Severe generalized spasticity: refer for **intrathecal baclofen** (S10, A4)."]
        if tizanidine_ok:
            options.insert(0, "Spasticity of cerebral origin: add or switch to **tizanidine** (S4, S17).")
        return [*options, "Focal spasticity: **botulinum toxin** (S11, A3)."]
    if indication is Indication.CRAMPS_WITH_LIVER_DISEASE:
        return [
            "Correct potassium and magnesium (S16).",
            f"Consider **albumin {low}-{high} g/week** with the hepatology team (S9, EASL 2018).",
        ]
    if indication is Indication.CRAMPS:
        return ["Correct potassium and magnesium and look for the cramps' cause (S16)."]
    if indication is Indication.ACUTE_MUSCULOSKELETAL:
        contraindicated = facts.conditions_in(*_CYCLOBENZAPRINE_CONTRAINDICATIONS) or any(
            m.in_class(DrugClass.MAOI) for m in combination_pool(facts)
        )
        options = ["Baclofen is not indicated for musculoskeletal spasm: reassess and taper it."]
        if not contraindicated and not older:
            options.append(
                "Immediate-release **cyclobenzaprine** with rest and physical therapy, 2-3 weeks at most (S3, S17)"
                + (" — not the extended-release form in liver disease." if _liver(facts) else ".")
            )
        return options
    return ["Record what baclofen treats: the next step differs for spasticity, cramps and musculoskeletal spasm."]


def _liver(facts: PatientFacts) -> bool:
    return bool(facts.conditions_in(ConditionCategory.LIVER_DISEASE, ConditionCategory.CIRRHOSIS))


def _card(
    facts: PatientFacts,
    draft: MedicationFact,
    change: Change,
    indication: Indication,
    since: datetime,
    days: int,
    t: Thresholds,
) -> Card:
    dose = fmt_mg(change.previous_mg)
    lines = [
        f"Oral baclofen at **{dose}/day** since {fmt_date(since)} ({days} days), the ceiling for this indication.",
        "If spasm persists:",
        *(f"- {line}" for line in _options(facts, indication, t)),
        "",
        "Switching rather than adding avoids stacking sedation; stopping baclofen needs a taper.",
    ]
    return make_card(
        RULE,
        summary=f"Reassess baclofen after {days} days at {dose}/day: consider the next step",
        indicator="info",
        detail="\n".join(lines),
        statements=("S17", "A3", "A4"),
        overrides=_OVERRIDES,
        about=(draft,),
        sources=("FDA oral baclofen label",),
        label_of=(BACLOFEN,),
        drugs=(BACLOFEN,),
        basis=(indication, change.previous_mg, since),
    )


_REASONING = "\n\n".join(
    (
        (
            "The source's algorithm (S17) adds or switches to cyclobenzaprine or tizanidine after 2-3 weeks of "
            "baclofen. The labels keep spasticity and musculoskeletal spasm apart (baclofen is not indicated for "
            "spasm from rheumatic disorders; cyclobenzaprine is not effective in spasticity), so the options are "
            "given by indication and never include a drug the record contraindicates."
        ),
        (
            "Spasticity: tizanidine (not beside fluvoxamine or ciprofloxacin); intrathecal baclofen for severe "
            "generalized spasticity (S10, A4); botulinum toxin for focal spasticity (S11, A3). Cramps: correct "
            "potassium and magnesium and look for the cause; albumin with the hepatology team in cirrhosis (S9). "
            "Acute musculoskeletal spasm: reassess and taper baclofen; immediate-release cyclobenzaprine with "
            "rest and physical therapy, 2-3 weeks at most, only without a cardiac contraindication, "
            "hyperthyroidism or an MAOI, never the extended-release form in liver disease, and not at "
            "{elderly_age_years} or older (Beers 2023). Unknown: record what baclofen treats."
        ),
        (
            "Switching rather than adding avoids stacking CNS depressants; stopping baclofen needs a taper. "
            "Sources: FDA baclofen, cyclobenzaprine and tizanidine labels; AGS Beers Criteria 2023."
        ),
    )
)


RULE = Rule(
    topic="treatment-escalation",
    title="Next treatment step",
    statements=("S17", "A3", "A4", "S4", "S10", "S11"),
    hooks=ORDER_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "An order that renews or raises oral baclofen after {escalation_min_days_at_ceiling} to "
        "{escalation_max_days_at_ceiling} days at the "
        "indication's ceiling ({baclofen_plan_ceiling_mg_per_day} mg/day for cramps in liver disease, the "
        "{baclofen_label_max_mg_per_day} mg/day label maximum otherwise): the next step for that indication, never "
        "a drug the record contraindicates or one not indicated for it."
    ),
    overrides=_OVERRIDES,
    thresholds=(
        "baclofen_plan_ceiling_mg_per_day",
        "baclofen_label_max_mg_per_day",
        "escalation_min_days_at_ceiling",
        "escalation_max_days_at_ceiling",
        "elderly_age_years",
    ),
)
