"""The kidney function an order is judged against: an eGFR (result or CKD-EPI 2021), else a CKD
stage's range, dialysis and acute kidney injury from the problem list, and its band.

Moved here from the renal card (issue 19) so that the titration, withdrawal and renal rules judge a
dose against the same kidney. A stage counts at the top of its range (stage 3: 59), so a stage alone
never makes a band worse than the record allows.
"""

from __future__ import annotations

from cds_service.facts.judgment.model import JudgmentThresholds, Kidney, RenalBand
from cds_service.facts.model import ConditionCategory, PatientFacts

STAGE_RANGE = {3: (30.0, 59.0), 4: (15.0, 29.0), 5: (0.0, 14.0)}
_STAGE_CATEGORIES = (
    (5, ConditionCategory.CKD_STAGE_5),
    (4, ConditionCategory.CKD_STAGE_4),
    (3, ConditionCategory.CKD_STAGE_3),
)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


def kidney_of(facts: PatientFacts, t: JudgmentThresholds) -> Kidney | None:
    """The patient's kidney as the judgment reads it, or None when nothing is on record."""
    renal = facts.renal
    dialysis = bool(renal and renal.on_dialysis) or bool(facts.conditions_in(ConditionCategory.DIALYSIS))
    acute = bool(facts.conditions_in(ConditionCategory.ACUTE_KIDNEY_INJURY))
    if renal is not None and renal.egfr is not None:
        return Kidney(
            renal.egfr, renal.egfr, renal.method, renal.measured_at, dialysis, acute,
            band_of(renal.egfr, dialysis, t),
        )  # fmt: skip
    stage = renal.ckd_stage if renal is not None else None
    if stage is None:
        stage = next((n for n, category in _STAGE_CATEGORIES if facts.conditions_in(category)), None)
    if stage in STAGE_RANGE:
        low, high = STAGE_RANGE[stage]
        how = f"CKD stage {stage} on the problem list (eGFR {_fmt(low)}-{_fmt(high)})"
        return Kidney(None, high, how, None, dialysis, acute, band_of(high, dialysis, t))
    if dialysis:
        return Kidney(None, 0.0, "dialysis on record", None, True, acute, RenalBand.SEVERE)
    if acute:
        return Kidney(None, None, "acute kidney injury on the problem list", None, False, True, RenalBand.UNKNOWN)
    return None


def band_of(egfr: float | None, dialysis: bool, t: JudgmentThresholds) -> RenalBand:
    if dialysis:
        return RenalBand.SEVERE
    if egfr is None:
        return RenalBand.UNKNOWN
    if egfr < t.baclofen_critical_egfr:
        return RenalBand.SEVERE
    if egfr < t.beers_baclofen_min_egfr:
        return RenalBand.REDUCED
    return RenalBand.NORMAL
