"""The next step of the algorithm once baclofen is at the plan's ceiling (guideline S17, A3, A4).

The service cannot see whether spasm responds: "refractory" has no structured fact. It can see the
situation in which the source says to reassess: oral baclofen at the plan's ceiling (or more) for at
least `Thresholds.escalation_min_days_at_ceiling` (the low end of "2-3 weeks"). Then one info card
gives the next step by the kind of spasm on the problem list: tizanidine for spasticity of cerebral
origin (S4, S17), cyclobenzaprine only for acute musculoskeletal spasm (S3, S17), intrathecal
baclofen for severe generalized spasticity (S10, A4), botulinum toxin for localized spasm (S11, A3),
with the label caveats that the source leaves out (baclofen is not indicated for rheumatic spasm,
cyclobenzaprine is not effective in spasticity, adding an agent stacks sedation). Patient-view: on
that regimen. Order hooks: a baclofen draft in scope that continues it. Quiet when the patient
already takes a next-step agent (tizanidine, cyclobenzaprine, intrathecal baclofen).
"""

from __future__ import annotations

from datetime import datetime

from cds_service.cards._baclofen import (
    at_or_above_ceiling,
    current_oral,
    is_intrathecal_baclofen,
    is_oral_baclofen,
    last_change_at,
    would_be_oral,
)
from cds_service.cards.base import Override, Rule, make_card
from cds_service.cards.text import escape_md, fmt_date, fmt_mg
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, ORDER_HOOKS, Card
from cds_service.facts.model import ConditionCategory, PatientFacts

RESPONSE_ADEQUATE = Override("response-adequate", "Spasm is controlled on the current treatment")
_OVERRIDES = (RESPONSE_ADEQUATE,)
_NEXT_STEP_INGREDIENTS = frozenset({"tizanidine", "cyclobenzaprine"})

_OPTIONS = {
    ConditionCategory.CEREBRAL_SPASTICITY: (
        "**Spasticity of cerebral origin** ({condition}): add or switch to **tizanidine** (guideline S4, S17). "
        "Label: contraindicated with fluvoxamine or ciprofloxacin; hypotension, liver injury, sedation."
    ),
    ConditionCategory.SPINAL_SPASTICITY: (
        "**Severe generalized spasticity** ({condition}) not responding to oral treatment: consider "
        "**intrathecal baclofen** (guideline S10, A4) - referral for a screening trial."
    ),
    ConditionCategory.ACUTE_MUSCULOSKELETAL: (
        "**Acute musculoskeletal spasm** ({condition}): **cyclobenzaprine** as an adjunct to rest and physical "
        "therapy, for 2-3 weeks at most (guideline S3, S17). Baclofen is not indicated for spasm from "
        "rheumatic disorders; reassess the indication rather than add a second agent."
    ),
}
_GENERIC = [
    "Spasticity of cerebral origin: **tizanidine** (S4, S17).",
    "Acute musculoskeletal spasm: **cyclobenzaprine** for 2-3 weeks at most (S3, S17); cyclobenzaprine is not "
    "effective in spasticity of cerebral or spinal origin.",
    "Severe, refractory, generalized spasticity: **intrathecal baclofen** (S10, A4).",
]
_LOCALIZED = "Localized (focal) spasm in a limb: targeted **botulinum toxin** injections (S11, A3)."


def _already_escalated(facts: PatientFacts) -> bool:
    pool = facts.would_be_active() if facts.hook in ORDER_HOOKS else facts.active_medications()
    return any(
        (not set(m.ingredients).isdisjoint(_NEXT_STEP_INGREDIENTS)) or is_intrathecal_baclofen(m)
        for m in pool
        if not m.is_stop
    )


def _at_ceiling_since(facts: PatientFacts, t: Thresholds) -> tuple[float, datetime] | None:
    current = current_oral(facts)
    total = current.total
    if total is None or not at_or_above_ceiling(total, t):
        return None
    history = facts.dose_histories.get("baclofen")
    since = last_change_at(facts, current)
    # Dose history: the start of the latest unbroken run at or above the ceiling (30 → 40 still counts).
    if history is not None and history.steps:
        run_start = None
        for step in sorted(history.steps, key=lambda s: s.at, reverse=True):
            if not at_or_above_ceiling(step.mg_per_day, t):
                break
            run_start = step.at
        if run_start is not None:
            since = min(run_start, since) if since is not None else run_start
    return (total, since) if since is not None else None


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    if facts.hook in ORDER_HOOKS:
        drafts = [m for m in facts.drafts_in_scope if is_oral_baclofen(m) and not m.is_stop]
        after = would_be_oral(facts).total
        if not drafts or after is None or not at_or_above_ceiling(after, t):
            return []
    if _already_escalated(facts):
        return []
    at_ceiling = _at_ceiling_since(facts, t)
    if at_ceiling is None:
        return []
    total, since = at_ceiling
    days = (facts.now - since).total_seconds() / 86400
    if days < t.escalation_min_days_at_ceiling:
        return []
    return [_card(facts, total, since, int(days))]


def _card(facts: PatientFacts, total: float, since: datetime, days: int) -> Card:
    options: list[str] = []
    for category, text in _OPTIONS.items():
        conditions = facts.conditions_in(category)
        if conditions:
            options.append(text.format(condition=escape_md(conditions[0].display)))
    if not options:
        options = ["No spasm or spasticity diagnosis is on the problem list; choose by the kind of spasm:", *_GENERIC]
    options.append(_LOCALIZED)
    summary = (
        f"Baclofen {fmt_mg(total)}/day for {days} days: if spasm persists, consider the next step of the algorithm"
    )
    detail = "\n".join(
        [
            f"Oral baclofen has been at **{fmt_mg(total)}/day** (the source plan's ceiling or above) since "
            f"{fmt_date(since)}: **{days} days**. The source says to reassess after 2-3 weeks at this dose. If the "
            "response is inadequate:",
            "",
            *(f"- {line}" for line in options),
            "",
            "Adding an agent stacks CNS depressants (sedation, dizziness, weakness); switching rather than adding "
            "avoids that, and stopping baclofen needs a taper. Keep physical therapy going.",
        ]
    )
    return make_card(
        RULE,
        summary=summary,
        indicator="info",
        detail=detail,
        statements=("S17", "A3", "A4"),
        overrides=_OVERRIDES,
    )


RULE = Rule(
    topic="treatment-escalation",
    title="Next treatment step",
    statements=("S17", "A3", "A4", "S4", "S10", "S11"),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    description=(
        "Oral baclofen at the plan's ceiling ({baclofen_plan_ceiling_mg_per_day} mg/day) or more for "
        "{escalation_min_days_at_ceiling} days or longer: the next step by the kind of spasm (tizanidine, "
        "cyclobenzaprine, intrathecal baclofen, botulinum toxin), with the label caveats."
    ),
    overrides=_OVERRIDES,
    thresholds=("baclofen_plan_ceiling_mg_per_day", "escalation_min_days_at_ceiling"),
)
