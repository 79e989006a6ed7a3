"""Kidney function: the newest eGFR result, or an eGFR computed from the newest serum creatinine with
the race-free CKD-EPI 2021 equation, with CKD stage and dialysis from the conditions.

Newest wins; on the same day an eGFR result beats a computed one, and among eGFR results the race-free
CKD-EPI 2021 codes come first, then the lowest value. Race-based "among blacks" eGFR codes are not read
(see labs.json). A creatinine needs the patient's age (≥ 18) and sex (male or female) for the equation;
without them no eGFR is computed and `method` says why. With no result at all, conditions (N18.3–N18.6,
Z99.2, Z49) give `ckd_stage` and `on_dialysis` and `egfr` stays None.

CKD-EPI 2021 (Inker et al., NEJM 2021;385:1737; NKF): eGFR = 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^−1.200
× 0.9938^age × 1.012 [female], κ = 0.7 (F) / 0.9 (M), α = −0.241 (F) / −0.302 (M), Scr in mg/dL
(µmol/L ÷ 88.42).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from cds_service.facts import terminology
from cds_service.facts.dates import age_in_years
from cds_service.facts.fhir_index import reference_of
from cds_service.facts.labs import Candidate, newest_first, read_value
from cds_service.facts.model import (
    ConditionCategory,
    ConditionFact,
    LabKind,
    Provenance,
    RenalFunction,
    SkippedResource,
    UnreadableLab,
)

CREATININE_UMOL_PER_MG_DL = 88.42
PLAUSIBLE_EGFR = (0.0, 200.0)  # mL/min/1.73 m²
PLAUSIBLE_CREATININE_MG_DL = (0.1, 30.0)
_MG_DL = {"mg/dl"}
_UMOL_L = {"umol/l", "µmol/l", "μmol/l", "micromol/l"}
_EGFR_UNIT_WORDS = ("ml/min",)


def ckd_epi_2021(creatinine_mg_dl: float, age: int, sex: str) -> float:
    """The race-free CKD-EPI 2021 creatinine equation (mL/min/1.73 m²)."""
    female = sex == "female"
    kappa = 0.7 if female else 0.9
    alpha = -0.241 if female else -0.302
    ratio = creatinine_mg_dl / kappa
    egfr = 142 * min(ratio, 1) ** alpha * max(ratio, 1) ** -1.200 * 0.9938**age
    return egfr * 1.012 if female else egfr


def _creatinine_mg_dl(value: float, codes: tuple[str, ...], loinc: str) -> float | None:
    units = [c.strip().lower().replace(" ", "") for c in codes]
    if not units:
        units = [(terminology.creatinine_code_unit(loinc) or "").lower()]
    for unit in units:
        if unit in _MG_DL:
            return value
        if unit in _UMOL_L:
            return value / CREATININE_UMOL_PER_MG_DL
    return None


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def renal_function(
    egfr_candidates: list[Candidate],
    creatinine_candidates: list[Candidate],
    conditions: Sequence[ConditionFact],
    *,
    birth_date: Any,
    sex: str | None,
    now: datetime,
    skipped: list[SkippedResource],
) -> RenalFunction | None:
    stage = _ckd_stage(conditions)
    dialysis = any(ConditionCategory.DIALYSIS in c.categories for c in conditions)
    unreadable: list[UnreadableLab] = []
    measured = _newest_egfr(egfr_candidates, now, unreadable, skipped)
    computed = _newest_creatinine(creatinine_candidates, now, unreadable, skipped, birth_date, sex)
    chosen = None
    if measured and computed:
        # newest wins; on the same day the lab's eGFR beats the computed one
        chosen = (
            computed
            if computed[1] is not None and measured[1] is not None and (computed[1].date() > measured[1].date())
            else measured
        )
    else:
        chosen = measured or computed
    stage_text = f"; CKD stage {stage} on the problem list" if stage else ""
    dialysis_text = "; on dialysis (problem list)" if dialysis else ""
    if chosen is not None:
        egfr, at, method, provenance = chosen
        newest_bad = next((u for u in unreadable if u.effective and at and u.effective > at), None)
        return RenalFunction(
            egfr=egfr,
            method=method + stage_text + dialysis_text,
            measured_at=at,
            ckd_stage=stage,
            on_dialysis=dialysis,
            provenance=provenance,
            unreadable=newest_bad,
        )
    if stage is None and not dialysis and not unreadable:
        return None
    source = next((c for c in conditions if c.categories & _RENAL_CATEGORIES), None)
    return RenalFunction(
        egfr=None,
        method=("no readable eGFR or creatinine result" + stage_text + dialysis_text),
        measured_at=None,
        ckd_stage=stage,
        on_dialysis=dialysis,
        provenance=source.provenance if source else None,
        unreadable=unreadable[0] if unreadable else None,
    )


_RENAL_CATEGORIES = frozenset(
    {
        ConditionCategory.CKD_STAGE_3,
        ConditionCategory.CKD_STAGE_4,
        ConditionCategory.CKD_STAGE_5,
        ConditionCategory.DIALYSIS,
    }
)


def _ckd_stage(conditions: Sequence[ConditionFact]) -> int | None:
    stages = []
    for condition in conditions:
        for category, stage in (
            (ConditionCategory.CKD_STAGE_3, 3),
            (ConditionCategory.CKD_STAGE_4, 4),
            (ConditionCategory.CKD_STAGE_5, 5),
        ):
            if category in condition.categories:
                stages.append(stage)
    return max(stages) if stages else None


def _unreadable(kind: LabKind, effective: datetime | None, raw: dict[str, Any], where: str, reading: Any,
                problem: str) -> UnreadableLab:  # fmt: skip
    return UnreadableLab(
        kind=kind,
        effective=effective,
        raw_value=reading.raw_value if reading else "",
        raw_unit=reading.raw_unit if reading else "",
        problem=problem,
        interpretation=reading.interpretation if reading else None,
        provenance=Provenance(reference_of(raw) or where, "value[x]"),
    )


def _newest_egfr(
    candidates: list[Candidate], now: datetime, unreadable: list[UnreadableLab], skipped: list[SkippedResource]
) -> tuple[float, datetime | None, str, Provenance] | None:
    readable: list[tuple[datetime | None, bool, float, str, Provenance]] = []
    for effective, where, raw, loinc in newest_first(candidates):
        if readable and (effective is None or readable[0][0] is None or effective.date() < readable[0][0].date()):
            break  # older than the newest readable day: done
        try:
            reading = read_value(raw)
            value, comparator, problem = reading.value, reading.comparator, reading.problem
            if problem == "value is text" and reading.raw_value.strip().startswith(">"):
                number = reading.raw_value.strip()[1:].strip()
                value, comparator, problem = (float(number), ">", None) if number.replace(".", "", 1).isdigit() else (
                    None, None, problem)  # fmt: skip
            if (
                problem is None
                and reading.codes
                and not any(w in u.lower() for u in reading.codes for w in _EGFR_UNIT_WORDS)
            ):
                problem = f"unit {reading.raw_unit} is not mL/min/1.73 m²"
            if problem is None and effective is not None and effective > now + _skew(raw):
                problem = "date in the future"
            if problem is None and value is not None and not (PLAUSIBLE_EGFR[0] <= value <= PLAUSIBLE_EGFR[1]):
                problem = "implausible value"
        except Exception:
            reading, value, comparator, problem = None, None, None, "result could not be read"
        if problem is not None or value is None:
            if not readable:
                unreadable.append(_unreadable(LabKind.EGFR, effective, raw, where, reading, problem or "no value"))
            continue
        shown = f"{comparator}{_fmt(value)}" if comparator else _fmt(value)
        method = f"eGFR result {shown} mL/min/1.73 m² (LOINC {loinc})"
        readable.append((effective, terminology.is_preferred_egfr_code(loinc), value, method,
                         Provenance(reference_of(raw) or where, "valueQuantity")))  # fmt: skip
    if not readable:
        return None
    # same day: the race-free CKD-EPI 2021 codes first, then the lowest value
    day = readable[0][0].date() if readable[0][0] else None
    same_day = [r for r in readable if (r[0].date() if r[0] else None) == day]
    best = min(same_day, key=lambda r: (not r[1], r[2]))
    return best[2], best[0], best[3], best[4]


def _skew(raw: dict[str, Any]) -> timedelta:
    text = raw.get("effectiveDateTime")
    return timedelta(hours=14) if isinstance(text, str) and len(text.strip()) <= 10 else timedelta(minutes=5)


def _newest_creatinine(
    candidates: list[Candidate],
    now: datetime,
    unreadable: list[UnreadableLab],
    skipped: list[SkippedResource],
    birth_date: Any,
    sex: str | None,
) -> tuple[float | None, datetime | None, str, Provenance] | None:
    for effective, where, raw, loinc in newest_first(candidates):
        try:
            reading = read_value(raw)
            problem = reading.problem
            mg_dl = None
            if problem is None and reading.value is not None:
                mg_dl = _creatinine_mg_dl(reading.value, reading.codes, loinc)
                if mg_dl is None:
                    problem = f"unit {reading.raw_unit} not convertible to mg/dL"
                elif not (PLAUSIBLE_CREATININE_MG_DL[0] <= mg_dl <= PLAUSIBLE_CREATININE_MG_DL[1]):
                    problem = "implausible value"
            if problem is None and effective is not None and effective > now + _skew(raw):
                problem = "date in the future"
        except Exception:
            reading, mg_dl, problem = None, None, "result could not be read"
        if problem is not None or mg_dl is None:
            unreadable.append(_unreadable(LabKind.CREATININE, effective, raw, where, reading, problem or "no value"))
            continue
        provenance = Provenance(reference_of(raw) or where, "valueQuantity")
        shown = f"creatinine {_fmt(mg_dl)} mg/dL"
        if reading and reading.codes and _creatinine_mg_dl(1.0, reading.codes, loinc) != 1.0:
            shown += f" ({reading.raw_value} {reading.raw_unit} ÷ {CREATININE_UMOL_PER_MG_DL})"
        age = age_in_years(birth_date, effective or now)
        if sex not in ("male", "female"):
            return (
                None,
                effective,
                f"{shown}; no eGFR computed: the patient's sex is not recorded as male or female",
                provenance,
            )
        if age is None:
            return None, effective, f"{shown}; no eGFR computed: the patient's age is not known", provenance
        if age < 18:
            return None, effective, f"{shown}; no eGFR computed: CKD-EPI is for adults (age {age})", provenance
        egfr = ckd_epi_2021(mg_dl, age, sex)
        if not math.isfinite(egfr):
            return None, effective, f"{shown}; no eGFR computed", provenance
        method = f"CKD-EPI 2021 from {shown}, age {age}, {sex} (computed, race-free)"
        return round(egfr, 1), effective, method, provenance
    return None


__all__ = ["ckd_epi_2021", "renal_function"]
