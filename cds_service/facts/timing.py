"""Doses per day from a FHIR Timing (repeat, or an HL7 v3 / EHR timing code). Split from `dose`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.facts.units import IMPLAUSIBLE, MAX_DOSES_PER_DAY, MIN_PERIOD_DAYS, PERIOD_DAYS, _fmt, _number

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
        times_given, when_given = repeat.get("timeOfDay"), repeat.get("when")
        times: list[Any] = times_given if isinstance(times_given, list) else []
        when: list[Any] = when_given if isinstance(when_given, list) else []
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
