"""Cyclobenzaprine for 2-3 weeks at most (guideline S3, FDA cyclobenzaprine label).

Order hooks: a draft cyclobenzaprine order fires when the course it makes would exceed
`Thresholds.cyclobenzaprine_max_course_days`: its own supply above it, or the days the current
course has already run plus the new supply (a renewal). Course length is measured from the first
order of a chain of cyclobenzaprine orders with less than `cyclobenzaprine_course_gap_days` between
them. "Already run + new supply" is a lower bound of the course (the draft may also start after the
current supply runs out), so a card never overstates. The suggestion limits the draft's supply to
the days left in the course, or removes the draft when none are left. A draft whose supply cannot be
computed is not guessed at: it fires only when the course has already reached the limit (any renewal
then exceeds it) and says the supply is unknown. The limit is a button only for a client that applies
a suggestion's whole resource (`suggestions.for_client`); others are told what to enter.
Patient-view: a warning when the active course has
already run past the limit (reassess now); a course only planned past it was warned about when it
was ordered, so the chart opening stays quiet (issue 12). Tonmya (sublingual cyclobenzaprine for
fibromyalgia) is not covered by the short-course limitation and is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from cds_service.cards.base import (
    BENEFIT_OUTWEIGHS_RISK,
    SPECIALIST_DIRECTED,
    Rule,
    make_card,
    remove_draft_suggestion,
)
from cds_service.cards.scope import is_order_hook
from cds_service.cards.suggestions import supply_limit
from cds_service.cards.text import describe_order, fmt_date, fmt_number, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card, Suggestion
from cds_service.facts.model import MedicationFact, PatientFacts

_COURSE_STATUSES = frozenset({"active", "on-hold", "completed", "stopped"})
_OVERRIDES = (BENEFIT_OUTWEIGHS_RISK, SPECIALIST_DIRECTED)
_LABEL_TEXT = "Label: only for short periods (up to 2–3 weeks); effectiveness of longer use is not established."


@dataclass(frozen=True, slots=True)
class Course:
    """The patient's current (or just ended) cyclobenzaprine course."""

    start: datetime
    orders: tuple[MedicationFact, ...]
    active: bool  # at least one order of the course is active now

    def days_run(self, now: datetime) -> float:
        return max(0.0, (now - self.start).total_seconds() / 86400)


def _is_short_course_cyclobenzaprine(medication: MedicationFact) -> bool:
    if not medication.has("cyclobenzaprine"):
        return False
    text = medication.display.lower()
    return "tonmya" not in text and "sublingual" not in text


def current_course(facts: PatientFacts, t: Thresholds) -> Course | None:
    """Chain existing cyclobenzaprine orders backwards from now, merging short gaps."""
    active_refs = {m.reference for m in facts.active_medications()}
    draft_refs = {m.reference for m in facts.drafts_in_scope + facts.other_drafts}
    candidates = sorted(
        (
            m
            for m in facts.medications
            if _is_short_course_cyclobenzaprine(m)
            and m.status in _COURSE_STATUSES
            and m.start is not None
            and m.start <= facts.now
        ),
        key=lambda m: m.start or facts.now,
        reverse=True,
    )
    gap = timedelta(days=t.cyclobenzaprine_course_gap_days)
    frontier = facts.now
    members: list[MedicationFact] = []
    for order in candidates:
        ongoing = order.reference in active_refs or order.reference in draft_refs
        end = order.end
        if ongoing or (end is not None and end >= frontier - gap):
            members.append(order)
            frontier = min(frontier, order.start or frontier)
    if not members:
        return None
    return Course(start=frontier, orders=tuple(members), active=any(m.reference in active_refs for m in members))


def _days_text(days: float) -> str:
    """Whole days for a summary (base.fmt_number with 0 places strips trailing zeros of integers)."""
    return str(round(days))


def _course_line(course: Course, now: datetime) -> str:
    orders = ", ".join(f"**{quote(m.display, 50)}**" for m in course.orders[:2])
    more = f" and {len(course.orders) - 2} more" if len(course.orders) > 2 else ""
    return (
        f"Course: started **{fmt_date(course.start)}**, {fmt_number(course.days_run(now), 1)} days ago "
        f"({orders}{more})."
    )


def _draft_card(facts: PatientFacts, order: MedicationFact, course: Course | None, t: Thresholds) -> Card | None:
    limit = t.cyclobenzaprine_max_course_days
    days_run = course.days_run(facts.now) if course else 0.0
    supply_days = order.supply.days
    if supply_days is None:
        if course is None or days_run < limit:
            return None  # unknown supply and room left in the course: no guess
        total = None
    else:
        total = days_run + supply_days
        if total <= limit:
            return None
    days_left = math.floor(limit - days_run)
    suggestions: list[Suggestion] = []
    if days_left >= 1:
        reason = f"so the cyclobenzaprine course stays within {limit} days"
        suggestions.append(supply_limit(order, days_left, reason))
    else:
        suggestions.append(
            remove_draft_suggestion(order, f"the cyclobenzaprine course has already run {limit} days or more")
        )

    if supply_days is not None:
        how = f" ({quote(order.supply.explanation)})" if order.supply.explanation else ""
        supply = f"supply **{fmt_number(supply_days, 1)} days**{how}"
    else:
        reason = order.supply.explanation or "no supply duration, quantity or validity period"
        supply = f"supply **not known** ({quote(reason)})"
    lines = [f"Order: {describe_order(order)}; {supply}."]
    if course is not None:
        lines.append(_course_line(course, facts.now))
    if total is not None and course is not None:
        lines.append(f"Course if signed: at least **{fmt_number(total, 1)} days** (limit {limit} days).")
        summary = f"Limit cyclobenzaprine to {limit} days: this renewal makes the course {_days_text(total)} days"
    elif total is not None:
        summary = f"Limit cyclobenzaprine to {limit} days: this order supplies {fmt_number(supply_days or 0, 1)} days"
    else:
        summary = f"Reassess cyclobenzaprine before renewing: {_days_text(days_run)} days of use (limit {limit})"
    if days_left >= 1:
        lines.append(f"Days left in a {limit}-day course: **{days_left}**.")
    else:
        lines.append(f"The course has already reached {limit} days: no new supply keeps it within.")
    lines.append(_LABEL_TEXT)
    return make_card(
        RULE,
        summary=summary,
        indicator="warning",
        detail="\n\n".join(lines),
        suggestions=suggestions,
        overrides=_OVERRIDES,
        about=(order,),
        sources=("FDA cyclobenzaprine label",),
        label_of=("cyclobenzaprine",),
        drugs=("cyclobenzaprine",),
        basis=(course.start if course else None, supply_days),
    )


def _patient_view_card(facts: PatientFacts, course: Course, t: Thresholds) -> Card | None:
    limit = t.cyclobenzaprine_max_course_days
    days_run = course.days_run(facts.now)
    if days_run <= limit:
        return None  # a course planned past the limit was warned about when it was ordered
    lines = [_course_line(course, facts.now), _LABEL_TEXT + " Reassess the need before renewing."]
    active = {a.reference for a in facts.active_medications()}
    return make_card(
        RULE,
        summary=f"Reassess cyclobenzaprine: taken {_days_text(days_run)} days, label limit 2–3 weeks ({limit} days)",
        indicator="warning",
        detail="\n\n".join(lines),
        overrides=_OVERRIDES,
        about=[m for m in course.orders if m.reference in active],
        sources=("FDA cyclobenzaprine label",),
        label_of=("cyclobenzaprine",),
        drugs=("cyclobenzaprine",),
        basis=(course.start,),
    )


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    course = current_course(facts, t)
    if not is_order_hook(facts):
        if course is None or not course.active:
            return []
        card = _patient_view_card(facts, course, t)
        return [card] if card else []
    cards: list[Card] = []
    for order in facts.drafts_in_scope:
        if not _is_short_course_cyclobenzaprine(order):
            continue
        card = _draft_card(facts, order, course, t)
        if card is not None:
            cards.append(card)
    return cards


_REASONING = "\n\n".join(
    (
        (
            "The label: cyclobenzaprine should be used only for short periods (up to two or three weeks), because"
            " adequate evidence of effectiveness for more prolonged use is not available; it is an adjunct to "
            "rest and physical therapy (S3). The card holds the course to {cyclobenzaprine_max_course_days} days,"
            " the upper end."
        ),
        (
            "The course. Cyclobenzaprine orders less than {cyclobenzaprine_course_gap_days} days apart are one "
            "course, counted from the first. A draft's course is the days already run plus the new supply "
            "(refills included): a lower bound, since the new supply may start after the current one runs out, so"
            " the card never overstates. A draft whose supply cannot be computed fires only when the course has "
            "already reached the limit. The suggestion limits the supply to the days left in the course, without "
            "refills, or removes the draft when none are left. A client that applies only a suggestion's medication"
            " (the CDS Hooks sandbox, the default) would keep its own supply: it gets the days' supply and quantity "
            "to enter instead of a button."
        ),
        (
            "Chart opening: a current course that has already run past the limit (reassess the need). Tonmya "
            "(sublingual cyclobenzaprine for fibromyalgia) is not held to the short course."
        ),
        ("Sources: FDA cyclobenzaprine label (Indications and Usage; Limitations of Use)."),
    )
)


RULE = Rule(
    topic="cyclobenzaprine-duration",
    title="Cyclobenzaprine course longer than 2–3 weeks",
    statements=("S3",),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Warns when a cyclobenzaprine order supplies more than {cyclobenzaprine_max_course_days} days, when a "
        "renewal would take the course past {cyclobenzaprine_max_course_days} days (orders less than "
        "{cyclobenzaprine_course_gap_days} days apart are one course), or (patient-view) when an active course has "
        "already run past {cyclobenzaprine_max_course_days} days. Suggests limiting the draft's supply to the days "
        "left in the course: a button for a client that applies a suggestion's whole resource, what to enter for "
        "one that applies only its medication."
    ),
    overrides=_OVERRIDES,
    thresholds=("cyclobenzaprine_max_course_days", "cyclobenzaprine_course_gap_days"),
)
