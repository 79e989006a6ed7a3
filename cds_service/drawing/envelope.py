"""The dose envelope the service judges for one order: start, step per interval, ceiling, label
maximum, kidney function: what the app draws as a band and a line behind the doses.

ONE function, `envelope_for`, so that issue 19's per-order judgment (`facts.judgment_of(order)`)
replaces it in one place when it lands. Until then it reads what the rules read today: the plan by
indication (`cards._baclofen.plan_for`), the label maxima (`cards.max_daily_dose.limit_of`) and the
renal thresholds, so the band says what the titration, maximum-dose and renal cards say.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.cards._baclofen import is_oral_baclofen, plan_for
from cds_service.cards.max_daily_dose import LIMITS, limit_of
from cds_service.cards.text import fmt_number
from cds_service.cards.thresholds import Thresholds
from cds_service.facts.model import MedicationFact, PatientFacts, Route

# Where the numbers come from until the per-order judgment exists (shown in the app's summary).
INTERIM_BASIS = "today's rules (plan by indication, label maxima, renal thresholds)"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the service allows for one order. A None number is one the judgment does not give."""

    ingredient: str
    plan: str  # "the cramp plan", "the label"
    start_mg_per_day: float | None
    step_mg_per_day: float | None
    interval_days: int | None
    ceiling_mg_per_day: float | None  # the plan's ceiling, else the label maximum
    label_max_mg_per_day: float | None
    kidney: str | None = None  # what kidney function changes, in words
    no_labelled_dose: str | None = None  # why no dose is labelled here (then no band is drawn)
    sources: tuple[str, ...] = ()
    basis: str = INTERIM_BASIS


def _baclofen_kidney(facts: PatientFacts, t: Thresholds) -> tuple[str | None, str | None]:
    """(kidney note, reason no dose is labelled) for oral baclofen."""
    renal = facts.renal
    if renal is None:
        return "kidney function not known: the renal checks could not run", None
    egfr = renal.egfr
    if renal.on_dialysis or (egfr is not None and egfr < t.baclofen_critical_egfr):
        what = (
            "on dialysis"
            if renal.on_dialysis
            else f"eGFR {fmt_number(egfr or 0)} < {fmt_number(t.baclofen_critical_egfr)}"
        )
        return what, f"{what}: no oral baclofen dose is labelled for this kidney function"
    if egfr is not None and egfr < t.beers_baclofen_min_egfr:
        elderly = facts.age_years is not None and facts.age_years >= t.elderly_age_years
        advice = "Beers 2023: avoid" if elderly else "label: renally excreted, reduced dosage and caution"
        return f"eGFR {fmt_number(egfr)} < {fmt_number(t.beers_baclofen_min_egfr)}: {advice}", None
    if egfr is None:
        return "no readable eGFR: the renal checks could not run", None
    return None, None


def envelope_for(facts: PatientFacts, order: MedicationFact, t: Thresholds) -> Envelope | None:
    """The envelope of `order` (a draft or an existing order), or None for a drug without one."""
    ingredient = next(iter(order.ingredients), None)
    if ingredient is None:
        return None
    if is_oral_baclofen(order):
        plan = plan_for(facts.indication_of(order).indication, t)
        kidney, none_labelled = _baclofen_kidney(facts, t)
        return Envelope(
            ingredient=ingredient,
            plan=plan.name,
            start_mg_per_day=plan.start_max,
            step_mg_per_day=plan.step_max,
            interval_days=plan.interval_days,
            ceiling_mg_per_day=plan.warn_above if plan.warn_above is not None else plan.critical_above,
            label_max_mg_per_day=plan.critical_above,
            kidney=kidney,
            no_labelled_dose=none_labelled,
            sources=plan.sources,
        )
    if order.route in (Route.INTRATHECAL, Route.INJECTION) or ingredient not in LIMITS:
        return None  # pump and injection doses have labels of their own: no oral envelope drawn
    label_max = limit_of(ingredient, order.extended_release, t)
    kidney = None
    egfr = facts.renal.egfr if facts.renal is not None else None
    if ingredient == "tizanidine" and egfr is not None and egfr < t.tizanidine_reduce_below_crcl:
        kidney = f"kidney function below {fmt_number(t.tizanidine_reduce_below_crcl)} mL/min: label: reduce doses"
    return Envelope(
        ingredient=ingredient,
        plan="the label",
        start_mg_per_day=None,
        step_mg_per_day=None,
        interval_days=None,
        ceiling_mg_per_day=label_max,
        label_max_mg_per_day=label_max,
        kidney=kidney,
        sources=(f"FDA {ingredient} label",),
    )


__all__ = ["INTERIM_BASIS", "Envelope", "envelope_for"]
