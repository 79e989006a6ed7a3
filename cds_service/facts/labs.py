"""Potassium and magnesium Observations → the latest usable result of each, in mmol/L.

A record holds thousands of Observations; one pass reads only their code, status and time text,
orders the K and Mg candidates newest first, and validates from the top until one is usable. Units:
potassium mmol/L = mEq/L (a mass LOINC in mg/dL × 0.2558); magnesium mg/dL × 0.4114, mEq/L ÷ 2. A
result that cannot be converted is reported as skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cds_service.facts import terminology
from cds_service.facts.dates import parse_datetime
from cds_service.facts.fhir_index import FhirIndex, concept_parts, reference_of, string_or_none
from cds_service.facts.fhir_json import UnusableResource, validate
from cds_service.facts.model import LabKind, LabResult, Provenance, SkippedResource

LAB_OK_STATUSES = frozenset({"final", "amended", "corrected"})

_K_UNITS = {"mmol/l": 1.0, "meq/l": 1.0, "mmol/liter": 1.0}
_MG_UNITS = {"mg/dl": 0.4114, "mmol/l": 1.0, "meq/l": 0.5, "mmol/liter": 1.0}
_K_MASS_UNITS = {"mg/dl": 0.2558}


def to_mmol_per_l(kind: LabKind, value: float, unit: str, *, mass_code: bool = False) -> float | None:
    """K: mmol/L = mEq/L (mass LOINC: mg/dL × 0.2558); Mg: mg/dL × 0.4114, mEq/L ÷ 2."""
    key = unit.strip().lower().replace(" ", "")
    table = (_K_MASS_UNITS if mass_code else _K_UNITS) if kind is LabKind.POTASSIUM else _MG_UNITS
    factor = table.get(key)
    return None if factor is None else round(value * factor, 4)


def from_mmol_per_l(kind: LabKind, mmol_per_l: float, unit: str) -> float | None:
    """A concentration in mmol/L expressed in `unit` (molar units for potassium), or None."""
    table = _K_UNITS if kind is LabKind.POTASSIUM else _MG_UNITS
    factor = table.get(unit.strip().lower().replace(" ", ""))
    return None if factor is None else mmol_per_l / factor


def _observation_loinc(resource: Mapping[str, Any]) -> str | None:
    """The K/Mg LOINC code of an Observation, or None (hot path: thousands per patient)."""
    concept = resource.get("code")
    if not isinstance(concept, dict):
        return None
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return None
    for coding in codings:
        if not isinstance(coding, dict) or coding.get("system") not in terminology.LOINC_SYSTEMS:
            continue
        code = coding.get("code")
        if isinstance(code, str) and terminology.lab_kind(code) is not None:
            return code.strip()
    return None


def _time_values(resource: Mapping[str, Any]) -> tuple[Any, ...]:
    """An Observation's time fields in order of preference."""
    period = resource.get("effectivePeriod")
    return (
        resource.get("effectiveDateTime"),
        resource.get("effectiveInstant"),
        period.get("start") if isinstance(period, dict) else None,
        resource.get("issued"),
    )


def _observation_time(resource: Mapping[str, Any]) -> datetime | None:
    for value in _time_values(resource):
        parsed = parse_datetime(value)
        if parsed is not None:
            return parsed
    return None


def _raw_time_text(resource: Mapping[str, Any]) -> str:
    """The effective time as written, for a cheap first ordering (ISO 8601 sorts by text)."""
    return next((v for v in _time_values(resource) if isinstance(v, str) and v), "")


def lab_candidates(index: FhirIndex) -> dict[LabKind, list[tuple[str, str, dict[str, Any], str]]]:
    """One pass over the Observations: K and Mg results that may be used, newest text first.

    Years of history hold thousands of Observations; only their code, status and time text are
    read here, and nothing is validated.
    """
    by_kind: dict[LabKind, list[tuple[str, str, dict[str, Any], str]]] = {k: [] for k in LabKind}
    seen: set[str] = set()
    for where, resource in index.by_type.get("Observation", []):
        loinc = _observation_loinc(resource)
        kind = terminology.lab_kind(loinc) if loinc is not None else None
        if kind is None:
            continue
        status = resource.get("status")
        if status not in LAB_OK_STATUSES and status != "preliminary":
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


def _newest_first(
    candidates: list[tuple[str, str, dict[str, Any], str]],
) -> Iterator[tuple[datetime | None, str, dict[str, Any], str]]:
    """Candidates in true time order, parsing only those near the top by text order first."""
    floor = datetime.min.replace(tzinfo=UTC)
    top: list[tuple[datetime | None, str, dict[str, Any], str]] = []
    newest: datetime | None = None
    rest_from = len(candidates)
    for i, (_, where, resource, loinc) in enumerate(candidates):
        effective = _observation_time(resource)
        if newest is not None and effective is not None and effective < newest - _TIME_TEXT_WINDOW:
            rest_from = i
            break
        if effective is not None and (newest is None or effective > newest):
            newest = effective
        top.append((effective, where, resource, loinc))
    top.sort(key=lambda c: c[0] or floor, reverse=True)
    yield from top
    # Reached only when nothing near the top was usable.
    rest = [(_observation_time(r), where, r, loinc) for _, where, r, loinc in candidates[rest_from:]]
    rest.sort(key=lambda c: c[0] or floor, reverse=True)
    yield from rest


def latest_lab(
    kind: LabKind, candidates: list[tuple[str, str, dict[str, Any], str]], skipped: list[SkippedResource]
) -> LabResult | None:
    ordered = _newest_first(candidates)
    for effective, where, raw, loinc in ordered:
        try:
            resource = validate(raw)
        except UnusableResource as exc:
            skipped.append(SkippedResource(where, reference_of(raw), str(exc)[:200]))
            continue
        quantity = resource.get("valueQuantity")
        if not isinstance(quantity, dict) or quantity.get("value") is None:
            skipped.append(SkippedResource(where, reference_of(raw), "no numeric valueQuantity"))
            continue
        value = float(quantity["value"])
        unit = str(quantity.get("code") or quantity.get("unit") or "")
        mass = terminology.is_potassium_mass_code(loinc)
        mmol = to_mmol_per_l(kind, value, unit, mass_code=mass)
        if mmol is None and quantity.get("unit") and quantity.get("code"):
            mmol = to_mmol_per_l(kind, value, str(quantity["unit"]), mass_code=mass)
        if mmol is None:
            reason = f"unit not convertible to mmol/L for {kind.value}" if unit else "value has no unit"
            skipped.append(SkippedResource(where, reference_of(raw), reason))
            continue
        interpretation = None
        for concept in resource.get("interpretation") or []:
            codings, _ = concept_parts(concept)
            if codings:
                interpretation = codings[0][1]
                break
        status = string_or_none(resource.get("status"))
        return LabResult(
            kind=kind,
            value_mmol_l=mmol,
            value=value,
            unit=str(quantity.get("unit") or quantity.get("code") or ""),
            effective=effective,
            loinc=loinc,
            status=status,
            comparator=string_or_none(quantity.get("comparator")),
            preliminary=status == "preliminary",
            interpretation=interpretation,
            provenance=Provenance(reference_of(raw) or where, "valueQuantity"),
        )
    return None
