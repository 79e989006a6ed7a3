"""Oral baclofen titration against the source plan and the FDA label maximum.

Guideline S1/A1 (the plan: a start dose, weekly steps, a ceiling), S2 (gradual titration), S19 (a
minimum interval between increases); the label maximum is never said less loudly than the plan's
ceiling. The numbers are `Thresholds.baclofen_*`.

Order hooks only: each oral baclofen draft in scope is judged by the daily dose that would be active
once it is signed (the draft plus any other active oral baclofen order it does not replace) against
the dose active now. Warnings: a start above the plan's start dose, a step above the plan's step, an
increase sooner than the step interval after the last change (said explicitly below the S19
minimum), a total above the plan's ceiling; critical above the label maximum. The warning's
suggestion rewrites the draft to the compliant dose (keep the current dose when the increase is too
early). A reduction or a renewal above the ceiling gets no dose suggestion: cutting by more than one
step is what the withdrawal rule warns against. A compliant order gets one info card with the plan
and the date the next step is due. Intrathecal baclofen is not titrated here (withdrawal rule only).
A dose that cannot be computed is reported as not checked, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cds_service.cards._baclofen import (
    Regimen,
    at_or_above_ceiling,
    current_oral,
    describe_dose,
    doses_per_day,
    is_oral_baclofen,
    last_change_at,
    next_step_due,
    plan_position,
    plan_summary,
    plan_text,
    planned_start,
    would_be_oral,
)
from cds_service.cards.base import (
    ALREADY_TOLERATING,
    BENEFIT_OUTWEIGHS_RISK,
    SPECIALIST_DIRECTED,
    Rule,
    make_card,
    suggestion,
)
from cds_service.cards.text import describe_condition, escape_md, fmt_date, fmt_mg, fmt_number, main_name
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ORDER_HOOKS, Action, Card, Indicator, Suggestion
from cds_service.facts.model import ConditionCategory, MedicationFact, PatientFacts, above, same_dose
from cds_service.facts.orders import with_daily_dose

_SPASTICITY = (ConditionCategory.CEREBRAL_SPASTICITY, ConditionCategory.SPINAL_SPASTICITY)
_OVERRIDES = (SPECIALIST_DIRECTED, ALREADY_TOLERATING, BENEFIT_OUTWEIGHS_RISK)


@dataclass
class _Findings:
    """What is wrong with one draft, as short summary phrases and full detail sentences."""

    indicator: Indicator = "info"
    phrases: list[str] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)
    interval_checked: bool = False
    too_soon: bool = False

    def add(self, indicator: Indicator, phrase: str, sentence: str) -> None:
        order = {"info": 0, "warning": 1, "critical": 2}
        if order[indicator] > order[self.indicator]:
            self.indicator = indicator
        self.phrases.append(phrase)
        self.sentences.append(sentence)


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    drafts = [m for m in facts.drafts_in_scope if is_oral_baclofen(m) and not m.is_stop]
    if not drafts:
        return []
    current = current_oral(facts)
    after = would_be_oral(facts)
    return [_assess(facts, draft, current, after, t) for draft in drafts]


def _assess(facts: PatientFacts, draft: MedicationFact, current: Regimen, after: Regimen, t: Thresholds) -> Card:
    if draft.daily_dose.mg_per_day is None:
        return _unknown_dose_card(draft, t)
    total = after.known_total
    others = total - draft.daily_dose.mg_per_day
    changed_at = last_change_at(facts, current)
    starts_at = planned_start(facts, draft)
    findings = _Findings()
    is_start = current.empty
    increase = not is_start and current.total is not None and above(total, current.total)
    start_max = t.baclofen_start_max_mg_per_day
    step_max = t.baclofen_step_max_mg_per_day
    ceiling = t.baclofen_plan_ceiling_mg_per_day
    label_max = t.baclofen_label_max_mg_per_day

    if is_start and above(total, start_max):
        findings.add(
            "warning",
            f"start above {fmt_mg(start_max)}/day",
            f"Baclofen is not active now, so this order **starts** baclofen at **{fmt_mg(total)}/day**; "
            f"the plan starts at {fmt_mg(start_max)}/day.",
        )
    if increase and current.total is not None:
        step = total - current.total
        if above(step, step_max):
            findings.add(
                "warning",
                f"step +{fmt_number(step)} exceeds +{fmt_number(step_max)} mg/day",
                f"This is an increase of **+{fmt_mg(step)}/day** in one step "
                f"({fmt_mg(current.total)}/day → {fmt_mg(total)}/day); the plan raises the dose by "
                f"at most {fmt_mg(step_max)}/day at a time.",
            )
        if changed_at is not None:
            findings.interval_checked = True
            _check_interval(findings, starts_at - changed_at, changed_at, t)
    if above(total, label_max):
        findings.add(
            "critical",
            f"above label max {fmt_mg(label_max)}/day",
            f"**{fmt_mg(total)}/day exceeds the FDA label maximum of {fmt_mg(label_max)}/day** (and the "
            f"source plan's {fmt_mg(ceiling)}/day ceiling).",
        )
    elif above(total, ceiling):
        findings.add(
            "warning",
            f"above plan ceiling {fmt_mg(ceiling)}/day",
            f"**{fmt_mg(total)}/day is above the source plan's ceiling of {fmt_mg(ceiling)}/day.** The FDA "
            f"label allows up to {fmt_mg(label_max)}/day.",
        )

    lines = _computation_lines(current, after, changed_at)
    if not findings.phrases:
        return _compliant_card(current, total, changed_at, starts_at, lines, t)

    change = f"start {fmt_mg(total)}/day" if is_start else _change_text(current, total)
    summary = f"Baclofen {change}: " + "; ".join(findings.phrases)
    detail_parts = [" ".join(findings.sentences), "", *lines]
    target = _target_total(current, total, findings, increase, t)
    suggestions: list[Suggestion] = []
    if target is not None:
        detail_parts += ["", f"Suggested: **{fmt_mg(target)}/day** in total."]
        suggestions.append(_dose_suggestion(draft, target, others))
    elif not increase and not is_start:
        detail_parts += [
            "",
            f"If reducing, lower the dose by no more than {fmt_mg(t.baclofen_taper_step_max_mg_per_day)}/day per "
            "step: abrupt reduction can cause withdrawal (seizures, hallucinations).",
        ]
    spasticity = facts.conditions_in(*_SPASTICITY)
    if spasticity and above(total, ceiling):
        detail_parts += [
            "",
            f"This patient has {describe_condition(spasticity[0])}: for spasticity the label's usual "
            f"effective dose is 40-{fmt_number(label_max)} mg/day; the {fmt_mg(ceiling)}/day ceiling is the "
            "source summary's plan, which comes from muscle-cramp care in cirrhosis.",
        ]
    detail_parts += ["", plan_summary(t)]
    statements = ("S1", "S19") if findings.interval_checked else ("S1",)
    return make_card(
        RULE,
        summary=summary,
        indicator=findings.indicator,
        detail="\n".join(detail_parts),
        statements=statements,
        suggestions=suggestions,
        overrides=_OVERRIDES,
    )


def _check_interval(findings: _Findings, interval: timedelta, changed_at: datetime, t: Thresholds) -> None:
    hours = interval.total_seconds() / 3600
    if interval >= timedelta(days=t.baclofen_step_interval_days):
        return
    findings.too_soon = True
    days_text = f"{fmt_number(hours / 24, 1)} days ({fmt_number(hours, 0)} h)"
    minimum = fmt_number(t.baclofen_min_hours_between_increases)
    if hours < t.baclofen_min_hours_between_increases:
        findings.add(
            "warning",
            f"increase {fmt_number(hours, 0)} h after last change (<{minimum} h)",
            f"This increase comes only **{days_text}** after the last dose change on "
            f"{fmt_date(changed_at)}: **less than {minimum} hours**, too soon to judge the full effect of the "
            f"last step (guideline S19; label steps every 3 days). The plan steps every "
            f"{t.baclofen_step_interval_days} days.",
        )
    else:
        findings.add(
            "warning",
            f"increase {fmt_number(hours / 24, 1)} days after last change (<{t.baclofen_step_interval_days} days)",
            f"This increase comes **{days_text}** after the last dose change on {fmt_date(changed_at)}; "
            f"the plan steps every {t.baclofen_step_interval_days} days (next step due "
            f"{fmt_date(changed_at + timedelta(days=t.baclofen_step_interval_days))}).",
        )


def _target_total(current: Regimen, total: float, findings: _Findings, increase: bool, t: Thresholds) -> float | None:
    """The compliant daily total for the suggestion, or None when no dose change should be offered."""
    if current.empty:
        return t.baclofen_start_max_mg_per_day
    if not increase or current.total is None:
        return None
    now_total = current.total
    if findings.too_soon or at_or_above_ceiling(now_total, t):
        return now_total
    return min(now_total + t.baclofen_step_max_mg_per_day, t.baclofen_plan_ceiling_mg_per_day, total)


def _dose_suggestion(draft: MedicationFact, target_total: float, others: float) -> Suggestion:
    """Rewrite the draft so the total becomes `target_total`, or remove it if others already reach it."""
    name = main_name(draft)
    draft_dose = target_total - others
    if not above(draft_dose, 0.0):
        label = f"Remove this {name} order (other active orders already give {fmt_mg(others)}/day)"
        return suggestion(label, Action(type="delete", description=label, resourceId=[draft.reference]))
    count = doses_per_day(draft_dose)
    per_dose = fmt_mg(draft_dose / count)
    label = f"Change to {fmt_mg(draft_dose)}/day ({per_dose} {count}× daily)"
    resource = with_daily_dose(draft, draft_dose, count)
    return suggestion(label, Action(type="update", description=f"{label} on the draft {name} order", resource=resource))


def _change_text(current: Regimen, total: float) -> str:
    if current.total is None:
        return f"{fmt_mg(total)}/day"
    if same_dose(current.total, total):
        return f"{fmt_mg(total)}/day (unchanged)"
    return f"{fmt_number(current.total)} → {fmt_number(total)} mg/day"


def _computation_lines(current: Regimen, after: Regimen, changed_at: datetime | None) -> list[str]:
    lines = ["**How the daily dose was computed**", "", "Once signed:", after.describe()]
    replaced = [m for m in current.orders if m not in after.orders]
    if replaced and after.complete and current.complete:
        lines.append(
            f"- Assumed to replace the active order(s) below; if they stay active too, the total is "
            f"{fmt_mg(after.known_total + current.known_total)}/day."
        )
    if after.unknown:
        lines.append(
            f"- Some doses are unknown: the total above counts only the known {fmt_mg(after.known_total)}/day."
        )
    if current.empty:
        lines += ["", "Before this order: no active oral baclofen."]
    else:
        since = f", current dose since {fmt_date(changed_at)}" if changed_at else ""
        lines += ["", f"Before this order{since}:", current.describe()]
        if current.unknown:
            lines.append("- The step size could not be checked: an existing order's dose is unknown.")
        elif changed_at is None:
            lines.append("- The interval since the last change could not be checked: no start date recorded.")
    return lines


def _compliant_card(
    current: Regimen, total: float, changed_at: datetime | None, starts_at: datetime, lines: list[str], t: Thresholds
) -> Card:
    is_new_step = current.empty or (current.total is not None and above(total, current.total))
    since = starts_at if is_new_step else changed_at
    due = next_step_due(since, total, t)
    position = plan_position(total, t)
    change = "start" if current.empty else _change_text(current, total)
    step = fmt_number(t.baclofen_step_max_mg_per_day)
    if at_or_above_ceiling(total, t):
        next_text = (
            f"at the plan's {fmt_mg(t.baclofen_plan_ceiling_mg_per_day)}/day ceiling; no further step in the plan"
        )
    elif due is not None:
        next_text = f"next step (+{step} mg/day) due {fmt_date(due)} if needed"
    else:
        next_text = "next step date unknown (no start date recorded)"
    if current.total is not None and above(current.total, total):
        cut = current.total - total
        taper = fmt_mg(t.baclofen_taper_step_max_mg_per_day)
        next_text = f"reduced by {fmt_mg(cut)}/day; taper by at most {taper}/day per step"
    summary = f"Baclofen {fmt_mg(total)}/day ({change}, {position} of {plan_text(t)}): {next_text}"
    detail = "\n".join(
        [
            f"This order fits the titration plan: **{fmt_mg(total)}/day**, {position}; {next_text}.",
            "",
            *lines,
            "",
            plan_summary(t),
            "",
            "Monitor for sedation, dizziness and weakness; combine with physical therapy.",
        ]
    )
    return make_card(RULE, summary=summary, indicator="info", detail=detail, statements=("S1", "S19"))


def _unknown_dose_card(draft: MedicationFact, t: Thresholds) -> Card:
    reason = draft.daily_dose.unknown_reason or "the dose could not be computed"
    return make_card(
        RULE,
        summary="Baclofen order: daily dose could not be checked against the titration plan",
        indicator="info",
        detail=(
            f"The daily dose of {describe_dose(draft)} could not be computed ({escape_md(reason)}), so "
            f"the start dose, the step size and the {fmt_mg(t.baclofen_plan_ceiling_mg_per_day)}/day plan ceiling / "
            f"{fmt_mg(t.baclofen_label_max_mg_per_day)}/day label maximum were **not checked**. Check the dose by "
            f"hand.\n\n{plan_summary(t)}"
        ),
        statements=("S1",),
    )


RULE = Rule(
    topic="baclofen-titration",
    title="Baclofen titration",
    statements=("S1", "S2", "A1", "S19"),
    hooks=ORDER_HOOKS,
    evaluate=evaluate,
    description=(
        "Oral baclofen orders against the source plan (start {baclofen_start_max_mg_per_day} mg/day, "
        "+{baclofen_step_max_mg_per_day} mg/day every {baclofen_step_interval_days} days, at least "
        "{baclofen_min_hours_between_increases} h between increases, up to {baclofen_plan_ceiling_mg_per_day} mg/day) "
        "and the FDA label maximum of {baclofen_label_max_mg_per_day} mg/day (critical above). Suggests the "
        "compliant dose on the draft; a compliant order gets the plan and the next due date."
    ),
    overrides=_OVERRIDES,
    thresholds=(
        "baclofen_start_max_mg_per_day",
        "baclofen_step_max_mg_per_day",
        "baclofen_step_interval_days",
        "baclofen_min_hours_between_increases",
        "baclofen_plan_ceiling_mg_per_day",
        "baclofen_label_max_mg_per_day",
        "baclofen_taper_step_max_mg_per_day",
    ),
)
