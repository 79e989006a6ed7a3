"""Builders for FHIR R4 resources and CDS Hooks requests shaped like real EHR traffic.

Tests describe a patient in clinical terms (drug, dose, timing, lab value with unit) and get the
JSON an EHR would send. Shapes follow the real clients: the sandbox (codeable concept, `{pill}`
doses, Bundle without type), Epic (`medicationReference` to a Bundle entry or contained
Medication, doseQuantity at the Dosage root, timing.code) and Cerner (SCD coding + text).
"""

from __future__ import annotations

import uuid
from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"

SERVICE_IDS = {
    "order-select": "muscle-spasm-order-select",
    "order-sign": "muscle-spasm-order-sign",
    "patient-view": "muscle-spasm-patient-view",
}

PATIENT_ID = "pat1"


def patient(birth_date: str = "1970-05-01", gender: str = "female", pid: str = PATIENT_ID) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"given": ["Test"], "family": "Patient"}],
        "birthDate": birth_date,
        "gender": gender,
    }


def medication_request(
    rxcui: str | None,
    display: str,
    *,
    rid: str | None = None,
    status: str = "active",
    intent: str = "order",
    authored_on: str | None = "2026-11-01",
    dose: float | None = None,
    dose_unit: str = "mg",
    dose_code: str | None = None,
    frequency: int | None = None,
    period: float = 1,
    period_unit: str = "d",
    timing_code: str | None = None,
    as_needed: bool | None = None,
    supply_days: float | None = None,
    quantity: float | None = None,
    refills: int | None = None,
    route: str | None = None,
    medication_reference: str | None = None,
    contained: list[dict[str, Any]] | None = None,
    dose_at_root: bool = False,
    pid: str = PATIENT_ID,
    frequency_max: int | None = None,
    max_per_period: tuple[float, str, float, str] | None = None,
    validity_start: str | None = None,
    validity_end: str | None = None,
    quantity_unit: str = "tablet",
    reason_codes: list[tuple[str, str, str]] | None = None,
    reason_references: list[str] | None = None,
) -> dict[str, Any]:
    """A MedicationRequest. `rxcui=None` with `medication_reference` makes an Epic-style reference.

    `max_per_period` is (dose, unit, period, period unit), e.g. (30, "mg", 1, "d");
    `reason_codes` are (system, code, display) codings, each its own reasonCode concept;
    `reason_references` are references to Conditions ("Condition/c1", "#c1", a fullUrl).
    """
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid or f"mr-{uuid.uuid4().hex[:8]}",
        "status": status,
        "intent": intent,
        "subject": {"reference": f"Patient/{pid}"},
    }
    if authored_on:
        resource["authoredOn"] = authored_on
    if medication_reference:
        resource["medicationReference"] = {"reference": medication_reference, "display": display}
    else:
        concept: dict[str, Any] = {"text": display}
        if rxcui:
            concept["coding"] = [{"system": RXNORM, "code": rxcui, "display": display}]
        resource["medicationCodeableConcept"] = concept
    if contained:
        resource["contained"] = contained
    dosage: dict[str, Any] = {}
    timing: dict[str, Any] = {}
    if frequency is not None:
        timing["repeat"] = {"frequency": frequency, "period": period, "periodUnit": period_unit}
    if frequency_max is not None:
        timing.setdefault("repeat", {"period": period, "periodUnit": period_unit})["frequencyMax"] = frequency_max
    if timing_code:
        timing["code"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": timing_code}],
            "text": timing_code,
        }
    if timing:
        dosage["timing"] = timing
    if dose is not None:
        quantity_json = {"value": dose, "unit": dose_unit, "system": UCUM, "code": dose_code or dose_unit}
        if dose_at_root:
            dosage["doseQuantity"] = quantity_json
        else:
            dosage["doseAndRate"] = [{"doseQuantity": quantity_json}]
    if as_needed is not None:
        dosage["asNeededBoolean"] = as_needed
    if max_per_period is not None:
        amount, amount_unit, per, per_unit = max_per_period
        dosage["maxDosePerPeriod"] = {
            "numerator": {"value": amount, "unit": amount_unit, "system": UCUM, "code": amount_unit},
            "denominator": {"value": per, "unit": per_unit, "system": UCUM, "code": per_unit},
        }
    if route:
        dosage["route"] = {"coding": [{"system": SNOMED, "code": _ROUTES[route][0], "display": _ROUTES[route][1]}]}
    if dosage:
        resource["dosageInstruction"] = [dosage]
    dispense: dict[str, Any] = {}
    if supply_days is not None:
        dispense["expectedSupplyDuration"] = {"value": supply_days, "unit": "days", "system": UCUM, "code": "d"}
    if quantity is not None:
        dispense["quantity"] = {"value": quantity, "unit": quantity_unit}
    if refills is not None:
        dispense["numberOfRepeatsAllowed"] = refills
    if validity_start or validity_end:
        dispense["validityPeriod"] = {
            k: v for k, v in (("start", validity_start), ("end", validity_end)) if v is not None
        }
    if dispense:
        resource["dispenseRequest"] = dispense
    if reason_codes:
        resource["reasonCode"] = [
            {"coding": [{"system": system, "code": code, "display": shown}], "text": shown}
            for system, code, shown in reason_codes
        ]
    if reason_references:
        resource["reasonReference"] = [{"reference": ref} for ref in reason_references]
    return resource


_ROUTES = {
    "oral": ("26643006", "Oral route"),
    "intrathecal": ("72607000", "Intrathecal route"),
    "intravenous": ("47625008", "Intravenous route"),
}


def medication(mid: str, rxcui: str | None, display: str, *, extra_codes: list[str] | None = None) -> dict[str, Any]:
    codings = [{"system": RXNORM, "code": rxcui, "display": display}] if rxcui else []
    for code in extra_codes or []:
        codings.append({"system": RXNORM, "code": code})
    return {"resourceType": "Medication", "id": mid, "code": {"coding": codings, "text": display}}


def observation(
    loinc: str,
    value: Any,
    unit: str | None,
    effective: str,
    *,
    ucum: str | None = None,
    status: str = "final",
    comparator: str | None = None,
    oid: str | None = None,
    pid: str = PATIENT_ID,
    interpretation: str | None = None,
    value_string: bool = False,
) -> dict[str, Any]:
    """A lab Observation. `unit=None` sends no unit; `value_string` sends the value as valueString
    (labs do, for "<0.5" or "hemolyzed"); `interpretation` is a v3 code (LL, L, H, HH)."""
    quantity: dict[str, Any] = {"value": value}
    if unit is not None:
        quantity["unit"] = unit
    if ucum:
        quantity.update(system=UCUM, code=ucum)
    if comparator:
        quantity["comparator"] = comparator
    resource = _observation_shell(loinc, effective, status=status, oid=oid, pid=pid)
    if value_string:
        resource["valueString"] = str(value)
    else:
        resource["valueQuantity"] = quantity
    if interpretation:
        resource["interpretation"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": interpretation,
                    }
                ]
            }
        ]
    return resource


def _observation_shell(loinc: str, effective: str, *, status: str, oid: str | None, pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid or f"obs-{uuid.uuid4().hex[:8]}",
        "status": status,
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
        ],
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": effective,
    }


def potassium(value: float, effective: str, unit: str = "mmol/L", **kw: Any) -> dict[str, Any]:
    return observation("2823-3", value, unit, effective, ucum=kw.pop("ucum", unit), **kw)


def magnesium(value: float, effective: str, unit: str = "mg/dL", **kw: Any) -> dict[str, Any]:
    loinc = "19123-9" if unit.lower() == "mg/dl" else "2601-3"
    return observation(loinc, value, unit, effective, ucum=kw.pop("ucum", unit), **kw)


def egfr(value: float, effective: str, loinc: str = "98979-8", **kw: Any) -> dict[str, Any]:
    """An eGFR result in mL/min/1.73 m² (LOINC 98979-8 = CKD-EPI 2021 by default)."""
    return observation(loinc, value, "mL/min/{1.73_m2}", effective, ucum=kw.pop("ucum", "mL/min/{1.73_m2}"), **kw)


def creatinine(value: float, effective: str, unit: str = "mg/dL", **kw: Any) -> dict[str, Any]:
    """Serum creatinine: 2160-0 in mg/dL, 14682-9 in µmol/L (UCUM umol/L)."""
    loinc = kw.pop("loinc", "2160-0" if unit.lower() == "mg/dl" else "14682-9")
    return observation(loinc, value, unit, effective, ucum=kw.pop("ucum", "umol/L" if "mol" in unit else unit), **kw)


def condition(
    code: str,
    display: str,
    *,
    system: str = ICD10,
    clinical_status: str | None = "active",
    verification_status: str | None = "confirmed",
    onset: str | None = None,
    cid: str | None = None,
    pid: str = PATIENT_ID,
    abatement: str | None = None,
) -> dict[str, Any]:
    """A Condition; `clinical_status`/`verification_status` None leave the element out; `abatement` is
    an abatementDateTime."""
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cid or f"cond-{uuid.uuid4().hex[:8]}",
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": clinical_status}]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": verification_status,
                }
            ]
        },
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{pid}"},
    }
    if onset:
        resource["onsetDateTime"] = onset
    if clinical_status is None:
        resource.pop("clinicalStatus")
    if verification_status is None:
        resource.pop("verificationStatus")
    if abatement:
        resource["abatementDateTime"] = abatement
    return resource


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r, "search": {"mode": "match"}} for r in resources
        ],
    }


def hook_request(
    hook: str,
    *,
    drafts: list[dict[str, Any]] | None = None,
    selections: list[str] | None = None,
    draft_extra: list[dict[str, Any]] | None = None,
    patient_resource: dict[str, Any] | None = None,
    meds: list[dict[str, Any]] | None = None,
    potassium_results: list[dict[str, Any]] | None = None,
    magnesium_results: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    renal_results: list[dict[str, Any]] | None = None,
    fhir_server: str | None = None,
    omit: tuple[str, ...] = (),
    pid: str = PATIENT_ID,
) -> dict[str, Any]:
    """A full CDS Hooks request with every prefetch key filled (empty searchsets by default).

    `omit` leaves prefetch keys out (the service must then fetch them); `draft_extra` adds
    non-MedicationRequest entries (e.g. Epic's Medication resources) to draftOrders.
    """
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": pid}
    if hook in ("order-select", "order-sign"):
        drafts = drafts or []
        entries = [{"resource": d} for d in drafts] + [{"resource": r} for r in draft_extra or []]
        context["draftOrders"] = {"resourceType": "Bundle", "entry": entries}
        if hook == "order-select":
            context["selections"] = (
                selections or [f"MedicationRequest/{d['id']}" for d in drafts[:1]] or ["MedicationRequest/none"]
            )
    prefetch: dict[str, Any] = {
        "patient": patient_resource or patient(pid=pid),
        "medications": searchset(meds or []),
        "potassium": searchset(potassium_results or []),
        "magnesium": searchset(magnesium_results or []),
        "conditions": searchset(conditions or []),
        "renal": searchset(renal_results or []),
    }
    for key in omit:
        prefetch.pop(key, None)
    request: dict[str, Any] = {
        "hookInstance": str(uuid.uuid4()),
        "hook": hook,
        "context": context,
        "prefetch": prefetch,
    }
    if fhir_server:
        request["fhirServer"] = fhir_server
    return request


def draft(rxcui: str | None, display: str, **kw: Any) -> dict[str, Any]:
    """A draft order as the order-select/order-sign hooks carry it."""
    kw.setdefault("status", "draft")
    kw.setdefault("rid", "draft-1")
    kw.setdefault("authored_on", "2026-11-25")
    return medication_request(rxcui, display, **kw)
