"""The synthetic hook calls an instance makes before it reports ready (issue 13: no cold start).

A call with an empty record leaves most of the first real call's work undone: the fhir.resources
validators of Observation, Condition, Medication and their elements (dosage timing, dose ranges,
dispense requests, quantities) are built on first use, each rule's first card costs its templates.
So the warm-up patient has a little of everything a real chart has: coded and referenced orders,
scheduled and as-needed dosages, supplies, potassium, magnesium and eGFR in different units,
ICD-10-CM and SNOMED CT conditions. Its values are invented, and nothing of it is audited.

The calls go through the whole HTTP stack in process (`warm_up_routes`), not just the hook handler:
FastAPI prepares a route on its first request (endpoint introspection, route matching, dependency
solving: about 7 ms of the first call measured in process), and the middlewares, the CPU lane and the
response encoding have first uses of their own. The instance does not listen before its start-up is
done, so these are the only calls in flight.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from cds_service.auth import AuthenticatedClient

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PATIENT = "warm-up"

WARM_UP_CLIENT = AuthenticatedClient(iss="warm-up")
_SCOPE_KEY = "cds.warm_up"


def is_warm_up(scope: Scope) -> bool:
    """True only for a warm-up call: its ASGI scope holds `WARM_UP_CLIENT` itself, an object no HTTP
    request can put there (a server builds the scope from strings and bytes). Such a call needs no
    JWT, and is neither audited nor counted in the metrics."""
    return scope.get(_SCOPE_KEY) is WARM_UP_CLIENT


def _marked(app: ASGIApp) -> ASGIApp:
    async def marked_app(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, _SCOPE_KEY: WARM_UP_CLIENT}, receive, send)

    return marked_app


async def warm_up_routes(app: ASGIApp, services: Iterable[tuple[str, str]]) -> dict[str, int]:
    """One warm-up call per (service id, hook) through `app`'s HTTP stack: each service's status."""
    statuses: dict[str, int] = {}
    transport = httpx.ASGITransport(app=_marked(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://warm-up") as client:
        for service_id, hook in services:
            response = await client.post(
                f"/cds-services/{service_id}",
                content=warm_up_request(hook),
                headers={"Content-Type": "application/json"},
            )
            statuses[service_id] = response.status_code
    return statuses


def _coded(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _order(rid: str, status: str, code: str, name: str, dose: float, per_day: int, **extra: Any) -> dict[str, Any]:
    authored = (datetime.now(UTC) - timedelta(days=20)).date().isoformat()
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "authoredOn": authored,
        "medicationCodeableConcept": _coded(RXNORM, code, name),
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "route": _coded("http://snomed.info/sct", "26643006", "Oral route"),
                "doseAndRate": [{"doseQuantity": {"value": dose, "unit": "mg", "system": UCUM, "code": "mg"}}],
            }
        ],
        "dispenseRequest": {
            "validityPeriod": {"start": authored},
            "quantity": {"value": 90, "unit": "tablet", "system": UCUM, "code": "{tbl}"},
            "numberOfRepeatsAllowed": 1,
            "expectedSupplyDuration": {"value": 30, "unit": "days", "system": UCUM, "code": "d"},
        },
        **extra,
    }


def _referenced_order() -> dict[str, Any]:
    """Epic's shape: a contained Medication with its ingredient strength, an as-needed dose range."""
    return {
        "resourceType": "MedicationRequest",
        "id": "warm-up-tramadol",
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "authoredOn": (datetime.now(UTC) - timedelta(days=3)).isoformat(timespec="seconds"),
        "contained": [
            {
                "resourceType": "Medication",
                "id": "med1",
                "code": _coded(RXNORM, "835603", "tramadol hydrochloride 50 MG Oral Tablet"),
                "form": _coded("http://snomed.info/sct", "385055001", "Tablet"),
                "ingredient": [
                    {
                        "itemCodeableConcept": _coded(RXNORM, "10689", "tramadol"),
                        "strength": {
                            "numerator": {"value": 50, "unit": "mg", "system": UCUM, "code": "mg"},
                            "denominator": {"value": 1, "unit": "tablet", "system": UCUM, "code": "{tbl}"},
                        },
                    }
                ],
            }
        ],
        "medicationReference": {"reference": "#med1", "display": "TRAMADOL 50 MG TABLET"},
        "dosageInstruction": [
            {
                "asNeededBoolean": True,
                "timing": {"repeat": {"frequency": 1, "frequencyMax": 4, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseRange": {"low": {"value": 1, "unit": "tablet"}, "high": {"value": 2,
                                                                                             "unit": "tablet"}}}],
                "maxDosePerPeriod": {"numerator": {"value": 8, "unit": "tablet"}, "denominator": {"value": 1,
                                                                                                  "unit": "d"}},
            }
        ],
        "dispenseRequest": {"validityPeriod": {"start": "2026-01-01", "end": "2027-01-01"}},
    }  # fmt: skip


def _observation(oid: str, code: str, name: str, value: float, unit: str, days_ago: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": _coded(LOINC, code, name),
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="seconds"),
        "issued": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="milliseconds"),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        "interpretation": [_coded("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "L", "Low")],
    }


def _condition(cid: str, system: str, code: str, name: str) -> dict[str, Any]:
    status = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{PATIENT}"},
        "clinicalStatus": _coded(status, "active", "Active"),
        "verificationStatus": _coded("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "x"),
        "category": {"coding": [{"code": "problem-list-item"}]},  # a single object, as the sandbox sends it
        "code": _coded(system, code, name),
        "onsetDateTime": "2024-03-01",
        "recordedDate": "2024-03-02T09:00:00Z",
    }


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r} for r in resources]}  # fmt: skip


def warm_up_request(hook: str) -> bytes:
    """A synthetic call of `hook` for a 72-year-old with a little of everything; on order hooks a
    cyclobenzaprine draft beside her sertraline, tramadol and baclofen."""
    draft = _order("warm-up-draft", "draft", "828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet", 10, 3)
    context: dict[str, Any] = {"patientId": PATIENT, "userId": "Practitioner/warm-up"}
    if hook != "patient-view":
        context["draftOrders"] = _bundle(draft)
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/warm-up-draft"]
    sct, icd = "http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"
    prefetch: dict[str, Any] = {
        "patient": {"resourceType": "Patient", "id": PATIENT, "birthDate": "1954-05-01", "gender": "female"},
        "medications": _bundle(
            _order("warm-up-baclofen", "active", "197391", "baclofen 10 MG Oral Tablet", 10, 3),
            _order("warm-up-sertraline", "active", "312938", "sertraline 100 MG Oral Tablet", 100, 1),
            _order("warm-up-old", "completed", "828320", "cyclobenzaprine hydrochloride 5 MG Oral Tablet", 5, 3),
            _referenced_order(),
        ),
        "potassium": _bundle(_observation("k1", "2823-3", "Potassium", 3.2, "mmol/L", 2),
                             _observation("k2", "6298-4", "Potassium", 3.9, "meq/L", 40)),
        "magnesium": _bundle(_observation("mg1", "19123-9", "Magnesium", 1.5, "mg/dL", 2),
                             _observation("mg2", "2601-3", "Magnesium", 0.7, "mmol/L", 40)),
        "renal": _bundle(_observation("egfr", "98979-8", "eGFR", 52, "mL/min/{1.73_m2}", 5)),
        "conditions": _bundle(
            _condition("c1", icd, "G35", "Multiple sclerosis"),
            _condition("c2", sct, "19943007", "Cirrhosis of liver"),
            _condition("c3", icd, "R25.2", "Cramp and spasm"),
        ),
    }  # fmt: skip
    return orjson.dumps({"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context, "prefetch": prefetch})
