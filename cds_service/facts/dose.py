"""Daily dose (mg/day) and supply duration (days) from FHIR R4 Dosage and dispenseRequest JSON.

Works on the JSON of resources the facts layer has already validated with fhir.resources (and
stays defensive, so tests and callers may hand in raw dicts). Safety checks need the *maximum*
daily amount: ranges use their high end, PRN orders count every allowed dose, capped by
`maxDosePerPeriod`. Anything that cannot be worked out exactly becomes
`DailyDose(None, unknown_reason=...)`; nothing is guessed.

How long a supply lasts is another question: it is worked out at the *usual* daily use (see
`DailyDose.usual_mg_per_day`), from `expectedSupplyDuration` or quantity ÷ usual use, with refills;
never from `validityPeriod` (when the prescription expires; Epic sends one year).

Impossible values are unreadable, never data: more than `MAX_MG_PER_DAY` of any drug, a dosing
period under a minute, more than one dose a minute, a supply beyond `MAX_SUPPLY_DAYS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from cds_service.facts.memo import BoundedMemo
from cds_service.facts.model import DailyDose, Provenance
from cds_service.facts.supply import supply_duration
from cds_service.facts.timing import _PRN_WORDS, TIMING_CODES, Frequency, frequency_from_code, frequency_from_timing
from cds_service.facts.units import (
    IMPLAUSIBLE,
    MASS_TO_MG,
    MAX_DOSES_PER_DAY,
    MAX_MG_PER_DAY,
    MAX_SUPPLY_DAYS,
    MIN_PERIOD_DAYS,
    PERIOD_DAYS,
    Strength,
    _fmt,
    _number,
    _plural,
    duration_days,
    unit_kind,
    unit_label,
)

# --- daily dose --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Part:
    mg_per_day: float | None
    explanation: str
    reason: str | None
    as_needed: bool
    from_range: bool
    units_per_day: float | None
    unit: str | None
    usual_mg_per_day: float | None = None
    usual_units_per_day: float | None = None


def _dose_quantity(dosage: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, bool, str | None]:
    """(dose quantity, from_range, reason) from doseAndRate (or an R3-style root doseQuantity)."""
    entries = dosage.get("doseAndRate")
    candidates: list[Mapping[str, Any]] = []
    if isinstance(entries, list):
        candidates = [e for e in entries if isinstance(e, Mapping)]
    root = {k: dosage[k] for k in ("doseQuantity", "doseRange") if k in dosage}
    if root:
        candidates.append(root)
    for entry in candidates:
        if isinstance(entry.get("doseQuantity"), Mapping):
            return entry["doseQuantity"], False, None
        dose_range = entry.get("doseRange")
        if isinstance(dose_range, Mapping):
            high = dose_range.get("high")
            if isinstance(high, Mapping) and high.get("value") is not None:
                return high, True, None
            return None, True, "dose range has no upper limit"
    return None, False, "no dose quantity"


def _to_mg(
    quantity: Mapping[str, Any], strength: Strength | None, combination: bool
) -> tuple[float | None, str, str | None, str | None]:
    """(mg per dose, explanation fragment, unit label for units, reason if unknown)."""
    value = _number(quantity.get("value"))
    if value is None:
        return None, "", None, "dose value is missing or not a number"
    if value < 0:
        return None, "", None, "dose value is negative"
    kind = unit_kind(quantity)
    label = unit_label(quantity)
    if kind is None:
        shown = quantity.get("unit") or quantity.get("code")
        return None, "", None, f"dose unit '{shown}' not understood" if shown else "dose has no unit"
    if kind[0] == "mass":
        if combination:
            return None, "", None, "dose given in mass for a combination product (which ingredient?)"
        mg = value * kind[1]
        return mg, f"{_fmt(value)} {label}", label, None
    if strength is None:
        return None, "", label, f"dose in {_plural(label)} but the product strength is unknown"
    if kind[0] == "ml" and not strength.per_ml:
        return None, "", label, "dose in mL but the product strength is per tablet/capsule"
    if kind[0] == "unit" and strength.per_ml:
        return None, "", label, f"dose in {_plural(label)} but the product strength is per mL"
    mg = value * strength.mg
    per = "mL" if strength.per_ml else label
    plural = "" if value == 1 or label == "mL" else "s"
    return mg, f"{_fmt(value)} {label}{plural} × {_fmt(strength.mg)} mg/{per}", label, None


def _max_per_day(
    dosage: Mapping[str, Any], strength: Strength | None, combination: bool
) -> tuple[float | None, str | None]:
    ratio = dosage.get("maxDosePerPeriod")
    if not isinstance(ratio, Mapping):
        return None, None
    numerator = ratio.get("numerator")
    denominator = ratio.get("denominator")
    if not isinstance(numerator, Mapping) or not isinstance(denominator, Mapping):
        return None, "maxDosePerPeriod incomplete"
    mg, _, _, reason = _to_mg(numerator, strength, combination)
    days = duration_days(denominator)
    if mg is None or not days:
        return None, reason or "maxDosePerPeriod period not understood"
    return mg / days, None


def _as_needed(dosage: Mapping[str, Any]) -> bool:
    if dosage.get("asNeededBoolean") is True:
        return True
    if isinstance(dosage.get("asNeededCodeableConcept"), Mapping):
        return True
    code = (dosage.get("timing") or {}).get("code") if isinstance(dosage.get("timing"), Mapping) else None
    if isinstance(code, Mapping):
        texts = [code.get("text")] + [c.get("code") for c in code.get("coding") or [] if isinstance(c, Mapping)]
        return any(isinstance(t, str) and _PRN_WORDS.search(t) for t in texts)
    return False


def _one_dosage(dosage: Mapping[str, Any], strength: Strength | None, combination: bool) -> _Part:
    as_needed = _as_needed(dosage)
    quantity, from_range, reason = _dose_quantity(dosage)
    if quantity is None:
        if not any(k in dosage for k in ("doseAndRate", "doseQuantity", "doseRange", "timing")) and dosage.get("text"):
            reason = "dosage given only as free text"
        return _Part(None, "", reason, as_needed, from_range, None, None)
    mg_per_dose, dose_text, unit, reason = _to_mg(quantity, strength, combination)
    if mg_per_dose is None:
        return _Part(None, "", reason, as_needed, from_range, None, unit)
    if mg_per_dose > MAX_MG_PER_DAY:
        return _Part(None, "", f"{IMPLAUSIBLE} dose (more than 100 g)", as_needed, from_range, None, unit)
    timing = dosage.get("timing")
    frequency, freq_reason = frequency_from_timing(timing)
    cap, _ = _max_per_day(dosage, strength, combination)
    if cap is not None and not math.isfinite(cap):
        cap = None
    units_value = _number(quantity.get("value"))
    kind = unit_kind(quantity)
    counted = kind is not None and kind[0] != "mass"
    if frequency is None:
        if freq_reason and freq_reason.startswith(IMPLAUSIBLE):
            return _Part(None, "", freq_reason, as_needed, from_range, None, unit)
        if cap is not None:
            return _Part(
                cap,
                f"maximum {_fmt(cap)} mg per day (maxDosePerPeriod)",
                None,
                as_needed,
                from_range,
                None,
                unit,
            )
        why = freq_reason or "no frequency"
        if as_needed:
            why = f"as-needed order without frequency or maximum ({why})"
        return _Part(None, "", why, as_needed, from_range, None, unit)
    mg_per_day = mg_per_dose * frequency.per_day
    units_per_day = units_value * frequency.per_day if counted and units_value is not None else None
    text = f"{dose_text} × {frequency.text}"
    if cap is not None and cap < mg_per_day:
        text += f", capped by maximum {_fmt(cap)} mg/day (maxDosePerPeriod)"
        if units_per_day is not None:
            units_per_day *= cap / mg_per_day
        mg_per_day = cap
    if as_needed:
        text += " as needed (maximum)"
    if from_range:
        text = text.replace(dose_text, f"up to {dose_text}", 1)
    # The usual use (how long a supply lasts): `frequency`, not `frequencyMax`; the same cap.
    usual_mg: float | None = None
    usual_units: float | None = None
    usual_frequency, _ = frequency_from_timing(timing, usual=True)
    if usual_frequency is not None:
        usual_mg = mg_per_dose * usual_frequency.per_day
        usual_units = units_value * usual_frequency.per_day if counted and units_value is not None else None
        if cap is not None and cap < usual_mg:
            if usual_units is not None:
                usual_units *= cap / usual_mg
            usual_mg = cap
    return _Part(mg_per_day, text, None, as_needed, from_range, units_per_day, unit, usual_mg, usual_units)


# A daily dose is a pure function of the dosage instructions and the strength, and the same sigs
# recur across patients: remembered by content, the provenance put back on each use.
DAILY_DOSES: BoundedMemo[DailyDose] = BoundedMemo(8192)


def daily_dose(
    dosages: Sequence[Any] | None,
    strength: Strength | None = None,
    *,
    combination: bool = False,
    source: Provenance | None = None,
) -> DailyDose:
    """Total mg/day of the main ingredient over all dosageInstruction entries (see `_daily_dose`)."""
    try:
        key = (orjson.dumps(dosages, option=orjson.OPT_SORT_KEYS), strength, combination)
    except (TypeError, orjson.JSONEncodeError):
        return _daily_dose(dosages, strength, combination=combination, source=source)
    known = DAILY_DOSES.get(key)
    if known is None:
        known = _daily_dose(dosages, strength, combination=combination, source=None)
        DAILY_DOSES.put(key, known)
    return known if source is None else replace(known, source=source)


def _daily_dose(
    dosages: Sequence[Any] | None,
    strength: Strength | None = None,
    *,
    combination: bool = False,
    source: Provenance | None = None,
) -> DailyDose:
    """Total mg/day of the main ingredient over all dosageInstruction entries.

    Entries sharing a `sequence` (or without one) run concurrently and add up; different
    sequences run one after another, so the day's maximum is the largest sequence total.
    """
    if not dosages:
        return DailyDose(None, unknown_reason="no dosage instructions", source=source)
    groups: dict[Any, list[_Part]] = {}
    for dosage in dosages:
        if not isinstance(dosage, Mapping):
            return DailyDose(None, unknown_reason="dosage instruction is not an object", source=source)
        sequence = dosage.get("sequence")
        groups.setdefault(sequence if isinstance(sequence, int) else None, []).append(
            _one_dosage(dosage, strength, combination)
        )
    totals: list[tuple[float, str, float | None, str | None, float | None, float | None]] = []
    all_parts = [p for parts in groups.values() for p in parts]
    as_needed = any(p.as_needed for p in all_parts)
    from_range = any(p.from_range for p in all_parts)
    for parts in groups.values():
        for part in parts:
            if part.mg_per_day is None:
                reason = part.reason or "dose unknown"
                if len(all_parts) > 1:
                    reason = f"one of {len(all_parts)} dosage instructions: {reason}"
                return DailyDose(None, unknown_reason=reason, as_needed=as_needed, from_range=from_range, source=source)
        mg = sum(p.mg_per_day or 0.0 for p in parts)
        unit_values = [p.units_per_day for p in parts]
        units = sum(u for u in unit_values if u is not None) if all(u is not None for u in unit_values) else None
        units_label = parts[0].unit if len({p.unit for p in parts}) == 1 else None
        text = " + ".join(p.explanation for p in parts)
        usual_values = [p.usual_mg_per_day for p in parts]
        usual_mg = sum(u for u in usual_values if u is not None) if None not in usual_values else None
        usual_unit_values = [p.usual_units_per_day for p in parts]
        usual_units = sum(u for u in usual_unit_values if u is not None) if None not in usual_unit_values else None
        totals.append((mg, text, units, units_label, usual_mg, usual_units))
    mg, text, units, label, usual_mg, usual_units = max(totals, key=lambda t: t[0])
    if not math.isfinite(mg) or mg > MAX_MG_PER_DAY:
        return DailyDose(
            None,
            unknown_reason=f"{IMPLAUSIBLE} daily dose (more than 100 g a day)",
            as_needed=as_needed,
            from_range=from_range,
            source=source,
        )
    if len(groups) > 1:
        text = f"largest of {len(groups)} sequential instructions: {text}"
    return DailyDose(
        mg_per_day=round(mg, 9),
        explanation=f"{text} = {_fmt(mg)} mg/day",
        as_needed=as_needed,
        from_range=from_range,
        units_per_day=round(units, 9) if units is not None else None,
        unit=label,
        source=source,
        usual_mg_per_day=round(usual_mg, 9) if usual_mg is not None else None,
        usual_units_per_day=round(usual_units, 9) if usual_units is not None else None,
    )


__all__ = [
    "IMPLAUSIBLE",
    "MASS_TO_MG",
    "MAX_DOSES_PER_DAY",
    "MAX_MG_PER_DAY",
    "MAX_SUPPLY_DAYS",
    "MIN_PERIOD_DAYS",
    "PERIOD_DAYS",
    "TIMING_CODES",
    "Frequency",
    "Strength",
    "daily_dose",
    "duration_days",
    "frequency_from_code",
    "frequency_from_timing",
    "supply_duration",
    "unit_kind",
    "unit_label",
]
