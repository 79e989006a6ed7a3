"""Units, durations and numbers of FHIR Quantities as EHRs send them (UCUM codes and unit words),
and the product strength a counted dose is multiplied by. Split from `dose` (issue 19).

A counted unit is anything a product is dispensed by the piece: tablets and capsules, and (issue 19,
item 8) granule packets, sachets and "each" (Lyvispah "1 packet three times a day"): its milligrams
come from the product's strength per unit, never from the word.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    # Granules and single-dose units (issue 19, item 8): Lyvispah packets, sachets, "each" (Cerner, UCUM {each})
    "packet",
    "packets",
    "{packet}",
    "{packets}",
    "pkt",
    "{pkt}",
    "sachet",
    "sachets",
    "{sachet}",
    "{sachets}",
    "each",
    "ea",
    "{each}",
    "{ea}",
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
    if raw.startswith(("packet", "pkt")):
        return "packet"
    if raw.startswith("sachet"):
        return "sachet"
    if raw in ("each", "ea"):
        return "unit"
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


@dataclass(frozen=True, slots=True)
class Strength:
    """Strength of the main ingredient per unit (tablet/capsule) or per mL."""

    mg: float
    per_ml: bool
    source: str  # "RxNorm table", "Medication.ingredient.strength"
