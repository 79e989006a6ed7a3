"""Potassium, magnesium and eGFR over time: every result, read as the rules read the newest one.

The rules need only the newest readable result of each lab (`PatientFacts.potassium`, `.renal`...);
the SMART app draws the whole course. So that the picture and the cards can never disagree, each
result here goes through the very readers the rules' facts come from: `labs.latest_lab` (statuses,
unit conversion to mmol/L, plausibility, future dates) and `renal.renal_function` (eGFR results,
CKD-EPI 2021 from creatinine with age and sex), one result at a time. A result they cannot read is
listed with the reason, never drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds_service.facts.build import entered_in_error
from cds_service.facts.conditions import current_conditions
from cds_service.facts.dates import parse_datetime
from cds_service.facts.fhir_index import FhirIndex, index_prefetch, string_or_none
from cds_service.facts.fhir_json import UnusableResource, validate
from cds_service.facts.labs import Candidate, lab_candidates, latest_lab, observation_time
from cds_service.facts.model import LabKind, Provenance
from cds_service.facts.renal import renal_function

# A course drawing needs months, not years of results: the newest this many of each kind.
MAX_POINTS_PER_LAB = 200


@dataclass(frozen=True, slots=True)
class LabPoint:
    """One readable result: `value` in the service's unit (mmol/L; eGFR mL/min/1.73 m²)."""

    kind: LabKind
    at: datetime | None
    value: float
    reported: str  # as the lab sent it ("3.9 mEq/L", "1.4 mg/dL creatinine")
    how: str  # how the value was read ("mg/dL × 0.4114", "eGFR result", "CKD-EPI 2021 from creatinine ...")
    flag: str | None = None  # the lab's own flag (L, LL, H, HH)
    provenance: Provenance | None = None


@dataclass(frozen=True, slots=True)
class UnreadablePoint:
    kind: LabKind
    at: datetime | None
    problem: str


@dataclass(frozen=True, slots=True)
class LabSeries:
    points: dict[LabKind, tuple[LabPoint, ...]]
    unreadable: tuple[UnreadablePoint, ...]


def _conversion(kind: LabKind, value: float, unit: str, mmol: float) -> str:
    if abs(value - mmol) < 1e-9:
        return "as reported"
    return f"{unit} × {mmol / value:.4g}" if value else "converted"


def _electrolytes(kind: LabKind, candidates: list[Candidate], now: datetime, out: list[LabPoint],
                  bad: list[UnreadablePoint]) -> None:  # fmt: skip
    for candidate in candidates[:MAX_POINTS_PER_LAB]:
        result, unreadable = latest_lab(kind, [candidate], [], now)
        if result is not None:
            out.append(
                LabPoint(
                    kind,
                    result.effective,
                    result.value_mmol_l,
                    f"{result.value:g} {result.unit}".strip(),
                    _conversion(kind, result.value, result.unit, result.value_mmol_l),
                    result.interpretation,
                    result.provenance,
                )
            )
        elif unreadable is not None:
            bad.append(UnreadablePoint(kind, unreadable.effective, unreadable.problem))


def _kidney(index: FhirIndex, candidates: dict[LabKind, list[Candidate]], now: datetime,
            out: list[LabPoint], bad: list[UnreadablePoint]) -> None:  # fmt: skip
    birth_date, sex = _birth_date_and_sex(index)
    conditions = current_conditions(now, index, [])
    for kind in (LabKind.EGFR, LabKind.CREATININE):
        for candidate in candidates[kind][:MAX_POINTS_PER_LAB]:
            egfr_list = [candidate] if kind is LabKind.EGFR else []
            creatinine_list = [candidate] if kind is LabKind.CREATININE else []
            renal = renal_function(
                egfr_list, creatinine_list, conditions, birth_date=birth_date, sex=sex, now=now, skipped=[]
            )
            at = observation_time(candidate[2])
            if renal is not None and renal.egfr is not None:
                reported = renal.method.split(";")[0]
                out.append(
                    LabPoint(LabKind.EGFR, renal.measured_at, renal.egfr, reported, reported, None, renal.provenance)
                )
            elif renal is not None and renal.unreadable is not None:
                bad.append(UnreadablePoint(kind, renal.unreadable.effective, renal.unreadable.problem))
            elif renal is not None and kind is LabKind.CREATININE:
                bad.append(UnreadablePoint(kind, at, renal.method.split(";")[0]))


def _birth_date_and_sex(index: FhirIndex) -> tuple[Any, str | None]:
    for _, raw in index.by_type.get("Patient", [])[:1]:
        try:
            patient = validate(raw)
        except UnusableResource:
            return None, None
        return patient.get("birthDate"), string_or_none(patient.get("gender"))
    return None, None


def lab_series(prefetch: Mapping[str, Any | None], now: datetime) -> LabSeries:
    """Every potassium, magnesium and eGFR (measured, or computed from creatinine) result, oldest first."""
    now = parse_datetime(now) or now
    index = FhirIndex()
    index_prefetch(prefetch, index)
    for resource_type in ("Observation", "Condition"):
        index.by_type[resource_type] = [
            (where, raw) for where, raw in index.by_type.get(resource_type, []) if not entered_in_error(raw)
        ]
    candidates = lab_candidates(index)
    points: list[LabPoint] = []
    bad: list[UnreadablePoint] = []
    for kind in (LabKind.POTASSIUM, LabKind.MAGNESIUM):
        _electrolytes(kind, candidates[kind], now, points, bad)
    _kidney(index, candidates, now, points, bad)
    by_kind: dict[LabKind, tuple[LabPoint, ...]] = {}
    for kind in (LabKind.POTASSIUM, LabKind.MAGNESIUM, LabKind.EGFR):
        mine = [p for p in points if p.kind is kind]
        mine.sort(key=lambda p: (p.at is None, p.at or now))
        by_kind[kind] = tuple(mine)
    return LabSeries(by_kind, tuple(bad))


__all__ = ["MAX_POINTS_PER_LAB", "LabPoint", "LabSeries", "UnreadablePoint", "lab_series"]
