"""Typed patient facts for rule unit tests: exact numbers at every threshold edge, no FHIR parsing.

`NOW` is fixed so that dates in tests read like a chart ("3 days ago") and never drift.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cds_service.cdshooks import Card
from cds_service.facts.model import (
    ConditionCategory,
    ConditionFact,
    DailyDose,
    DoseHistory,
    DrugClass,
    LabKind,
    LabResult,
    MatchMethod,
    MedicationFact,
    PatientFacts,
    Route,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

_CLASSES: dict[str, frozenset[DrugClass]] = {
    "baclofen": frozenset({DrugClass.MUSCLE_RELAXANT, DrugClass.ANTISPASTICITY, DrugClass.CNS_DEPRESSANT}),
    "tizanidine": frozenset({DrugClass.MUSCLE_RELAXANT, DrugClass.ANTISPASTICITY, DrugClass.CNS_DEPRESSANT}),
    "cyclobenzaprine": frozenset({DrugClass.MUSCLE_RELAXANT, DrugClass.ANTISPASMODIC_BEERS, DrugClass.SEROTONERGIC}),
    "methocarbamol": frozenset({DrugClass.MUSCLE_RELAXANT, DrugClass.ANTISPASMODIC_BEERS}),
    "lisinopril": frozenset(),
    "sertraline": frozenset({DrugClass.SSRI, DrugClass.SEROTONERGIC}),
}


def ago(days: float = 0, hours: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours)


def med(
    ingredient: str = "baclofen",
    mg_per_day: float | None = 30.0,
    *,
    ref: str | None = None,
    draft: bool = False,
    status: str | None = None,
    start: datetime | None = None,
    route: Route = Route.ORAL,
    display: str | None = None,
    explanation: str | None = None,
    unknown_reason: str | None = None,
    raw: dict[str, Any] | None = None,
) -> MedicationFact:
    """One MedicationRequest: a draft (`draft=True`) or an existing order (active by default)."""
    reference = ref or ("MedicationRequest/draft-1" if draft else f"MedicationRequest/{ingredient}-active")
    rid = reference.split("/", 1)[1]
    if mg_per_day is None:
        dose = DailyDose(None, unknown_reason=unknown_reason or "no dose quantity")
    else:
        dose = DailyDose(mg_per_day, explanation=explanation or f"{mg_per_day:g} mg per day", unit="mg")
    if raw is None and draft:
        raw = {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": {"text": display or f"{ingredient} 10 MG Oral Tablet"},
            "subject": {"reference": "Patient/pat1"},
        }
    return MedicationFact(
        reference=reference,
        resource_id=rid,
        ingredients=(ingredient,),
        classes=_CLASSES.get(ingredient, frozenset()),
        match=MatchMethod.CODE,
        display=display or f"{ingredient} 10 MG Oral Tablet",
        route=route,
        status=status or ("draft" if draft else "active"),
        intent="order",
        authored_on=start or (NOW if draft else ago(30)),
        daily_dose=dose,
        is_draft=draft,
        is_selected=draft,
        raw=raw,
    )


def history(mg_per_day: float, since: datetime, previous: float | None = None) -> dict[str, DoseHistory]:
    return {
        "baclofen": DoseHistory(
            ingredient="baclofen",
            current_mg_per_day=mg_per_day,
            current_since=since,
            previous_mg_per_day=previous,
            last_change_at=since,
        )
    }


def lab(
    kind: LabKind,
    value: float,
    unit: str,
    *,
    mmol: float | None = None,
    days_ago: float = 2,
    status: str = "final",
    comparator: str | None = None,
    interpretation: str | None = None,
) -> LabResult:
    normalized = mmol if mmol is not None else value
    return LabResult(
        kind=kind,
        value_mmol_l=normalized,
        value=value,
        unit=unit,
        effective=ago(days_ago),
        loinc="2823-3" if kind is LabKind.POTASSIUM else "19123-9",
        status=status,
        comparator=comparator,
        preliminary=status == "preliminary",
        interpretation=interpretation,
    )


def potassium(value: float, unit: str = "mmol/L", **kw: Any) -> LabResult:
    return lab(LabKind.POTASSIUM, value, unit, **kw)


def magnesium(value: float, unit: str = "mmol/L", **kw: Any) -> LabResult:
    if "mmol" not in kw:
        factor = {"mmol/L": 1.0, "mg/dL": 0.4114, "mEq/L": 0.5}[unit]
        kw["mmol"] = value * factor
    return lab(LabKind.MAGNESIUM, value, unit, **kw)


def cond(category: ConditionCategory, display: str = "Condition", code: str = "X00") -> ConditionFact:
    return ConditionFact(
        categories=frozenset({category}),
        code=code,
        system="http://hl7.org/fhir/sid/icd-10-cm",
        display=display,
        clinical_status="active",
        verification_status="confirmed",
    )


def facts(hook: str = "order-sign", **kw: Any) -> PatientFacts:
    kw.setdefault("patient_id", "pat1")
    return PatientFacts(hook=hook, now=NOW, **kw)


def only(cards: list[Card]) -> Card:
    assert len(cards) == 1, [c.summary for c in cards]
    return cards[0]


def dose_of(resource: dict[str, Any]) -> tuple[float, int]:
    """(mg per dose, doses per day) of a suggested MedicationRequest."""
    dosage = resource["dosageInstruction"][0]
    per_dose = dosage["doseAndRate"][0]["doseQuantity"]["value"]
    return per_dose, dosage["timing"]["repeat"]["frequency"]
