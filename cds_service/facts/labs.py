"""Potassium and magnesium Observations → the newest readable result of each (mmol/L), and the newest
result when it could not be read.

A record holds thousands of Observations; one pass reads only their code, status and time text,
orders the candidates newest first, and reads from the top until one is readable. Only final,
amended and corrected results are used: entered-in-error, cancelled and preliminary results are
neither readable nor unreadable (a preliminary result is not a result yet).

Units: potassium mmol/L = mEq/L, and a potassium without a unit is read (the number is the same in
both); a mass unit on a molar potassium code is a clash (the mass LOINC 75940-7 is mg/dL × 0.2558).
Magnesium mg/dL × 0.4114, mEq/L ÷ 2, mmol/L; a magnesium without a unit is not guessed.

When the newest result cannot be read (a unit clash, a value given as text, an implausible value —
potassium outside 1.0–10 mmol/L, magnesium outside 0.1–5 mmol/L, a negative value, a date in the
future beyond the clock skew) it becomes an `UnreadableLab` with its date, raw value and unit, the
problem and the lab's flag (LL/L/H/HH), and the older readable result is kept beside it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cds_service.facts import terminology
from cds_service.facts.dates import parse_datetime
from cds_service.facts.fhir_index import FhirIndex, concept_parts, reference_of, string_or_none
from cds_service.facts.fhir_json import UnusableResource, validate
from cds_service.facts.model import LabKind, LabResult, Provenance, SkippedResource, UnreadableLab

LAB_OK_STATUSES = frozenset({"final", "amended", "corrected"})
CLOCK_SKEW = timedelta(minutes=5)

_K_UNITS = {"mmol/l": 1.0, "meq/l": 1.0, "mmol/liter": 1.0}
_MG_UNITS = {"mg/dl": 0.4114, "mmol/l": 1.0, "meq/l": 0.5, "mmol/liter": 1.0}
_K_MASS_UNITS = {"mg/dl": 0.2558}
# Plausible serum values in mmol/L: outside, a result is unreadable, never data.
PLAUSIBLE_MMOL_L = {LabKind.POTASSIUM: (1.0, 10.0), LabKind.MAGNESIUM: (0.1, 5.0)}

Candidate = tuple[str, str, dict[str, Any], str]  # (time text, where, resource, LOINC)


def _unit_key(unit: str) -> str:
    return unit.strip().lower().replace(" ", "")


def to_mmol_per_l(kind: LabKind, value: float, unit: str, *, mass_code: bool = False) -> float | None:
    """K: mmol/L = mEq/L (mass LOINC: mg/dL × 0.2558); Mg: mg/dL × 0.4114, mEq/L ÷ 2."""
    table = (_K_MASS_UNITS if mass_code else _K_UNITS) if kind is LabKind.POTASSIUM else _MG_UNITS
    factor = table.get(_unit_key(unit))
    return None if factor is None else round(value * factor, 4)


def from_mmol_per_l(kind: LabKind, mmol_per_l: float, unit: str) -> float | None:
    """A concentration in mmol/L expressed in `unit` (molar units for potassium), or None."""
    table = _K_UNITS if kind is LabKind.POTASSIUM else _MG_UNITS
    factor = table.get(_unit_key(unit))
    return None if factor is None else mmol_per_l / factor


def _observation_loinc(resource: Mapping[str, Any]) -> str | None:
    """The LOINC code of an Observation that is in our lab tables, or None (hot path)."""
    concept = resource.get("code")
    if not isinstance(concept, dict):
        return None
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return None
    for coding in codings:
        if not isinstance(coding, dict):
            continue
        system = coding.get("system")
        if not isinstance(system, str) or system not in terminology.LOINC_SYSTEMS:
            continue
        code = coding.get("code")
        if isinstance(code, str) and terminology.lab_kind(code) is not None:
            return code.strip()
    return None


def _time_values(resource: Mapping[str, Any]) -> tuple[Any, ...]:
    period = resource.get("effectivePeriod")
    return (
        resource.get("effectiveDateTime"),
        resource.get("effectiveInstant"),
        period.get("start") if isinstance(period, dict) else None,
        resource.get("issued"),
    )


def observation_time(resource: Mapping[str, Any]) -> datetime | None:
    for value in _time_values(resource):
        parsed = parse_datetime(value)
        if parsed is not None:
            return parsed
    return None


def _raw_time_text(resource: Mapping[str, Any]) -> str:
    return next((v for v in _time_values(resource) if isinstance(v, str) and v), "")


def lab_candidates(index: FhirIndex) -> dict[LabKind, list[Candidate]]:
    """One pass over the Observations: results of each lab kind that may be used, newest text first."""
    by_kind: dict[LabKind, list[Candidate]] = {k: [] for k in LabKind}
    seen: set[str] = set()
    for where, resource in index.by_type.get("Observation", []):
        loinc = _observation_loinc(resource)
        kind = terminology.lab_kind(loinc) if loinc is not None else None
        if kind is None:
            continue
        status = resource.get("status")
        if not isinstance(status, str) or status.strip().lower() not in LAB_OK_STATUSES:
            continue
        ref = reference_of(resource)
        if ref is not None:
            if ref in seen:
                continue
            seen.add(ref)
        by_kind[kind].append((_raw_time_text(resource), where, resource, loinc))  # type: ignore[arg-type]
    for candidates in by_kind.values():
        candidates.sort(key=lambda c: c[0], reverse=True)
    return by_kind


# Text order can differ from time order only through UTC offsets (at most ±14 h): parse every
# candidate within this window of the newest before trusting the order.
_TIME_TEXT_WINDOW = timedelta(days=2)
_FLOOR = datetime.min.replace(tzinfo=UTC)


def newest_first(candidates: list[Candidate]) -> Iterator[tuple[datetime | None, str, dict[str, Any], str]]:
    """Candidates in true time order, parsing only those near the top by text order first."""
    top: list[tuple[datetime | None, str, dict[str, Any], str]] = []
    newest: datetime | None = None
    rest_from = len(candidates)
    for i, (_, where, resource, loinc) in enumerate(candidates):
        effective = observation_time(resource)
        if newest is not None and effective is not None and effective < newest - _TIME_TEXT_WINDOW:
            rest_from = i
            break
        if effective is not None and (newest is None or effective > newest):
            newest = effective
        top.append((effective, where, resource, loinc))
    top.sort(key=lambda c: c[0] or _FLOOR, reverse=True)
    yield from top
    rest = [(observation_time(r), where, r, loinc) for _, where, r, loinc in candidates[rest_from:]]
    rest.sort(key=lambda c: c[0] or _FLOOR, reverse=True)
    yield from rest


@dataclass(frozen=True, slots=True)
class RawReading:
    """What an Observation says, read defensively before any judgement."""

    value: float | None
    raw_value: str
    raw_unit: str
    unit_text: str  # `unit` as sent, for display
    codes: tuple[str, ...]  # UCUM code then unit text, to try in order
    comparator: str | None
    interpretation: str | None
    problem: str | None  # why the value itself cannot be read


def interpretation_flag(resource: Mapping[str, Any]) -> str | None:
    concepts = resource.get("interpretation")
    if isinstance(concepts, dict):
        concepts = [concepts]
    for concept in concepts if isinstance(concepts, list) else []:
        codings, _ = concept_parts(concept)
        if codings:
            return codings[0][1][:8]
    return None


def read_value(resource: Mapping[str, Any]) -> RawReading:
    flag = interpretation_flag(resource)
    quantity = resource.get("valueQuantity")
    if not isinstance(quantity, dict):
        text = resource.get("valueString")
        if isinstance(text, str):
            return RawReading(None, text[:40], "", "", (), None, flag, "value is text")
        return RawReading(None, "", "", "", (), None, flag, "no value")
    raw = quantity.get("value")
    code_given, unit_given, comparator_given = quantity.get("code"), quantity.get("unit"), quantity.get("comparator")
    code = code_given if isinstance(code_given, str) else ""
    unit = unit_given if isinstance(unit_given, str) else ""
    comparator = comparator_given if isinstance(comparator_given, str) else None
    codes = tuple(u for u in (code, unit) if u.strip())
    raw_text = str(raw)[:40] if raw is not None else ""
    if raw is None:
        return RawReading(None, "", unit or code, unit, codes, comparator, flag, "no value")
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        problem = "value is text" if isinstance(raw, str) else "value is not a number"
        return RawReading(None, raw_text, unit or code, unit, codes, comparator, flag, problem)
    value = float(raw)
    if not math.isfinite(value):
        return RawReading(None, raw_text, unit or code, unit, codes, comparator, flag, "value is not a number")
    if value < 0:
        return RawReading(value, raw_text, unit or code, unit, codes, comparator, flag, "negative value")
    return RawReading(value, raw_text, unit or code, unit, codes, comparator, flag, None)


def _convert(kind: LabKind, reading: RawReading, loinc: str) -> tuple[float | None, str | None]:
    """(mmol/L, problem)."""
    assert reading.value is not None
    mass = terminology.is_potassium_mass_code(loinc)
    if not reading.codes:
        if kind is LabKind.POTASSIUM and not mass:
            return round(reading.value, 4), None  # mmol/L and mEq/L are the same number
        return None, "no unit"
    for unit in reading.codes:
        mmol = to_mmol_per_l(kind, reading.value, unit, mass_code=mass)
        if mmol is not None:
            return mmol, None
    if kind is LabKind.POTASSIUM and not mass and any(_unit_key(u) in _K_MASS_UNITS for u in reading.codes):
        return None, f"unit {reading.raw_unit} on a mmol/L code"
    return None, f"unit {reading.raw_unit} not convertible to mmol/L"


def _in_future(text: Any, when: datetime | None, now: datetime) -> bool:
    if when is None:
        return False
    date_only = isinstance(text, str) and len(text.strip()) <= 10
    return when > now + (timedelta(hours=14) if date_only else CLOCK_SKEW)


def latest_lab(
    kind: LabKind,
    candidates: list[Candidate],
    skipped: list[SkippedResource],
    now: datetime | None = None,
) -> tuple[LabResult | None, UnreadableLab | None]:
    """The newest readable result, and the newest result when it is newer and could not be read."""
    now = now or datetime.now(UTC)
    unreadable: UnreadableLab | None = None
    for effective, where, raw, loinc in newest_first(candidates):
        try:
            result, problem, reading = _read(kind, effective, where, raw, loinc, now)
        except Exception:  # hostile JSON never escapes the facts layer
            result, problem, reading = None, "result could not be read", None
        if result is not None:
            return result, unreadable
        if unreadable is None:
            unreadable = UnreadableLab(
                kind=kind,
                effective=effective,
                raw_value=reading.raw_value if reading else "",
                raw_unit=reading.raw_unit if reading else "",
                problem=problem or "could not be read",
                interpretation=reading.interpretation if reading else None,
                provenance=Provenance(reference_of(raw) or where, "value[x]"),
            )
        else:
            skipped.append(SkippedResource(where, reference_of(raw), problem or "could not be read"))
    return None, unreadable


def _read(
    kind: LabKind, effective: datetime | None, where: str, raw: dict[str, Any], loinc: str, now: datetime
) -> tuple[LabResult | None, str | None, RawReading | None]:
    reading = read_value(raw)
    if reading.problem is not None:
        return None, reading.problem, reading
    try:
        validate(raw)
    except UnusableResource as exc:
        return None, f"not valid FHIR ({str(exc).split(':')[0][:80]})", reading
    time_text = next((v for v in _time_values(raw) if isinstance(v, str) and v), None)
    if _in_future(time_text, effective, now):
        return None, "date in the future", reading
    mmol, problem = _convert(kind, reading, loinc)
    if mmol is None:
        return None, problem, reading
    low, high = PLAUSIBLE_MMOL_L[kind]
    if not (low <= mmol <= high):
        return None, f"implausible value (outside {low:g}–{high:g} mmol/L)", reading
    assert reading.value is not None
    return (
        LabResult(
            kind=kind,
            value_mmol_l=mmol,
            value=reading.value,
            unit=reading.unit_text or (reading.codes[0] if reading.codes else ""),
            effective=effective,
            loinc=loinc,
            status=string_or_none(raw.get("status")),
            comparator=reading.comparator,
            preliminary=False,
            interpretation=reading.interpretation,
            provenance=Provenance(reference_of(raw) or where, "valueQuantity"),
        ),
        None,
        reading,
    )
