"""Oral baclofen titration, by what the order treats (guideline S1, A1, S19; FDA oral baclofen label).

What it checks. Each oral baclofen draft in scope, judged by what it is to the patient's orders
(`facts.continuation_of`): a start or restart against the start dose, an increase against the step
size and the interval since the last change, every order against the label maximum
(`baclofen_label_max_mg_per_day`, critical above, for any indication and any age). A renewal or a
reduction is never a titration warning (the withdrawal rule judges reductions) and never gets a dose
suggestion: cutting a renewal is an abrupt withdrawal.

Why, by indication (`facts.indication_of`). The source's plan (10 mg/day, +10 mg/day weekly, warning
above 30 mg/day) is the muscle-cramp regimen of cirrhosis (EASL 2018), so it applies to
CRAMPS_WITH_LIVER_DISEASE only. Spasticity, an unknown indication and cramps without liver disease
are judged by the label, the floor: start 5 mg three times a day, +5 mg per dose every 3 days,
30-80 mg/day quiet. Acute musculoskeletal spasm gets the label's "not indicated" as information.

The numbers are the order's dose judgment (`facts.judgment`, issue 19): at eGFR below
`baclofen_critical_egfr` or on dialysis the label leaves no oral dose, so this rule says nothing and
offers nothing (renal-dosing says why and what to consider); no card may offer the normal-kidney start.

When it stays quiet: a compliant order, a renewal, a reduction (below the label maximum), a stop,
intrathecal baclofen, no labelled dose at this kidney function, a child below the label age
(pediatric-caution speaks; only the label maximum still fires). An older adult's start gets one line
in the dose card ("start low"), and another when no renal function is on record (renal-dosing judges
eGFR); neither makes a card of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cds_service.cards._baclofen import (
    BACLOFEN,
    Change,
    Plan,
    Regimen,
    change_of,
    doses_per_day,
    is_oral_baclofen,
    label_plan_text,
    plan_of,
    planned_start,
    regimen_after,
    source_plan_text,
)
from cds_service.cards.base import (
    ALREADY_TOLERATING,
    BENEFIT_OUTWEIGHS_RISK,
    SPECIALIST_DIRECTED,
    Rule,
    make_card,
    suggestion,
)
from cds_service.cards.scope import renal_function_known
from cds_service.cards.text import describe_dose_short, fmt_date, fmt_mg, fmt_number, main_name, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ORDER_HOOKS, Action, Card, Indicator, Suggestion
from cds_service.facts.judgment import RenalBand, judgment_of
from cds_service.facts.model import Indication, MedicationFact, OrderRelation, PatientFacts, above
from cds_service.facts.orders import with_daily_dose

_OVERRIDES = (SPECIALIST_DIRECTED, ALREADY_TOLERATING, BENEFIT_OUTWEIGHS_RISK)
_RANK = {"info": 0, "warning": 1, "critical": 2}
_NOT_INDICATED = (
    "Baclofen label: not indicated for spasm from rheumatic disorders; for acute musculoskeletal spasm "
    "the summary uses cyclobenzaprine (S3)."
)


@dataclass
class _Findings:
    indicator: Indicator = "info"
    phrases: list[str] = field(default_factory=list)
    ranks: list[int] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)
    too_soon: bool = False

    def add(self, indicator: Indicator, phrase: str, sentence: str) -> None:
        if _RANK[indicator] > _RANK[self.indicator]:
            self.indicator = indicator
        if phrase:
            self.phrases.append(phrase)
            self.ranks.append(_RANK[indicator])
        self.sentences.append(sentence)


def is_older(facts: PatientFacts, t: Thresholds) -> bool:
    return facts.age_years is not None and facts.age_years >= t.elderly_age_years


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    drafts = [m for m in facts.drafts_in_scope if is_oral_baclofen(m) and not m.is_stop]
    if not drafts:
        return []
    after = regimen_after(facts)
    cards = [_assess(facts, draft, after, t) for draft in drafts]
    return [c for c in cards if c is not None]


def _assess(facts: PatientFacts, draft: MedicationFact, after: Regimen, t: Thresholds) -> Card | None:
    judgment = judgment_of(facts, draft, t)
    if judgment.kidney is not None and judgment.kidney.band is RenalBand.SEVERE:
        return None  # no labelled dose at this kidney: renal-dosing says why and what to consider (issue 19)
    indication = judgment.indication
    plan = plan_of(judgment, t)
    change = change_of(facts, draft)
    child = judgment.pediatric
    if draft.daily_dose.mg_per_day is None:
        return None if change.relation is OrderRelation.RENEWAL else _unknown_dose_card(draft, plan, t)
    total = after.known_total
    findings = _Findings()
    starts = change.is_start
    judged = not child  # the adult start, step and ceiling do not apply below the label age

    if judged and starts and above(total, plan.start_max):
        findings.add(
            "warning",
            f"Start baclofen at {fmt_mg(plan.start_max)}/day or less",
            f"Starts at **{fmt_mg(total)}/day**; {plan.name} starts at {fmt_mg(plan.start_max)}/day.",
        )
    if judged and change.relation is OrderRelation.INCREASE and change.step is not None:
        if above(change.step, plan.step_max):
            findings.add(
                "warning",
                f"Raise baclofen by {fmt_mg(plan.step_max)}/day at most",
                f"Raises **{fmt_number(change.previous_mg or 0)} → {fmt_number(change.new_mg or 0)} mg/day**; "
                f"{plan.name} steps by {fmt_mg(plan.step_max)}/day.",
            )
        if change.since is not None:
            _check_interval(findings, planned_start(facts, draft) - change.since, change.since, plan, t)
    if (
        judged
        and plan.warn_above is not None
        and above(total, plan.warn_above)
        and change.relation in (OrderRelation.START, OrderRelation.RESTART, OrderRelation.INCREASE)
    ):
        findings.add(
            "warning",
            f"Keep baclofen at {fmt_mg(plan.warn_above)}/day or less for cramps",
            f"**{fmt_mg(total)}/day** is above the cramp plan's {fmt_mg(plan.warn_above)}/day ceiling (EASL 2018).",
        )
    if above(total, plan.critical_above):
        findings.add(
            "critical",
            f"Lower baclofen to the label maximum, {fmt_mg(plan.critical_above)}/day",
            f"**{fmt_mg(total)}/day exceeds the FDA label maximum of {fmt_mg(plan.critical_above)}/day.**",
        )
    if (
        indication is Indication.ACUTE_MUSCULOSKELETAL
        and change.relation is not OrderRelation.RENEWAL
        and change.relation is not OrderRelation.DECREASE
    ):
        findings.add("info", "Reconsider baclofen: not indicated for musculoskeletal spasm", _NOT_INDICATED)
    if judged and starts and is_older(facts, t):
        findings.add(
            "info",
            "",
            f"At {facts.age_years}, start low and titrate slowly (label).",
        )
        if _no_renal_data(facts):  # a line in the dose card, not a card of its own (issue 11)
            findings.add(
                "info",
                "",
                f"No eGFR on record: check renal function; baclofen is renally cleared (Beers 2023: avoid at "
                f"eGFR < {fmt_number(t.beers_baclofen_min_egfr)}).",
            )
    if not findings.phrases:
        return None
    return _card(facts, draft, change, plan, indication, total, findings, t)


def _no_renal_data(facts: PatientFacts) -> bool:
    return not renal_function_known(facts)


def _check_interval(findings: _Findings, interval: timedelta, since: datetime, plan: Plan, t: Thresholds) -> None:
    if interval >= timedelta(days=plan.interval_days):
        return
    findings.too_soon = True
    hours = interval.total_seconds() / 3600
    minimum = fmt_number(t.baclofen_min_hours_between_increases)
    due = fmt_date(since + timedelta(days=plan.interval_days))
    if hours < t.baclofen_min_hours_between_increases:
        findings.add(
            "warning",
            f"Wait until {due} to raise baclofen (<{minimum} h since the last change)",
            f"**{fmt_number(hours, 0)} h** since the last change ({fmt_date(since)}): less than {minimum} hours (S19).",
        )
    else:
        findings.add(
            "warning",
            f"Wait until {due} to raise baclofen ({plan.interval_days}-day steps)",
            f"**{fmt_number(hours / 24, 1)} days** since the last change ({fmt_date(since)}); {plan.name} steps "
            f"every {plan.interval_days} days.",
        )


def _target(change: Change, findings: _Findings, plan: Plan, total: float) -> float | None:
    """The compliant total to suggest, or None: never a reduction below what the patient takes now."""
    if change.is_start:
        return plan.start_max if above(total, plan.start_max) else None
    if change.relation is not OrderRelation.INCREASE or change.previous_mg is None:
        return None
    previous = change.previous_mg
    cap = plan.warn_above if plan.warn_above is not None else plan.critical_above
    if findings.too_soon or not above(cap, previous):
        return previous
    return min(previous + plan.step_max, cap, total)


def _card(
    facts: PatientFacts,
    draft: MedicationFact,
    change: Change,
    plan: Plan,
    indication: Indication,
    total: float,
    findings: _Findings,
    t: Thresholds,
) -> Card:
    lines = [_history_line(change, draft, total), "", " ".join(findings.sentences), ""]
    if indication is Indication.CRAMPS_WITH_LIVER_DISEASE:
        lines.append(f"Dose by the {source_plan_text(t)}.")
    elif indication is Indication.CRAMPS:
        lines.append(f"Dose by the {label_plan_text(t)} (the cramp plan is for cirrhosis, not on record).")
    else:
        lines.append(f"Dose by the {label_plan_text(t)}.")
    suggestions: list[Suggestion] = []
    target = _target(change, findings, plan, total)
    if target is not None:
        others = total - (draft.daily_dose.mg_per_day or 0.0)
        suggestions.append(_dose_suggestion(draft, target, others))
    summary = _summary(change, total, findings)
    return make_card(
        RULE,
        summary=summary,
        indicator=findings.indicator,
        detail="\n".join(lines),
        statements=plan.statements if plan.is_source_plan else ("S1", "S19"),
        suggestions=suggestions,
        overrides=_OVERRIDES,
        about=(draft,),
        sources=plan.sources,
        label_of=(BACLOFEN,),
        drugs=(BACLOFEN,),
        basis=(indication, change.relation, total, change.previous_mg, change.since, tuple(findings.phrases)),
    )


def _summary(change: Change, total: float, findings: _Findings) -> str:
    """The most serious action first, then the numbers: 'Lower baclofen to ... (70 → 90 mg/day)'."""
    what = f"{fmt_mg(total)}/day ordered"
    if change.relation is OrderRelation.INCREASE and change.previous_mg is not None:
        what = f"{fmt_number(change.previous_mg)} → {fmt_number(total)} mg/day"
    elif change.is_start:
        what = f"start {fmt_mg(total)}/day"
    ranked = sorted(zip(findings.ranks, findings.phrases, strict=True), key=lambda x: -x[0])
    return f"{ranked[0][1]} ({what})"


def _history_line(change: Change, draft: MedicationFact, total: float) -> str:
    now = f"Order: {describe_dose_short(draft, name_limit=40, explanation_limit=40)}"
    if abs(total - (draft.daily_dose.mg_per_day or 0.0)) > 1e-6:
        now += f"; **{fmt_mg(total)}/day** with the other oral baclofen orders"
    if change.relation is OrderRelation.RESTART:
        ended = fmt_date(change.previous_ended) if change.previous_ended else "an unrecorded date"
        previous = fmt_mg(change.previous_mg) + "/day" if change.previous_mg is not None else "an unknown dose"
        return f"{now}. A restart: the last course, {previous}, ended {ended}."
    if change.is_start:
        return f"{now}. No oral baclofen on record before."
    previous = fmt_mg(change.previous_mg) + "/day" if change.previous_mg is not None else "an unknown dose"
    since = f" since {fmt_date(change.since)}" if change.since else ""
    return f"{now}. Before: {previous}{since}."


def _dose_suggestion(draft: MedicationFact, target_total: float, others: float) -> Suggestion:
    """Rewrite the draft so the total becomes `target_total`, or remove it if others already reach it."""
    name = main_name(draft)
    draft_dose = target_total - others
    if not above(draft_dose, 0.0):
        label = f"Remove this {name} order (other orders already give {fmt_mg(others)}/day)"
        return suggestion(label, Action(type="delete", description=label, resourceId=[draft.reference]))
    count = doses_per_day(draft_dose)
    label = f"Change to {fmt_mg(draft_dose / count)} {count}× daily ({fmt_mg(draft_dose)}/day)"
    resource = with_daily_dose(draft, draft_dose, count)
    return suggestion(label, Action(type="update", description=f"{label} on the draft {name} order", resource=resource))


def _unknown_dose_card(draft: MedicationFact, plan: Plan, t: Thresholds) -> Card:
    reason = draft.daily_dose.unknown_reason or "the dose could not be computed"
    return make_card(
        RULE,
        summary="Check the baclofen dose by hand: its daily dose could not be computed",
        indicator="info",
        detail=(
            f"The daily dose of **{quote(draft.display)}** could not be computed "
            f"({quote(reason)}): the start, step and {fmt_mg(t.baclofen_label_max_mg_per_day)}/day label "
            "maximum were **not checked**."
        ),
        statements=("S1",),
        about=(draft,),
        sources=plan.sources,
        label_of=(BACLOFEN,),
        drugs=(BACLOFEN,),
        basis=("dose unknown", reason),
    )


_REASONING = "\n\n".join(
    (
        (
            "How the dose is worked out. The oral baclofen an order leaves the patient on is the sum of the daily"
            " doses of every oral baclofen order once the drafts are signed (a morning and an evening order add "
            "up). An order's daily dose is its dose per intake times its intakes per day; an as-needed order "
            "counts its maximum, a dose range its high end; a dose in tablets uses the tablet strength. A dose "
            "that cannot be computed is never guessed: the card says so, and the start, step and maximum are not "
            "checked. Intrathecal baclofen is dosed in micrograms through a pump and is never added to the oral "
            "total."
        ),
        (
            "What the order is. A draft that continues the current (or just-ended) oral baclofen is judged "
            "against that dose: a renewal or a reduction is never a titration warning and never gets a dose "
            "suggestion (cutting a renewal is an abrupt withdrawal: baclofen-withdrawal); an increase is judged "
            "by its step and by the time since the last change; a start, or a restart after a long gap, by the "
            "start dose, and a restart names the previous dose and when it ended."
        ),
        (
            "Which plan, by what the order treats. The source's plan (start {baclofen_start_max_mg_per_day} "
            "mg/day, +{baclofen_step_max_mg_per_day} mg/day every {baclofen_step_interval_days} days, up to "
            "{baclofen_plan_ceiling_mg_per_day} mg/day) is the muscle-cramp regimen used in cirrhosis (EASL "
            "2018), so it applies to cramps in liver disease only, where an order above its ceiling warns. "
            "Spasticity, cramps without liver disease and an unknown indication are dosed by the FDA oral "
            "baclofen label, the floor: 5 mg three times a day to start ({baclofen_label_start_max_mg_per_day} "
            "mg/day), raised by 5 mg per dose ({baclofen_label_step_max_mg_per_day} mg/day) every "
            "{baclofen_label_step_interval_days} days; 40 to {baclofen_label_max_mg_per_day} mg/day is the "
            "label's usual range for spasticity, not a failure."
        ),
        (
            "Always. Less than {baclofen_min_hours_between_increases} hours since the last change warns: too soon"
            " to judge the last step (S19; the source's 'long half-life' is wrong, baclofen's half-life is 2.5 to"
            " 4 hours, but the label's steps agree with the interval). Above the label maximum of "
            "{baclofen_label_max_mg_per_day} mg/day the card is critical, for every indication and age. For acute"
            " musculoskeletal spasm the label says baclofen is not indicated for spasm from rheumatic disorders, "
            "and the summary's agents are cyclobenzaprine and the antispasmodics (S3): information."
        ),
        (
            "Age. Below the label age of the tablets only the maximum is checked (pediatric-caution speaks). At "
            "{elderly_age_years} or older a start is told to start low and titrate slowly and, when no eGFR or "
            "CKD stage is on record, to check renal function: baclofen is cleared by the kidney (Beers 2023: "
            "avoid at eGFR < {beers_baclofen_min_egfr})."
        ),
        (
            "The suggestion. A start above the plan's start: the start dose; too big a step: one step up from the"
            " current dose; too soon: the current dose until the step is due. The daily dose is split into equal "
            "doses of whole or half tablets (three a day when possible), a tablet strength that gives them is "
            "chosen, and the dispense request follows: the days' supply is kept, the quantity recomputed."
        ),
        (
            "Sources: FDA oral baclofen tablet label (Dosage and Administration; Warnings); EASL 2018 clinical "
            "practice guideline for decompensated cirrhosis (muscle cramps); AGS Beers Criteria 2023."
        ),
    )
)


RULE = Rule(
    topic="baclofen-titration",
    title="Baclofen titration",
    statements=("S1", "S2", "A1", "S19"),
    hooks=ORDER_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Oral baclofen orders by what they treat. Cramps in liver disease: the source plan (start "
        "{baclofen_start_max_mg_per_day} mg/day, +{baclofen_step_max_mg_per_day} mg/day every "
        "{baclofen_step_interval_days} days, warning above {baclofen_plan_ceiling_mg_per_day} mg/day; EASL 2018). "
        "Spasticity, cramps without liver disease or an unknown indication: the FDA label (start "
        "{baclofen_label_start_max_mg_per_day} mg/day, +{baclofen_label_step_max_mg_per_day} mg/day every "
        "{baclofen_label_step_interval_days} days, less than {baclofen_min_hours_between_increases} h between "
        "increases always warns). Critical above the label maximum of {baclofen_label_max_mg_per_day} mg/day for "
        "every indication and age. Renewals and reductions are never titration warnings and never get a dose "
        "suggestion; a child below the label age gets only the maximum check. At {elderly_age_years} or older a "
        "start is told to start low, and to check renal function when none is on record."
    ),
    overrides=_OVERRIDES,
    thresholds=(
        "baclofen_start_max_mg_per_day",
        "baclofen_step_max_mg_per_day",
        "baclofen_step_interval_days",
        "baclofen_min_hours_between_increases",
        "baclofen_plan_ceiling_mg_per_day",
        "baclofen_label_max_mg_per_day",
        "baclofen_label_start_max_mg_per_day",
        "baclofen_label_step_max_mg_per_day",
        "baclofen_label_step_interval_days",
        "elderly_age_years",
        "beers_baclofen_min_egfr",
    ),
)
