"""Oral baclofen titration: start at 10 mg/day, +10 mg/day a week, ≥ 72 h apart, up to 30 mg/day.

Guideline S1/A1 (the plan), S2 (10-30 mg/day, gradual titration), S19 (≥ 72 h between
increases); the FDA label's 80 mg/day maximum is never said less loudly than the plan's 30.

Order hooks only: each oral baclofen draft in scope is judged by the daily dose that would be
active once it is signed (the draft plus any other active oral baclofen order it does not
replace) against the dose active now. Warnings: a start above 10 mg/day, a step above
+10 mg/day, an increase less than 7 days after the last change (said explicitly below 72 h), a
total above 30 mg/day; critical above 80 mg/day. The warning's suggestion rewrites the draft to
the compliant dose (keep the current dose when the increase is too early). A reduction or a
renewal above 30 mg/day gets no dose suggestion: cutting by more than one step is what the
withdrawal rule warns against. A compliant order gets one info card with the plan and the date
the next step is due. Intrathecal baclofen is not titrated here (withdrawal rule only). A dose
that cannot be computed is reported as not checked, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cds_service.cards._baclofen import (
    PLAN_TEXT,
    Regimen,
    current_oral,
    describe_dose,
    doses_per_day,
    fmt_day,
    is_oral_baclofen,
    is_stopping,
    last_change_at,
    next_step_due,
    plan_position,
    planned_start,
    would_be_oral,
)
from cds_service.cards._drug_scope import describe_condition, is_current_condition, main_name
from cds_service.cards.base import (
    ALREADY_TOLERATING,
    BENEFIT_OUTWEIGHS_RISK,
    SPECIALIST_DIRECTED,
    Rule,
    escape_md,
    fmt_mg,
    fmt_number,
    make_card,
    suggestion,
)
from cds_service.cards.thresholds import (
    BACLOFEN_LABEL_MAX_MG_PER_DAY,
    BACLOFEN_MIN_HOURS_BETWEEN_INCREASES,
    BACLOFEN_PLAN_CEILING_MG_PER_DAY,
    BACLOFEN_START_MAX_MG_PER_DAY,
    BACLOFEN_STEP_INTERVAL_DAYS,
    BACLOFEN_STEP_MAX_MG_PER_DAY,
)
from cds_service.cdshooks import ORDER_HOOKS, Action, Card, Indicator, Suggestion
from cds_service.facts.model import ConditionCategory, MedicationFact, PatientFacts
from cds_service.facts.orders import with_daily_dose

_SPASTICITY = (ConditionCategory.CEREBRAL_SPASTICITY, ConditionCategory.SPINAL_SPASTICITY)
_EPSILON = 1e-9


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


def evaluate(facts: PatientFacts) -> list[Card]:
    drafts = [m for m in facts.draft_orders if is_oral_baclofen(m) and not is_stopping(m)]
    if not drafts:
        return []
    current = current_oral(facts)
    after = would_be_oral(facts)
    return [_assess(facts, draft, current, after) for draft in drafts]


def _assess(facts: PatientFacts, draft: MedicationFact, current: Regimen, after: Regimen) -> Card:
    if draft.daily_dose.mg_per_day is None:
        return _unknown_dose_card(draft)
    total = after.known_total
    others = total - draft.daily_dose.mg_per_day
    changed_at = last_change_at(facts, current)
    starts_at = planned_start(facts, draft)
    findings = _Findings()
    is_start = current.empty
    increase = not is_start and current.total is not None and total > current.total + _EPSILON

    if is_start and total > BACLOFEN_START_MAX_MG_PER_DAY + _EPSILON:
        findings.add(
            "warning",
            f"start above {fmt_mg(BACLOFEN_START_MAX_MG_PER_DAY)}/day",
            f"Baclofen is not active now, so this order **starts** baclofen at **{fmt_mg(total)}/day**; "
            f"the plan starts at {fmt_mg(BACLOFEN_START_MAX_MG_PER_DAY)}/day.",
        )
    if increase and current.total is not None:
        step = total - current.total
        if step > BACLOFEN_STEP_MAX_MG_PER_DAY + _EPSILON:
            findings.add(
                "warning",
                f"step +{fmt_number(step)} exceeds +{fmt_number(BACLOFEN_STEP_MAX_MG_PER_DAY)} mg/day",
                f"This is an increase of **+{fmt_mg(step)}/day** in one step "
                f"({fmt_mg(current.total)}/day → {fmt_mg(total)}/day); the plan raises the dose by "
                f"at most {fmt_mg(BACLOFEN_STEP_MAX_MG_PER_DAY)}/day at a time.",
            )
        if changed_at is not None:
            findings.interval_checked = True
            _check_interval(findings, starts_at - changed_at, changed_at)
    if total > BACLOFEN_LABEL_MAX_MG_PER_DAY + _EPSILON:
        findings.add(
            "critical",
            f"above label max {fmt_mg(BACLOFEN_LABEL_MAX_MG_PER_DAY)}/day",
            f"**{fmt_mg(total)}/day exceeds the FDA label maximum of "
            f"{fmt_mg(BACLOFEN_LABEL_MAX_MG_PER_DAY)}/day** (and the source plan's "
            f"{fmt_mg(BACLOFEN_PLAN_CEILING_MG_PER_DAY)}/day ceiling).",
        )
    elif total > BACLOFEN_PLAN_CEILING_MG_PER_DAY + _EPSILON:
        findings.add(
            "warning",
            f"above plan ceiling {fmt_mg(BACLOFEN_PLAN_CEILING_MG_PER_DAY)}/day",
            f"**{fmt_mg(total)}/day is above the source plan's ceiling of "
            f"{fmt_mg(BACLOFEN_PLAN_CEILING_MG_PER_DAY)}/day.** The FDA label allows up to "
            f"{fmt_mg(BACLOFEN_LABEL_MAX_MG_PER_DAY)}/day.",
        )

    lines = _computation_lines(current, after, changed_at)
    if not findings.phrases:
        return _compliant_card(current, total, changed_at, starts_at, lines)

    change = f"start {fmt_mg(total)}/day" if is_start else _change_text(current, total)
    summary = f"Baclofen {change}: " + "; ".join(findings.phrases)
    detail_parts = [" ".join(findings.sentences), "", *lines]
    target = _target_total(current, total, findings, increase)
    suggestions: list[Suggestion] = []
    if target is not None:
        detail_parts += ["", f"Suggested: **{fmt_mg(target)}/day** in total."]
        suggestions.append(_dose_suggestion(draft, target, others))
    elif not increase and not is_start:
        detail_parts += [
            "",
            f"If reducing, lower the dose by no more than {fmt_mg(BACLOFEN_STEP_MAX_MG_PER_DAY)}/day per step: "
            "abrupt reduction can cause withdrawal (seizures, hallucinations).",
        ]
    spasticity = [c for c in facts.conditions_in(*_SPASTICITY) if is_current_condition(c)]
    if spasticity and total > BACLOFEN_PLAN_CEILING_MG_PER_DAY + _EPSILON:
        detail_parts += [
            "",
            f"This patient has {describe_condition(spasticity[0])}: for spasticity the label's usual "
            "effective dose is 40-80 mg/day; the 30 mg/day ceiling is the source summary's plan, which "
            "comes from muscle-cramp care in cirrhosis.",
        ]
    detail_parts += ["", PLAN_TEXT]
    statements = ("S1", "S19") if findings.interval_checked else ("S1",)
    return make_card(
        RULE,
        summary=summary,
        indicator=findings.indicator,
        detail="\n".join(detail_parts),
        statements=statements,
        suggestions=suggestions,
        overrides=(SPECIALIST_DIRECTED, ALREADY_TOLERATING, BENEFIT_OUTWEIGHS_RISK),
    )


def _check_interval(findings: _Findings, interval: timedelta, changed_at: datetime) -> None:
    hours = interval.total_seconds() / 3600
    if interval >= timedelta(days=BACLOFEN_STEP_INTERVAL_DAYS):
        return
    findings.too_soon = True
    days_text = f"{fmt_number(hours / 24, 1)} days ({fmt_number(hours, 0)} h)"
    if hours < BACLOFEN_MIN_HOURS_BETWEEN_INCREASES:
        findings.add(
            "warning",
            f"increase {fmt_number(hours, 0)} h after last change (<72 h)",
            f"This increase comes only **{days_text}** after the last dose change on "
            f"{fmt_day(changed_at)}: **less than 72 hours**, too soon to judge the full effect of the "
            f"last step (guideline S19; label steps every 3 days). The plan steps weekly.",
        )
    else:
        findings.add(
            "warning",
            f"increase {fmt_number(hours / 24, 1)} days after last change (<7 days)",
            f"This increase comes **{days_text}** after the last dose change on {fmt_day(changed_at)}; "
            f"the plan steps once a week (next step due "
            f"{fmt_day(changed_at + timedelta(days=BACLOFEN_STEP_INTERVAL_DAYS))}).",
        )


def _target_total(current: Regimen, total: float, findings: _Findings, increase: bool) -> float | None:
    """The compliant daily total for the suggestion, or None when no dose change should be offered."""
    if current.empty:
        return BACLOFEN_START_MAX_MG_PER_DAY
    if not increase or current.total is None:
        return None
    now_total = current.total
    if findings.too_soon or now_total >= BACLOFEN_PLAN_CEILING_MG_PER_DAY - _EPSILON:
        return now_total
    return min(now_total + BACLOFEN_STEP_MAX_MG_PER_DAY, BACLOFEN_PLAN_CEILING_MG_PER_DAY, total)


def _dose_suggestion(draft: MedicationFact, target_total: float, others: float) -> Suggestion:
    """Rewrite the draft so the total becomes `target_total`, or remove it if others already reach it."""
    name = main_name(draft)
    draft_dose = target_total - others
    if draft_dose <= _EPSILON:
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
    if abs(current.total - total) < _EPSILON:
        return f"{fmt_mg(total)}/day (unchanged)"
    return f"{fmt_number(current.total)} → {fmt_number(total)} mg/day"


def _computation_lines(
    current: Regimen,
    after: Regimen,
    changed_at: datetime | None,
) -> list[str]:
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
        since = f", current dose since {fmt_day(changed_at)}" if changed_at else ""
        lines += ["", f"Before this order{since}:", current.describe()]
        if current.unknown:
            lines.append("- The step size could not be checked: an existing order's dose is unknown.")
        elif changed_at is None:
            lines.append("- The interval since the last change could not be checked: no start date recorded.")
    return lines


def _compliant_card(
    current: Regimen,
    total: float,
    changed_at: datetime | None,
    starts_at: datetime,
    lines: list[str],
) -> Card:
    is_new_step = current.empty or (current.total is not None and total > current.total + _EPSILON)
    since = starts_at if is_new_step else changed_at
    due = next_step_due(since, total)
    position = plan_position(total)
    change = "start" if current.empty else _change_text(current, total)
    if total >= BACLOFEN_PLAN_CEILING_MG_PER_DAY - _EPSILON:
        next_text = "at the plan's 30 mg/day ceiling; no further step in the plan"
    elif due is not None:
        next_text = f"next step (+10 mg/day) due {fmt_day(due)} if needed"
    else:
        next_text = "next step date unknown (no start date recorded)"
    reduction = current.total is not None and total < current.total - _EPSILON
    if reduction:
        cut = (current.total or 0.0) - total
        next_text = f"reduced by {fmt_mg(cut)}/day; taper by at most 10 mg/day per step"
    summary = f"Baclofen {fmt_mg(total)}/day ({change}, {position} of 10 → 20 → 30): {next_text}"
    if len(summary) > 140:
        summary = f"Baclofen {fmt_mg(total)}/day, {position}: {next_text}"
    detail = "\n".join(
        [
            f"This order fits the titration plan: **{fmt_mg(total)}/day**, {position}; {next_text}.",
            "",
            *lines,
            "",
            PLAN_TEXT,
            "",
            "Monitor for sedation, dizziness and weakness; combine with physical therapy.",
        ]
    )
    return make_card(RULE, summary=summary, indicator="info", detail=detail, statements=("S1", "S19"))


def _unknown_dose_card(draft: MedicationFact) -> Card:
    reason = draft.daily_dose.unknown_reason or "the dose could not be computed"
    return make_card(
        RULE,
        summary="Baclofen order: daily dose could not be checked against the titration plan",
        indicator="info",
        detail=(
            f"The daily dose of {describe_dose(draft)} could not be computed ({escape_md(reason)}), so "
            "the start dose, the step size and the 30 mg/day plan ceiling / 80 mg/day label maximum "
            f"were **not checked**. Check the dose by hand.\n\n{PLAN_TEXT}"
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
        "Oral baclofen orders against the source plan (start 10 mg/day, +10 mg/day weekly, ≥ 72 h "
        "between increases, up to 30 mg/day) and the FDA label maximum of 80 mg/day (critical above). "
        "Suggests the compliant dose on the draft; a compliant order gets the plan and the next due date."
    ),
)
