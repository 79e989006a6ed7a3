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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from cds_service.facts.dates import parse_datetime
from cds_service.facts.memo import BoundedMemo
from cds_service.facts.model import DailyDose, Provenance, SupplyDuration

# Dosing plausibility: beyond these an order's numbers are unreadable, never data.
MAX_MG_PER_DAY = 100_000.0  # 100 g of any drug in a day
MIN_PERIOD_DAYS = 1 / 1440  # a dosing period below one minute
MAX_DOSES_PER_DAY = 1440.0  # more than one dose a minute
MAX_SUPPLY_DAYS = 3650.0  # ten years of supply
IMPLAUSIBLE = "implausible"  # the word every plausibility reason starts with

# --- units -------------------------------------------------------------------------------------

MASS_TO_MG = {
    "mg": 1.0,
    "milligram": 1.0,
    "milligrams": 1.0,
    "g": 1000.0,
    "gm": 1000.0,
    "gram": 1000.0,
    "grams": 1000.0,
    "mcg": 0.001,
    "ug": 0.001,
    "µg": 0.001,
    "μg": 0.001,
    "microgram": 0.001,
    "micrograms": 0.001,
}
_TABLET_WORDS = {
    "{tbl}",
    "tab(s)",
    "cap(s)",
    "{tab(s)}",
    "tbl",
    "tab",
    "tabs",
    "tablet",
    "tablets",
    "{tablet}",
    "{tablets}",
    "{tab}",
    "{pill}",
    "pill",
    "pills",
    "{pills}",
    "{capsule}",
    "{capsules}",
    "{cap}",
    "cap",
    "caps",
    "capsule",
    "capsules",
}
_ML_WORDS = {"ml", "milliliter", "milliliters", "millilitre", "cm3"}

PERIOD_DAYS = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": 30.0,
    "a": 365.0,
}
_DURATION_WORDS = {
    "s": "s",
    "sec": "s",
    "second": "s",
    "seconds": "s",
    "min": "min",
    "minute": "min",
    "minutes": "min",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "d": "d",
    "day": "d",
    "days": "d",
    "wk": "wk",
    "week": "wk",
    "weeks": "wk",
    "mo": "mo",
    "month": "mo",
    "months": "mo",
    "a": "a",
    "year": "a",
    "years": "a",
}


def unit_kind(quantity: Mapping[str, Any]) -> tuple[str, float] | None:
    """('mass', mg factor) | ('unit', 1) for tablets/capsules | ('ml', 1); None if unknown."""
    for key in ("code", "unit"):
        raw = quantity.get(key)
        if not isinstance(raw, str) or not raw.strip():
            continue
        token = raw.strip()
        lowered = token.lower()
        if lowered in MASS_TO_MG:
            return "mass", MASS_TO_MG[lowered]
        if lowered in _TABLET_WORDS:
            return "unit", 1.0
        if lowered in _ML_WORDS:
            return "ml", 1.0
    return None


def unit_label(quantity: Mapping[str, Any]) -> str:
    kind = unit_kind(quantity)
    if kind is None:
        return str(quantity.get("unit") or quantity.get("code") or "")
    if kind[0] == "mass":
        return str(quantity.get("code") or quantity.get("unit"))
    if kind[0] == "ml":
        return "mL"
    raw = str(quantity.get("unit") or quantity.get("code") or "").strip("{}").lower()
    return "capsule" if raw.startswith("cap") else "tablet"


def duration_days(quantity: Mapping[str, Any] | None) -> float | None:
    """A FHIR Duration (value + UCUM code or unit word) in days."""
    if not isinstance(quantity, Mapping):
        return None
    value = _number(quantity.get("value"))
    if value is None or value < 0:
        return None
    for key in ("code", "unit"):
        raw = quantity.get(key)
        if isinstance(raw, str):
            unit = _DURATION_WORDS.get(raw.strip().lower())
            if unit:
                return value * PERIOD_DAYS[unit]
    return None


# --- timing ------------------------------------------------------------------------------------

# HL7 v3 GTSAbbreviation codes (and the spellings EHRs put in timing.code.text).
TIMING_CODES: dict[str, float] = {
    "QD": 1,
    "DAILY": 1,
    "QDAY": 1,
    "ONCE DAILY": 1,
    "BID": 2,
    "TID": 3,
    "QID": 4,
    "AM": 1,
    "QAM": 1,
    "PM": 1,
    "QPM": 1,
    "HS": 1,
    "QHS": 1,
    "BEDTIME": 1,
    "QOD": 0.5,
    "Q1H": 24,
    "Q2H": 12,
    "Q3H": 8,
    "Q4H": 6,
    "Q6H": 4,
    "Q8H": 3,
    "Q12H": 2,
    "Q24H": 1,
    "Q48H": 0.5,
    "Q72H": 1 / 3,
    "WK": 1 / 7,
    "QWK": 1 / 7,
    "MO": 1 / 30,
}
_TIMING_TEXT = {
    "once a day": 1,
    "once daily": 1,
    "every day": 1,
    "twice a day": 2,
    "twice daily": 2,
    "two times a day": 2,
    "three times a day": 3,
    "three times daily": 3,
    "four times a day": 4,
    "four times daily": 4,
    "at bedtime": 1,
    "every other day": 0.5,
}
_QNH = re.compile(r"^Q(\d+(?:\.\d+)?)H$")
_PRN_WORDS = re.compile(r"\bPRN\b|\bAS NEEDED\b", re.I)


@dataclass(frozen=True, slots=True)
class Frequency:
    per_day: float
    text: str  # "TID", "every 12 h", "2 per day"


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "∞" if value > 0 else ("-∞" if value < 0 else "?")
    if abs(value) >= 1e15:
        return f"{value:.3g}"
    if math.isclose(value, round(value), abs_tol=1e-9):
        return str(round(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _plural(label: str) -> str:
    return label if label == "mL" else f"{label}s"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            return None
    else:
        try:
            result = float(value)  # Decimal
        except (TypeError, ValueError):
            return None
    return result if math.isfinite(result) else None


def frequency_from_code(code: str) -> Frequency | None:
    """A timing.code code or text: 'BID', 'Q6H', 'Q6H PRN', 'twice daily'."""
    cleaned = _PRN_WORDS.sub(" ", code).strip().upper()
    cleaned = re.sub(r"\s+", " ", cleaned)
    if not cleaned:
        return None
    if cleaned in TIMING_CODES:
        return Frequency(TIMING_CODES[cleaned], cleaned)
    compact = cleaned.replace(" ", "")
    if compact in TIMING_CODES:
        return Frequency(TIMING_CODES[compact], compact)
    match = _QNH.match(compact)
    if match:
        hours = float(match.group(1))
        if hours > 0:
            return Frequency(24 / hours, compact)
    first = cleaned.split(" ")[0]
    if first in TIMING_CODES and len(cleaned.split(" ")) <= 3:
        return Frequency(TIMING_CODES[first], first)
    lowered = cleaned.lower()
    for phrase, per_day in _TIMING_TEXT.items():
        if lowered == phrase:
            return Frequency(per_day, phrase)
    return None


def frequency_from_timing(
    timing: Mapping[str, Any] | None, *, usual: bool = False
) -> tuple[Frequency | None, str | None]:
    """Doses per day (the maximum when a range is given; `usual`: `frequency`, not `frequencyMax`)
    and, if unknown, why. A period under a minute or more than a dose a minute is implausible."""
    found, reason = _frequency_from_timing(timing, usual=usual)
    if found is not None and not (0 < found.per_day <= MAX_DOSES_PER_DAY):
        return None, f"{IMPLAUSIBLE} frequency (more than one dose a minute)"
    return found, reason


def _frequency_from_timing(timing: Mapping[str, Any] | None, *, usual: bool) -> tuple[Frequency | None, str | None]:
    if not isinstance(timing, Mapping):
        return None, "no frequency: no timing given"
    repeat = timing.get("repeat")
    if isinstance(repeat, Mapping) and repeat:
        if usual:
            freq = _number(repeat.get("frequency"))
            if freq is None and repeat.get("frequencyMax") is not None:
                return None, "only a maximum frequency is given"
        else:
            freq = _number(repeat.get("frequencyMax")) or _number(repeat.get("frequency"))
        period = _number(repeat.get("period"))
        unit = repeat.get("periodUnit")
        times = repeat.get("timeOfDay") if isinstance(repeat.get("timeOfDay"), list) else []
        when = repeat.get("when") if isinstance(repeat.get("when"), list) else []
        if period is not None:
            if not isinstance(unit, str) or unit not in PERIOD_DAYS:
                return None, f"timing period unit '{unit}' not understood"
            if period <= 0:
                return None, "timing period is zero or negative"
            if period * PERIOD_DAYS[unit] < MIN_PERIOD_DAYS:
                return None, f"{IMPLAUSIBLE} timing period (below one minute)"
            if freq is None:
                freq = float(len(times) or len(when) or 1)
            if freq <= 0:
                return None, "timing frequency is zero or negative"
            per_day = freq / (period * PERIOD_DAYS[unit])
            if unit == "h" and freq == 1:
                text = f"every {_fmt(period)} h"
            elif unit == "d" and period == 1:
                text = f"{_fmt(freq)} per day"
            else:
                text = f"{_fmt(freq)} per {_fmt(period)} {unit}"
            if repeat.get("frequencyMax") is not None and not usual:
                text += " (maximum frequency)"
            return Frequency(per_day, text), None
        if times or when:
            count = len(times) or len(when)
            return Frequency(float(count), f"{count} per day (times of day)"), None
        if freq is not None:
            return None, "timing frequency without a period"
    code = timing.get("code")
    if isinstance(code, Mapping):
        candidates: list[str] = []
        for coding in code.get("coding") or []:
            if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
                candidates.append(coding["code"])
        if isinstance(code.get("text"), str):
            candidates.append(code["text"])
        for coding in code.get("coding") or []:
            if isinstance(coding, Mapping) and isinstance(coding.get("display"), str):
                candidates.append(coding["display"])
        for candidate in candidates:
            found = frequency_from_code(candidate)
            if found:
                return found, None
        return None, f"timing code '{candidates[0] if candidates else '?'}' not understood"
    return None, "no frequency in timing"


# --- daily dose --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Strength:
    """Strength of the main ingredient per unit (tablet/capsule) or per mL."""

    mg: float
    per_ml: bool
    source: str  # "RxNorm table", "Medication.ingredient.strength"


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


# --- supply ------------------------------------------------------------------------------------


def supply_duration(
    dispense: Mapping[str, Any] | None,
    dose: DailyDose,
    *,
    validity_start: datetime | None = None,
    validity_end: datetime | None = None,
    dosages: Sequence[Any] | None,
    reference: str,
    strength: Strength | None = None,
) -> SupplyDuration:
    """Days the order covers, in the order: expectedSupplyDuration (× fills), quantity ÷ usual daily
    use (× fills), timing bounds.

    `validity_start`/`validity_end` are accepted for callers' convenience and deliberately not used: a
    validity period is when the prescription expires (Epic sends one year for a 7-day course), never
    the course length. A supply beyond `MAX_SUPPLY_DAYS` is implausible and unknown.
    """
    found = _supply_duration(dispense, dose, dosages=dosages, reference=reference, strength=strength)
    if found.days is not None and not (0 < found.days <= MAX_SUPPLY_DAYS):
        return SupplyDuration(None, "", f"{IMPLAUSIBLE} supply ({found.method} beyond {_fmt(MAX_SUPPLY_DAYS)} days)")
    return found


def _supply_duration(
    dispense: Mapping[str, Any] | None,
    dose: DailyDose,
    *,
    dosages: Sequence[Any] | None,
    reference: str,
    strength: Strength | None,
) -> SupplyDuration:
    dispense = dispense if isinstance(dispense, Mapping) else {}
    repeats_raw = dispense.get("numberOfRepeatsAllowed")
    repeats = int(repeats_raw) if isinstance(repeats_raw, int) and not isinstance(repeats_raw, bool) else 0
    repeats = repeats if 0 < repeats <= 100 else 0
    fills = 1 + repeats
    fills_text = f" × (1 + {repeats} refill{'s' if repeats != 1 else ''})" if repeats else ""
    expected = duration_days(dispense.get("expectedSupplyDuration"))
    if expected is not None and expected > 0:
        days = expected * fills
        # Without refills the arithmetic would read "30 days = 30 days" on a card: say where it is from.
        how = f"{_fmt(expected)} days{fills_text} = {_fmt(days)} days" if repeats else "expected supply duration"
        return SupplyDuration(
            days,
            "expectedSupplyDuration",
            how,
            Provenance(reference, "dispenseRequest.expectedSupplyDuration"),
        )
    quantity = dispense.get("quantity")
    usual_mg = dose.usual_mg_per_day
    usual_units = dose.usual_units_per_day
    if isinstance(quantity, Mapping):
        amount = _number(quantity.get("value"))
        kind = unit_kind(quantity) if (quantity.get("unit") or quantity.get("code")) else ("unit", 1.0)
        per_day: float | None = None
        what = ""
        if amount and amount > 0 and kind is not None:
            if kind[0] in ("unit", "ml") and usual_units:
                dose_is_ml = (dose.unit or "").lower() == "ml"
                if (kind[0] == "ml") == dose_is_ml:
                    per_day = usual_units
                    what = f"{_fmt(usual_units)} {_plural(dose.unit or 'unit')}/day"
            elif kind[0] in ("unit", "ml") and usual_mg and strength and strength.mg > 0:
                if strength.per_ml == (kind[0] == "ml"):
                    per_day = usual_mg / strength.mg
                    shown = "mL" if strength.per_ml else _plural(unit_label(quantity))
                    what = (
                        f"{_fmt(per_day)} {shown}/day ({_fmt(usual_mg)} mg/day ÷ "
                        f"{_fmt(strength.mg)} mg/{'mL' if strength.per_ml else unit_label(quantity)})"
                    )
            elif kind[0] == "mass" and usual_mg:
                amount *= kind[1]
                per_day = usual_mg
                what = f"{_fmt(usual_mg)} mg/day"
        if per_day and amount:
            has_unit = bool(quantity.get("unit") or quantity.get("code"))
            quantity_unit = (
                "mg" if kind and kind[0] == "mass" else (_plural(unit_label(quantity)) if has_unit else "units")
            )
            days = amount * fills / per_day
            usual = " at the usual use" if dose.as_needed else ""
            return SupplyDuration(
                days,
                "quantity",
                f"{_fmt(amount)} {quantity_unit}{fills_text} ÷ {what}{usual} = {_fmt(days)} days",
                Provenance(reference, "dispenseRequest.quantity"),
            )
    for index, dosage in enumerate(dosages or []):
        if not isinstance(dosage, Mapping) or not isinstance(dosage.get("timing"), Mapping):
            continue
        repeat = dosage["timing"].get("repeat")
        if not isinstance(repeat, Mapping):
            continue
        bounds = duration_days(repeat.get("boundsDuration"))
        if bounds:
            return SupplyDuration(
                bounds,
                "boundsDuration",
                f"dosing bounded to {_fmt(bounds)} days",
                Provenance(reference, f"dosageInstruction[{index}].timing.repeat.boundsDuration"),
            )
        period = repeat.get("boundsPeriod")
        if isinstance(period, Mapping):
            start = parse_datetime(period.get("start"))
            end = parse_datetime(period.get("end"))
            if start and end and end > start:
                days = (end - start).total_seconds() / 86400
                return SupplyDuration(
                    days,
                    "boundsPeriod",
                    f"dosing bounded to {_fmt(days)} days",
                    Provenance(reference, f"dosageInstruction[{index}].timing.repeat.boundsPeriod"),
                )
    if isinstance(quantity, Mapping) and dose.as_needed and usual_mg is None:
        return SupplyDuration(None, "", "as-needed order without a usual frequency: supply length unknown")
    return SupplyDuration(None, "", "no supply duration or quantity (a validity period is not a course length)")
