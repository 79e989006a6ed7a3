"""The dose envelope the service judges for one order: start, step per interval, ceiling, label
maximum, kidney function: what the app draws as a band and a line behind the doses.

ONE function, `envelope_for`, reads the facts layer's per-order dose judgment (`facts.judgment`,
issue 19: the same record every dose rule and the suggestion guard read), so the band is what the
cards judge: the plan by indication, the ceiling after renal, hepatic, age and pediatric
adjustments, the label maximum, or "no labelled dose" with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.cards.thresholds import Thresholds
from cds_service.facts.judgment import DoseJudgment, LabelScope, RenalBand, judgment_of
from cds_service.facts.model import MedicationFact, PatientFacts

BASIS = "the service's dose judgment for this order (facts.judgment)"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the service allows for one order. A None number is one the judgment does not give."""

    ingredient: str
    plan: str  # "the cramp plan", "the label"
    start_mg_per_day: float | None
    step_mg_per_day: float | None
    interval_days: int | None
    ceiling_mg_per_day: float | None  # the plan's ceiling, else the adjusted label ceiling
    label_max_mg_per_day: float | None
    kidney: str | None = None  # what kidney function changes, in words
    no_labelled_dose: str | None = None  # why no dose is labelled here (then no band is drawn)
    sources: tuple[str, ...] = ()
    basis: str = BASIS


# Drugs whose judgment reads kidney function (oral baclofen; tizanidine): an unknown one is worth a line.
_KIDNEY_DRUGS = frozenset({"baclofen", "tizanidine"})


def _kidney_text(judgment: DoseJudgment) -> str | None:
    """The kidney function the judgment used and what it changes, as the cards word it; None when it
    changes nothing."""
    kidney = judgment.kidney
    words = [c.text.rstrip(".") for c in judgment.cautions if c.kind.value.startswith(("renal", "unstable"))]
    if kidney is None or kidney.band is RenalBand.UNKNOWN:
        unknown = "no eGFR, creatinine, CKD stage or dialysis on record"
        if judgment.ingredient not in _KIDNEY_DRUGS:
            unknown = ""
        return "; ".join(w for w in [unknown, *words] if w) or None
    if kidney.band is RenalBand.NORMAL and not words:
        return None
    return "; ".join([f"{kidney.how} ({kidney.band.value})", *words])


def envelope_for(facts: PatientFacts, order: MedicationFact, t: Thresholds) -> Envelope | None:
    """The envelope of `order` (a draft or an existing order), or None for a drug without an oral one."""
    judgment = judgment_of(facts, order, t)
    if judgment.scope is not LabelScope.ORAL or judgment.ingredient is None:
        return None  # pump and injection doses have labels of their own; other drugs are not judged
    ceiling = judgment.plan_ceiling_mg_per_day or judgment.ceiling_mg_per_day
    return Envelope(
        ingredient=judgment.ingredient,
        plan=judgment.plan or "the label",
        start_mg_per_day=judgment.start_mg_per_day,
        step_mg_per_day=judgment.step_mg_per_day,
        interval_days=judgment.interval_days,
        ceiling_mg_per_day=ceiling,
        label_max_mg_per_day=judgment.label_max_mg_per_day,
        kidney=_kidney_text(judgment),
        no_labelled_dose=judgment.no_dose_reason,
        sources=judgment.sources,
    )


__all__ = ["BASIS", "Envelope", "envelope_for"]
