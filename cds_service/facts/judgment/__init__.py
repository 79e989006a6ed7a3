"""One dose judgment per order, decided once and read by every rule (issue 19).

Public API (the facts layer's; rules, the engine, the suggestions and the SMART app read only this):

- `judgment_of(facts, order, t) -> DoseJudgment`: for one MedicationFact of this call and the
  thresholds in force (`cards.thresholds.Thresholds`), memoised on the facts. Fields: `label`
  (which label applies, None when none), `scope` (oral / own label / none), `start_mg_per_day`,
  `step_mg_per_day`, `interval_days`, `plan_ceiling_mg_per_day`, `ceiling_mg_per_day`,
  `label_max_mg_per_day`, `renal_adjusted`, `hepatic_adjusted`, `age_adjusted`, `pediatric`,
  `no_dose_reason` (+ `consider`), `kidney`, `cautions`, `stop_reason`, `exposure`, `sources`;
  `has_labelled_dose`, `max_suggestable(previous)` and `allows(mg_per_day, previous)`.
- `suggestion_outside(facts, t, resource)`: why a suggested MedicationRequest's dose is outside its
  order's judgment, or None (the engine's guard).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cds_service.facts.judgment.compute import judge
from cds_service.facts.judgment.guard import order_of_resource, outside_reason, suggested_mg_per_day
from cds_service.facts.judgment.kidney import kidney_of
from cds_service.facts.judgment.labels import PEDIATRIC_LABEL_AGES, dose_form
from cds_service.facts.judgment.model import (
    Caution,
    CautionKind,
    DoseJudgment,
    Exposure,
    JudgmentThresholds,
    Kidney,
    LabelScope,
    RenalBand,
    StopReason,
)
from cds_service.facts.model import MedicationFact, PatientFacts


def judgment_of(facts: PatientFacts, order: MedicationFact, t: JudgmentThresholds) -> DoseJudgment:
    """The order's dose judgment, worked out on first use and kept on the facts for the call."""
    key = ("judgment", order.reference, order.is_draft, id(t))
    known = facts.memo.get(key)
    if known is not None and known[0] is t:
        return known[1]
    judgment = judge(facts, order, t)
    facts.memo[key] = (t, judgment)
    return judgment


def suggestion_outside(facts: PatientFacts, t: JudgmentThresholds, resource: Mapping[str, Any]) -> str | None:
    """None when a suggested MedicationRequest's dose is inside its order's judgment, else why not."""
    if resource.get("resourceType") != "MedicationRequest" or not resource.get("dosageInstruction"):
        return None
    order = order_of_resource(facts, resource)
    if order is None:
        return None
    judgment = judgment_of(facts, order, t)
    if judgment.scope is LabelScope.NONE and judgment.no_dose_reason is None:
        return None  # not a drug whose dose this service judges (a potassium supplement...)
    previous = facts.continuation_of(order).previous_mg_per_day if order.is_draft else None
    return outside_reason(judgment, suggested_mg_per_day(resource, order), previous)


__all__ = [
    "PEDIATRIC_LABEL_AGES",
    "Caution",
    "CautionKind",
    "DoseJudgment",
    "Exposure",
    "JudgmentThresholds",
    "Kidney",
    "LabelScope",
    "RenalBand",
    "StopReason",
    "dose_form",
    "judgment_of",
    "kidney_of",
    "suggestion_outside",
]
