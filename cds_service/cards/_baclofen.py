"""Baclofen facts the baclofen rules share: which orders are oral, the daily dose before and after.

The titration, withdrawal, escalation and summary rules must agree on what "the current dose" is,
so it is worked out once here. The daily dose of a regimen is the sum over its oral baclofen
orders (a patient may have a morning and an evening order); an order whose dose is unknown makes
the total unknown, and the rules then say so instead of guessing. Intrathecal baclofen is dosed
in micrograms through a pump: it is never added to the oral total.
Not a rule module (leading underscore: skipped by the registry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cds_service.cards.base import escape_md, fmt_mg
from cds_service.cards.thresholds import (
    BACLOFEN_PLAN_CEILING_MG_PER_DAY,
    BACLOFEN_PLAN_STEPS_MG_PER_DAY,
    BACLOFEN_STEP_INTERVAL_DAYS,
    BACLOFEN_TABLET_MG,
)
from cds_service.facts.model import MedicationFact, PatientFacts, Route

BACLOFEN = "baclofen"
# A draft with one of these statuses ends the order it names (a discontinuation), it adds nothing.
STOPPING_STATUSES = frozenset({"stopped", "cancelled", "completed", "revoked", "entered-in-error"})
_DOSE_TOLERANCE_MG = 0.01


def is_baclofen(medication: MedicationFact) -> bool:
    return medication.has(BACLOFEN)


def is_intrathecal(medication: MedicationFact) -> bool:
    """Intrathecal by route, or by the product name when the route is missing (pump refills)."""
    if medication.route in (Route.INTRATHECAL, Route.INJECTION):
        return True
    return "intrathecal" in medication.display.lower()


def is_oral_baclofen(medication: MedicationFact) -> bool:
    return is_baclofen(medication) and not is_intrathecal(medication)


def is_stopping(medication: MedicationFact) -> bool:
    """A draft that discontinues an order rather than adding one."""
    return medication.is_draft and (medication.status or "").lower() in STOPPING_STATUSES


@dataclass(frozen=True, slots=True)
class Regimen:
    """Oral baclofen orders taken together, with their total daily dose."""

    orders: tuple[MedicationFact, ...]

    @property
    def unknown(self) -> tuple[MedicationFact, ...]:
        return tuple(m for m in self.orders if m.daily_dose.mg_per_day is None)

    @property
    def complete(self) -> bool:
        """Every order's dose is known, so the total is exact."""
        return not self.unknown

    @property
    def known_total(self) -> float:
        """Sum of the known doses: the exact total when complete, otherwise a lower bound."""
        return sum(m.daily_dose.mg_per_day or 0.0 for m in self.orders)

    @property
    def total(self) -> float | None:
        return self.known_total if self.complete else None

    @property
    def empty(self) -> bool:
        return not self.orders

    def describe(self) -> str:
        """Markdown list: one line per order with its dose and how it was computed."""
        return "\n".join(f"- {describe_dose(m)}" for m in self.orders)


def describe_dose(medication: MedicationFact) -> str:
    """'**baclofen 10 MG Oral Tablet**: 30 mg/day (10 mg × 3 per day (TID)) — draft order'."""
    dose = medication.daily_dose
    if dose.mg_per_day is None:
        amount = f"dose unknown ({escape_md(dose.unknown_reason or 'not computable')})"
    else:
        amount = f"**{fmt_mg(dose.mg_per_day)}/day**"
        if dose.explanation:
            amount += f" ({escape_md(dose.explanation)})"
        if dose.as_needed:
            amount += ", as needed: the maximum is counted"
        if dose.from_range:
            amount += ", a dose range: the high end is counted"
    if medication.is_draft:
        state = "this order" if not is_stopping(medication) else f"this order, status {medication.status}"
    else:
        state = f"existing order since {fmt_day(medication.start)}"
    return f"{escape_md(medication.display)}: {amount} — {state}"


def fmt_day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "an unrecorded date"


def current_oral(facts: PatientFacts) -> Regimen:
    """The patient's active oral baclofen before anything in this request is signed.

    A stop order that carries the id of the order it stops is the only trace of that order when
    the facts layer keeps the draft in its place; with no other active oral baclofen, such stop
    orders stand in for the regimen being stopped (their dosage is the dose being stopped).
    """
    active = tuple(m for m in facts.active_medications() if is_oral_baclofen(m))
    if active:
        return Regimen(active)
    known = {m.reference for m in facts.medications}
    return Regimen(
        tuple(
            m
            for m in facts.draft_orders + facts.other_drafts
            if is_stopping(m) and is_oral_baclofen(m) and m.reference not in known
        )
    )


def would_be_oral(facts: PatientFacts) -> Regimen:
    """Oral baclofen that would be active once the drafts are signed.

    A new oral baclofen order is a new dose: EHRs send a dose change as a new draft (new id) and
    discontinue the old order on signing, so the drafts replace the active oral baclofen regimen
    (the withdrawal check compares a lower draft with the active dose on the same footing). The
    titration card names the active orders this assumes replaced. Without an oral baclofen draft,
    stopping drafts end the order they name (same id), or all oral baclofen when they name none.
    """
    drafts = tuple(m for m in facts.draft_orders + facts.other_drafts if is_oral_baclofen(m) and not is_stopping(m))
    if drafts:
        return Regimen(drafts)
    stops = [m for m in facts.draft_orders + facts.other_drafts if is_stopping(m) and is_baclofen(m)]
    active_refs = {m.reference for m in facts.active_medications()}
    if any(s.reference not in active_refs and not is_intrathecal(s) for s in stops):
        return Regimen(())
    stopped = {s.reference for s in stops}
    return Regimen(tuple(m for m in current_oral(facts).orders if m.reference not in stopped))


def last_change_at(facts: PatientFacts, current: Regimen) -> datetime | None:
    """When the current oral dose started: the dose history when it agrees, else the latest order start."""
    history = facts.dose_histories.get(BACLOFEN)
    total = current.total
    if (
        history is not None
        and total is not None
        and history.current_mg_per_day is not None
        and abs(history.current_mg_per_day - total) < _DOSE_TOLERANCE_MG
    ):
        changed = history.last_change_at or history.current_since
        if changed is not None:
            return changed
    starts = [m.start for m in current.orders if m.start is not None]
    return max(starts) if starts else None


def planned_start(facts: PatientFacts, draft: MedicationFact) -> datetime:
    """When a draft takes effect: its validity start when that is in the future, otherwise now."""
    if draft.validity_start is not None and draft.validity_start > facts.now:
        return draft.validity_start
    return facts.now


def plan_position(total: float) -> str:
    """Where a daily dose sits on the source's 10 → 20 → 30 mg/day plan."""
    steps = BACLOFEN_PLAN_STEPS_MG_PER_DAY
    for index, step in enumerate(steps, start=1):
        if abs(total - step) < _DOSE_TOLERANCE_MG:
            return f"step {index} of {len(steps)}"
    if total > BACLOFEN_PLAN_CEILING_MG_PER_DAY:
        return "above the plan's 30 mg/day ceiling"
    if total < steps[0]:
        return "below the plan's 10 mg/day start"
    return "between plan steps"


def next_step_due(changed_at: datetime | None, total: float) -> datetime | None:
    """The date the next weekly step may be taken, or None at/above the plan's ceiling."""
    if changed_at is None or total >= BACLOFEN_PLAN_CEILING_MG_PER_DAY - _DOSE_TOLERANCE_MG:
        return None
    return changed_at + timedelta(days=BACLOFEN_STEP_INTERVAL_DAYS)


PLAN_TEXT = (
    "Plan in the source summary: **10 → 20 → 30 mg/day**, one step of 10 mg/day a week, at least "
    "72 h between increases. The FDA label (spasticity) starts at 5 mg three times a day, steps every "
    "3 days and allows up to 80 mg/day."
)


def doses_per_day(mg_per_day: float) -> int:
    """Split a daily dose into equal doses of whole or half 5 mg tablets; three a day when possible."""
    for count in (3, 2, 4, 1):
        per_dose = mg_per_day / count
        half_tablets = per_dose / (BACLOFEN_TABLET_MG / 2)
        if abs(half_tablets - round(half_tablets)) < 1e-6:
            return count
    return 3
