"""What each draft is to the patient's orders of the same drug: a start, a restart, or a continuation
(renewal, increase, decrease, or a dose that cannot be compared).

A non-stop draft for the same ingredient and route family (oral vs intrathecal vs other) as a current
order, or as one whose supply or validity ended within `LATE_RENEWAL_DAYS` (a late renewal), continues
those orders; a draft that reuses a stored order's id continues that order whatever its dates. After a
longer gap it is a RESTART (the last course, when it ended and its dose). Nothing before: START. Stops
(stopped/cancelled drafts) are not continued and get no entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from cds_service.facts import terminology
from cds_service.facts.model import (
    ORAL_ROUTES,
    Continuation,
    MedicationFact,
    OrderRelation,
    Route,
    above,
    same_dose,
)

# A renewal written within this many days after the previous supply or validity ended is still a
# continuation (patients run out before they see the prescriber); beyond it, a restart.
LATE_RENEWAL_DAYS = 7


def route_family(order: MedicationFact) -> str:
    if order.route is Route.INTRATHECAL:
        return "intrathecal"
    if order.route in ORAL_ROUTES:
        return "oral"
    return order.route.value


def _form(order: MedicationFact) -> tuple[object, ...]:
    product = terminology.product(order.rxnorm_code) if order.rxnorm_code else None
    return (
        order.strength_mg,
        order.strength_per_ml,
        order.extended_release,
        product.form if product is not None else None,
    )


def _form_changed(draft: MedicationFact, previous: Sequence[MedicationFact]) -> bool:
    mine = _form(draft)
    for order in previous:
        theirs = _form(order)
        if any(a is not None and b is not None and a != b for a, b in zip(mine, theirs, strict=True)):
            return True
    return False


def _total(orders: Sequence[MedicationFact]) -> float | None:
    doses = [o.daily_dose.mg_per_day for o in orders]
    if not doses or any(d is None for d in doses):
        return None
    return round(sum(d for d in doses if d is not None), 9)


def continuation_for(draft: MedicationFact, stored: Sequence[MedicationFact], now: datetime) -> Continuation:
    main = draft.ingredients[0]
    family = route_family(draft)
    same = [m for m in stored if m.ingredients and m.ingredients[0] == main and route_family(m) == family]
    by_id = [m for m in stored if draft.resource_id and m.resource_id == draft.resource_id and m.ingredients]
    # Counted in calendar days (UTC): supply ends are dates more often than instants.
    cutoff = (now - timedelta(days=LATE_RENEWAL_DAYS)).date()
    current = [m for m in same if m.is_current]
    late = [m for m in same if not m.is_current and m.ended_at is not None and cutoff <= m.ended_at.date()]
    previous = list(dict.fromkeys([*by_id, *current] or late))
    if previous:
        previous.sort(key=lambda m: (m.start or now, m.reference))
        total = _total(previous)
        mine = draft.daily_dose.mg_per_day
        if mine is None or total is None:
            relation = OrderRelation.UNKNOWN_DOSE
        elif same_dose(mine, total):
            relation = OrderRelation.RENEWAL
        elif above(mine, total):
            relation = OrderRelation.INCREASE
        else:
            relation = OrderRelation.DECREASE
        ended = None
        if not current and not by_id:
            ended = max((m.ended_at for m in previous if m.ended_at is not None), default=None)
        return Continuation(relation, tuple(previous), total, ended, _form_changed(draft, previous))
    finished = [m for m in same if not m.is_current and (m.ended_at or m.start) is not None]
    if finished:
        last = max(finished, key=lambda m: (m.ended_at or m.start, m.reference))  # type: ignore[arg-type,return-value]
        return Continuation(
            OrderRelation.RESTART,
            (last,),
            last.daily_dose.mg_per_day,
            last.ended_at or last.start,
            _form_changed(draft, (last,)),
        )
    return Continuation(OrderRelation.START)


def continuations(
    drafts: Iterable[MedicationFact], stored: Sequence[MedicationFact], now: datetime
) -> dict[str, Continuation]:
    out: dict[str, Continuation] = {}
    for draft in drafts:
        if draft.is_stop or not draft.ingredients or draft.reference in out:
            continue
        try:
            out[draft.reference] = continuation_for(draft, stored, now)
        except Exception:  # hostile JSON never escapes the facts layer
            out[draft.reference] = Continuation(OrderRelation.START)
    return out
