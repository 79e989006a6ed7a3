"""FHIR resources for card suggestions, built from facts so that rules never write raw JSON.

An update suggestion returns the draft order as the EHR sent it with only the changed fields
replaced (dose, supply); the sandbox needs `medicationCodeableConcept` with both `text` and a coding
to apply a suggestion, so a codeable concept is kept or synthesized from the facts.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from cds_service.facts import terminology
from cds_service.facts.model import MedicationFact
from cds_service.facts.timing import frequency_from_timing
from cds_service.facts.units import unit_kind

RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC_SYSTEM = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# The lab tests a card may order (LOINC code, display).
SERUM_POTASSIUM_LOINC = ("2823-3", "Potassium [Moles/volume] in Serum or Plasma")
SERUM_MAGNESIUM_LOINC = ("19123-9", "Magnesium [Mass/volume] in Serum or Plasma")


def _base_resource(order: MedicationFact) -> dict[str, Any]:
    resource: dict[str, Any] = copy.deepcopy(order.raw) if order.raw else {"resourceType": "MedicationRequest"}
    if order.resource_id and "id" not in resource:
        resource["id"] = order.resource_id
    if "medicationCodeableConcept" not in resource and "medicationReference" not in resource and order.rxnorm_code:
        resource["medicationCodeableConcept"] = {
            "text": order.display,
            "coding": [{"system": RXNORM_SYSTEM, "code": order.rxnorm_code, "display": order.display}],
        }
    return resource


def with_daily_dose(order: MedicationFact, mg_per_day: float, doses_per_day: int) -> dict[str, Any]:
    """The draft order rewritten to `mg_per_day`, split into `doses_per_day` equal doses (mg).

    The dispense request follows the new regimen: the days' supply the order had is kept and the
    quantity recomputed from the tablet (or mL) strength that gives the dose; an order with only a
    quantity keeps it and gets the days it now lasts.
    """
    resource = _base_resource(order)
    per_dose = mg_per_day / doses_per_day
    strength = _fit_strength(resource, order, per_dose)
    _fit_dispense(resource, order, per_dose / strength * doses_per_day if strength else None)
    dosage: dict[str, Any] = {
        "text": f"{_num(per_dose)} mg {_FREQ_TEXT.get(doses_per_day, f'{doses_per_day} times daily')}",
        "timing": {"repeat": {"frequency": doses_per_day, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [{"doseQuantity": {"value": per_dose, "unit": "mg", "system": UCUM, "code": "mg"}}],
    }
    old = resource.get("dosageInstruction") or [{}]
    first = old[0] if isinstance(old, list) and old and isinstance(old[0], dict) else {}
    for keep in ("route", "asNeededBoolean", "asNeededCodeableConcept", "method", "sequence"):
        if keep in first:
            dosage[keep] = first[keep]
    resource["dosageInstruction"] = [dosage]
    return resource


def _fit_strength(resource: dict[str, Any], order: MedicationFact, per_dose_mg: float) -> float | None:
    """Switch to a tablet strength that gives `per_dose_mg` when the ordered one cannot (e.g. 5 mg
    from 20 mg tablets); the sandbox applies the drug of a suggestion, Epic shows its text. Returns
    the strength per unit (tablet, or mL for a liquid) of the product the resource now orders."""
    strength = order.strength_mg
    if not strength or not order.ingredients:
        return None
    if order.strength_per_ml:
        return strength
    halves = per_dose_mg / strength * 2
    if abs(halves - round(halves)) < 1e-6 and round(halves) >= 1:
        return strength  # whole or half tablets of the ordered strength
    product = terminology.generic_product_for_dose(order.ingredients[0], per_dose_mg, _form_of(order))
    if product is None:
        return strength
    resource.pop("medicationReference", None)
    resource["medicationCodeableConcept"] = {
        "text": product.name,
        "coding": [{"system": RXNORM_SYSTEM, "code": product.rxcui, "display": product.name}],
    }
    new_strength = product.ingredients[0].strength_mg
    return new_strength if new_strength else strength


def _fit_dispense(resource: dict[str, Any], order: MedicationFact, units_per_day: float | None) -> None:
    """Quantity and days' supply for the new regimen (`units_per_day` tablets or mL a day)."""
    if not units_per_day:
        return
    dispense = dict(resource.get("dispenseRequest") or {})
    unit = "mL" if order.strength_per_ml else "tablet"
    days = order.supply.days
    if days is None:
        duration = dispense.get("expectedSupplyDuration") or {}
        days = duration.get("value") if isinstance(duration.get("value"), int | float) else None
    if days:
        quantity = math.ceil(units_per_day * days - 1e-9)
        dispense["quantity"] = {"value": quantity, "unit": unit}
        dispense["expectedSupplyDuration"] = {"value": _round_days(days), "unit": "days", "system": UCUM, "code": "d"}
    else:
        quantity_value = (dispense.get("quantity") or {}).get("value")
        if not isinstance(quantity_value, int | float) or quantity_value <= 0:
            return
        days_left = math.floor(quantity_value / units_per_day + 1e-9)
        dispense["expectedSupplyDuration"] = {"value": days_left, "unit": "days", "system": UCUM, "code": "d"}
    resource["dispenseRequest"] = dispense


def _round_days(days: float) -> float | int:
    return int(days) if float(days).is_integer() else round(days, 1)


def _form_of(order: MedicationFact) -> str | None:
    product = terminology.product(order.rxnorm_code) if order.rxnorm_code else None
    return product.form if product is not None else None


@dataclass(frozen=True, slots=True)
class UnitSig:
    """An order's sig in whole units of its product: "1 tablet three times a day"."""

    units_per_dose: int
    doses_per_day: int
    unit: str  # "tablet" or "capsule"

    @property
    def units_per_day(self) -> int:
        return self.units_per_dose * self.doses_per_day


def unit_sig(order: MedicationFact) -> UnitSig | None:
    """The order's sig when it is dosed in whole tablets or capsules at a fixed frequency, else None.

    A client that applies only the medication of a suggestion (the sandbox, several EHRs) keeps this
    sig: a product switch gives the intended dose only when the sig counts units, not milligrams."""
    raw = order.raw or {}
    dosages = raw.get("dosageInstruction")
    if not isinstance(dosages, list) or len(dosages) != 1 or not isinstance(dosages[0], dict):
        return None
    dosage = dosages[0]
    entries = dosage.get("doseAndRate")
    quantity = None
    if isinstance(entries, list) and len(entries) == 1 and isinstance(entries[0], dict):
        quantity = entries[0].get("doseQuantity")
    quantity = quantity if isinstance(quantity, dict) else dosage.get("doseQuantity")
    if not isinstance(quantity, dict) or unit_kind(quantity) != ("unit", 1.0):
        return None
    value = quantity.get("value")
    frequency, _ = frequency_from_timing(dosage.get("timing"), usual=True)
    if not isinstance(value, int | float) or isinstance(value, bool) or frequency is None:
        return None
    per_day = frequency.per_day
    if value <= 0 or abs(value - round(value)) > 1e-9 or abs(per_day - round(per_day)) > 1e-9 or per_day < 1:
        return None
    unit = str(quantity.get("unit") or quantity.get("code") or "").strip("{}").lower()
    return UnitSig(round(value), round(per_day), "capsule" if unit.startswith("cap") else "tablet")


def single_unit_product(order: MedicationFact, strength_mg: float) -> terminology.Product | None:
    """The generic product of the order's ingredient and form whose one unit holds `strength_mg`."""
    if not order.ingredients or order.strength_per_ml:
        return None
    found = terminology.generic_product_for_dose(order.ingredients[0], strength_mg, _form_of(order))
    if found is None or not found.ingredients or found.ingredients[0].strength_mg is None:
        return None
    return found if abs(found.ingredients[0].strength_mg - strength_mg) < 1e-6 else None


def with_product(order: MedicationFact, product: terminology.Product) -> dict[str, Any]:
    """The draft order as sent, switched to `product`; its sig and dispense request kept.

    The same units a day of the new product give the new dose, so the quantity and the days' supply
    the order had stay right: applied whole (an EHR) or as the medication alone with the sig kept
    (the sandbox), the order ends at the same dose."""
    resource = _base_resource(order)
    resource.pop("medicationReference", None)
    resource["medicationCodeableConcept"] = {
        "text": product.name,
        "coding": [{"system": RXNORM_SYSTEM, "code": product.rxcui, "display": product.name}],
    }
    return resource


def product_form(order: MedicationFact) -> str | None:
    """The dosage form of the order's RxNorm product ("Oral Tablet"), when known."""
    return _form_of(order)


def _units_per_day(order: MedicationFact) -> tuple[float | None, str]:
    """Tablets (capsules) a day: as dosed, or a dose in mg over the strength of one tablet of the
    ordered product (10 mg three times a day of the 10 mg tablet: 3 tablets)."""
    dose = order.daily_dose
    if dose.units_per_day:
        return dose.units_per_day, dose.unit or "unit"
    form = (_form_of(order) or "").lower()
    solid = "tablet" in form or "capsule" in form
    if not solid or order.strength_per_ml or not order.strength_mg or dose.mg_per_day is None:
        return None, ""
    units = dose.mg_per_day / order.strength_mg
    if abs(units - round(units)) > 1e-6:
        return None, ""  # part tablets: no quantity to state
    return units, "capsule" if "capsule" in form else "tablet"


def with_supply_days(order: MedicationFact, days: int) -> dict[str, Any]:
    """The draft order with its supply limited to `days` and no refills beyond it."""
    resource = _base_resource(order)
    dispense = dict(resource.get("dispenseRequest") or {})
    dispense["expectedSupplyDuration"] = {"value": days, "unit": "days", "system": UCUM, "code": "d"}
    dispense.pop("numberOfRepeatsAllowed", None)
    units, unit = _units_per_day(order)
    if units:
        dispense["quantity"] = {"value": round(units * days), "unit": unit}
    else:
        dispense.pop("quantity", None)
    resource["dispenseRequest"] = dispense
    return resource


def lab_order(patient_id: str | None, loinc: str, display: str) -> dict[str, Any]:
    """A draft ServiceRequest for a lab test, coded with LOINC."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "category": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "108252007", "display": "Laboratory procedure"}]}
        ],
        "code": {"coding": [{"system": LOINC_SYSTEM, "code": loinc, "display": display}], "text": display},
    }
    if patient_id:
        resource["subject"] = {"reference": f"Patient/{patient_id}"}
    return resource


_FREQ_TEXT = {1: "once daily", 2: "twice daily", 3: "three times daily", 4: "four times daily"}


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
