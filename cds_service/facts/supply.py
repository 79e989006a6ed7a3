"""How many days an order's supply lasts at the usual daily use. Split from `dose` (issue 19)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cds_service.facts.dates import parse_datetime
from cds_service.facts.model import DailyDose, Provenance, SupplyDuration
from cds_service.facts.units import (
    IMPLAUSIBLE,
    MAX_SUPPLY_DAYS,
    Strength,
    _fmt,
    _number,
    _plural,
    duration_days,
    unit_kind,
    unit_label,
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
