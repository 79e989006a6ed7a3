"""What the baclofen rules share: the oral regimen before and after the drafts, and the source plan.

The titration, withdrawal, escalation and summary rules must agree on what "the current dose" is, so
it is worked out once here. The daily dose of a regimen is the sum over its oral baclofen orders (a
patient may have a morning and an evening order); an order whose dose is unknown makes the total
unknown, and the rules then say so instead of guessing. Intrathecal baclofen is dosed in micrograms
through a pump: it is never added to the oral total. Not a rule module (leading underscore: a family
helper).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cds_service.cards.text import fmt_mg, fmt_number
from cds_service.cards.thresholds import BACLOFEN_TABLET_MG, Thresholds
from cds_service.facts.judgment import DoseJudgment
from cds_service.facts.model import (
    Indication,
    MedicationFact,
    OrderRelation,
    PatientFacts,
    Route,
    above,
    same_dose,
)

BACLOFEN = "baclofen"


def is_baclofen(medication: MedicationFact) -> bool:
    return medication.has(BACLOFEN)


def is_oral_baclofen(medication: MedicationFact) -> bool:
    return is_baclofen(medication) and medication.is_oral


def is_intrathecal_baclofen(medication: MedicationFact) -> bool:
    return is_baclofen(medication) and medication.route is Route.INTRATHECAL


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
            for m in facts.drafts_in_scope + facts.other_drafts
            if m.is_stop and is_oral_baclofen(m) and m.reference not in known
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
    drafts = facts.drafts_in_scope + facts.other_drafts
    dosed = tuple(m for m in drafts if is_oral_baclofen(m) and not m.is_stop)
    if dosed:
        return Regimen(dosed)
    stops = [m for m in drafts if m.is_stop and is_baclofen(m)]
    active_refs = {m.reference for m in facts.active_medications()}
    if any(s.reference not in active_refs and s.is_oral for s in stops):
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
        and same_dose(history.current_mg_per_day, total)
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


def plan_text(t: Thresholds) -> str:
    """'10 → 20 → 30' for the plan in force."""
    return " → ".join(fmt_number(step) for step in t.baclofen_plan_steps())


def plan_position(total: float, t: Thresholds) -> str:
    """Where a daily dose sits on the source's plan (by default 10 → 20 → 30 mg/day)."""
    steps = t.baclofen_plan_steps()
    for index, step in enumerate(steps, start=1):
        if same_dose(total, step):
            return f"step {index} of {len(steps)}"
    if total > t.baclofen_plan_ceiling_mg_per_day:
        return f"above the plan's {fmt_mg(t.baclofen_plan_ceiling_mg_per_day)}/day ceiling"
    if total < steps[0]:
        return f"below the plan's {fmt_mg(steps[0])}/day start"
    return "between plan steps"


def at_or_above_ceiling(total: float, t: Thresholds) -> bool:
    return total > t.baclofen_plan_ceiling_mg_per_day or same_dose(total, t.baclofen_plan_ceiling_mg_per_day)


def next_step_due(changed_at: datetime | None, total: float, t: Thresholds) -> datetime | None:
    """The date the next step may be taken, or None at/above the plan's ceiling."""
    if changed_at is None or at_or_above_ceiling(total, t):
        return None
    return changed_at + timedelta(days=t.baclofen_step_interval_days)


def doses_per_day(mg_per_day: float) -> int:
    """Split a daily dose into equal doses of whole or half tablets; three a day when possible."""
    for count in (3, 2, 4, 1):
        per_dose = mg_per_day / count
        half_tablets = per_dose / (BACLOFEN_TABLET_MG / 2)
        if abs(half_tablets - round(half_tablets)) < 1e-6:
            return count
    return 3


# --- the plan that applies to an order, by what it treats ------------------------------------

EASL_2018 = "EASL 2018 (cramps in cirrhosis)"
BACLOFEN_LABEL = "FDA oral baclofen label"


@dataclass(frozen=True, slots=True)
class Plan:
    """How an oral baclofen order is titrated: the source's cramp plan, or the label's."""

    name: str  # as a card names it
    start_max: float
    step_max: float
    interval_days: int
    warn_above: float | None  # the cramp plan's 30 mg/day; the label has no ceiling below its maximum
    critical_above: float  # the label maximum, whatever the indication
    statements: tuple[str, ...]
    sources: tuple[str, ...]

    @property
    def is_source_plan(self) -> bool:
        return self.warn_above is not None


def plan_for(indication: Indication, t: Thresholds) -> Plan:
    """CRAMPS_WITH_LIVER_DISEASE: the source's plan (S1/A1 = the EASL cramp regimen). Anything else:
    the FDA label, the floor (spasticity; an unknown indication; cramps without liver disease and
    musculoskeletal spasm, for which no source plan exists)."""
    if indication is Indication.CRAMPS_WITH_LIVER_DISEASE:
        return Plan(
            name="the cramp plan",
            start_max=t.baclofen_start_max_mg_per_day,
            step_max=t.baclofen_step_max_mg_per_day,
            interval_days=t.baclofen_step_interval_days,
            warn_above=t.baclofen_plan_ceiling_mg_per_day,
            critical_above=t.baclofen_label_max_mg_per_day,
            statements=("S1", "A1", "S19"),
            sources=(EASL_2018, BACLOFEN_LABEL),
        )
    return Plan(
        name="the label",
        start_max=t.baclofen_label_start_max_mg_per_day,
        step_max=t.baclofen_label_step_max_mg_per_day,
        interval_days=t.baclofen_label_step_interval_days,
        warn_above=None,
        critical_above=t.baclofen_label_max_mg_per_day,
        statements=("S19",),
        sources=(BACLOFEN_LABEL,),
    )


def plan_of(judgment: DoseJudgment, t: Thresholds) -> Plan:
    """The plan of an order with the numbers of its dose judgment (`facts.judgment`), which every rule reads."""
    plan = plan_for(judgment.indication, t)
    return replace(
        plan,
        start_max=judgment.start_mg_per_day if judgment.start_mg_per_day is not None else plan.start_max,
        step_max=judgment.step_mg_per_day if judgment.step_mg_per_day is not None else plan.step_max,
        interval_days=judgment.interval_days if judgment.interval_days is not None else plan.interval_days,
        warn_above=judgment.plan_ceiling_mg_per_day if plan.is_source_plan else None,
        critical_above=judgment.label_max_mg_per_day or plan.critical_above,
    )


def label_plan_text(t: Thresholds) -> str:
    per_dose = fmt_number(t.baclofen_label_start_max_mg_per_day / 3)
    return (
        f"label: start {per_dose} mg three times a day, +{fmt_number(t.baclofen_label_step_max_mg_per_day / 3)} mg "
        f"per dose every {t.baclofen_label_step_interval_days} days, max {fmt_mg(t.baclofen_label_max_mg_per_day)}/day"
    )


def source_plan_text(t: Thresholds) -> str:
    return f"cramp plan: {plan_text(t)} mg/day, a step every {t.baclofen_step_interval_days} days"


# --- what a draft is to the orders before it ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """A draft against the oral baclofen it continues (facts.continuation_of), or a start."""

    relation: OrderRelation
    previous_mg: float | None = None
    previous_orders: tuple[MedicationFact, ...] = ()
    previous_ended: datetime | None = None
    since: datetime | None = None  # when the previous dose started (the last change)
    new_mg: float | None = None  # the dose that replaces `previous_mg` (same footing)

    @property
    def step(self) -> float | None:
        if self.previous_mg is None or self.new_mg is None:
            return None
        return self.new_mg - self.previous_mg

    @property
    def is_start(self) -> bool:
        return self.relation in (OrderRelation.START, OrderRelation.RESTART)


def change_of(facts: PatientFacts, draft: MedicationFact) -> Change:
    """What the draft is: the facts' continuation when they give one, else worked out from the
    current oral regimen (a draft with no continuation fact replaces the whole regimen, the way EHRs
    send a dose change). A restart is judged as a start; its previous dose is kept for the card."""
    regimen: Regimen
    if draft.reference in facts.continuations:
        continuation = facts.continuation_of(draft)
        regimen = Regimen(tuple(m for m in continuation.previous if is_oral_baclofen(m)))
        since = last_change_at(facts, regimen) if not regimen.empty else None
        return Change(
            relation=continuation.relation,
            previous_mg=continuation.previous_mg_per_day,
            previous_orders=continuation.previous,
            previous_ended=continuation.previous_ended,
            since=since,
            new_mg=draft.daily_dose.mg_per_day,
        )
    regimen = current_oral(facts)
    if regimen.empty:
        return Change(OrderRelation.START)
    total = regimen.total
    after = would_be_oral(facts)
    since = last_change_at(facts, regimen)
    if total is None or after.total is None:
        relation = OrderRelation.UNKNOWN_DOSE
    elif above(after.total, total):
        relation = OrderRelation.INCREASE
    elif above(total, after.total):
        relation = OrderRelation.DECREASE
    else:
        relation = OrderRelation.RENEWAL
    return Change(relation, previous_mg=total, previous_orders=regimen.orders, since=since, new_mg=after.total)


def regimen_after(facts: PatientFacts) -> Regimen:
    """Oral baclofen the patient would take once the drafts are signed.

    With continuation facts for every oral draft: the drafts plus the current orders that no draft
    continues or stops (a morning order kept beside a renewed evening one). Without them: the drafts
    replace the regimen (`would_be_oral`).
    """
    drafts = [m for m in facts.drafts_in_scope + facts.other_drafts if is_oral_baclofen(m) and not m.is_stop]
    if not drafts or any(d.reference not in facts.continuations for d in drafts):
        return would_be_oral(facts)
    ended = {p.reference for d in drafts for p in facts.continuation_of(d).previous}
    ended |= {m.reference for m in facts.drafts_in_scope + facts.other_drafts}
    kept = tuple(m for m in facts.active_medications() if is_oral_baclofen(m) and m.reference not in ended)
    return Regimen(tuple(drafts) + kept)


def regimen_before(facts: PatientFacts) -> Regimen:
    """Oral baclofen the patient takes before the drafts: the current orders and the orders the
    drafts continue (a renewal of an order whose supply ran out continues it; a restart does not)."""
    orders = list(current_oral(facts).orders)
    refs = {m.reference for m in orders}
    for draft in facts.drafts_in_scope + facts.other_drafts:
        if not is_oral_baclofen(draft) or draft.reference not in facts.continuations:
            continue
        continuation = facts.continuation_of(draft)
        if continuation.relation in (OrderRelation.START, OrderRelation.RESTART):
            continue
        for previous in continuation.previous:
            if is_oral_baclofen(previous) and previous.reference not in refs:
                orders.append(previous)
                refs.add(previous.reference)
    return Regimen(tuple(orders))
