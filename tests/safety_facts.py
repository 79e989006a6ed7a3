"""Typed patient facts for the medication-safety rule tests (cyclobenzaprine, serotonergic,
elderly, sedation, tizanidine): exact dates and numbers at every threshold edge, no FHIR parsing.

Classes mirror what the facts layer assigns (`cds_service/facts/data/drug_classes.json`), written
out here so a rule test fails only when the rule changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from cds_service.cdshooks import Card
from cds_service.facts.model import (
    ConditionCategory,
    ConditionFact,
    DailyDose,
    DrugClass,
    MatchMethod,
    MedicationFact,
    PatientFacts,
    Route,
    SupplyDuration,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"

C = DrugClass
CLASSES: dict[str, frozenset[DrugClass]] = {
    "cyclobenzaprine": frozenset({C.ANTISPASMODIC_BEERS, C.CNS_DEPRESSANT, C.MUSCLE_RELAXANT, C.SEROTONERGIC}),
    "methocarbamol": frozenset({C.ANTISPASMODIC_BEERS, C.CNS_DEPRESSANT, C.MUSCLE_RELAXANT}),
    "carisoprodol": frozenset({C.ANTISPASMODIC_BEERS, C.CNS_DEPRESSANT, C.MUSCLE_RELAXANT}),
    "baclofen": frozenset({C.ANTISPASTICITY, C.CNS_DEPRESSANT, C.MUSCLE_RELAXANT}),
    "tizanidine": frozenset({C.ANTISPASTICITY, C.CNS_DEPRESSANT, C.MUSCLE_RELAXANT}),
    "lorazepam": frozenset({C.BENZODIAZEPINE, C.CNS_DEPRESSANT}),
    "diazepam": frozenset({C.BENZODIAZEPINE, C.CNS_DEPRESSANT}),
    "oxycodone": frozenset({C.CNS_DEPRESSANT, C.OPIOID}),
    "tramadol": frozenset({C.CNS_DEPRESSANT, C.OPIOID, C.SEROTONERGIC}),
    "gabapentin": frozenset({C.CNS_DEPRESSANT, C.GABAPENTINOID}),
    "zolpidem": frozenset({C.CNS_DEPRESSANT, C.Z_DRUG}),
    "sertraline": frozenset({C.SEROTONERGIC, C.SSRI}),
    "duloxetine": frozenset({C.SEROTONERGIC, C.SNRI}),
    "trazodone": frozenset({C.SEROTONERGIC}),
    "sumatriptan": frozenset({C.SEROTONERGIC, C.TRIPTAN}),
    "fluvoxamine": frozenset({C.SEROTONERGIC, C.SSRI, C.STRONG_CYP1A2_INHIBITOR}),
    "ciprofloxacin": frozenset({C.STRONG_CYP1A2_INHIBITOR}),
    "phenelzine": frozenset({C.MAOI, C.SEROTONERGIC}),
    "linezolid": frozenset({C.MAOI, C.SEROTONERGIC}),
    "selegiline": frozenset({C.MAOI, C.SEROTONERGIC}),
    "lisinopril": frozenset(),
    "ibuprofen": frozenset(),
}


def ago(days: float = 0, hours: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours)


def drug(
    ingredient: str,
    *,
    draft: bool = False,
    ref: str | None = None,
    status: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    supply_days: float | None = None,
    supply_explanation: str = "",
    display: str | None = None,
    classes: frozenset[DrugClass] | None = None,
    match: MatchMethod = MatchMethod.CODE,
    units_per_day: float | None = None,
    route: Route = Route.ORAL,
) -> MedicationFact:
    """One MedicationRequest: a draft being placed now, or an existing order (active by default)."""
    reference = ref or (f"MedicationRequest/draft-{ingredient}" if draft else f"MedicationRequest/{ingredient}-1")
    rid = reference.split("/", 1)[1]
    shown = display or f"{ingredient} 10 MG Oral Tablet"
    raw: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft" if draft else (status or "active"),
        "intent": "order",
        "medicationCodeableConcept": {"text": shown},
        "subject": {"reference": "Patient/pat1"},
        "dispenseRequest": {"numberOfRepeatsAllowed": 2},
    }
    explanation = supply_explanation or (f"{supply_days:g} days expected supply" if supply_days else "")
    return MedicationFact(
        reference=reference,
        resource_id=rid,
        ingredients=(ingredient,),
        classes=CLASSES[ingredient] if classes is None else classes,
        match=match,
        display=shown,
        status="draft" if draft else (status or "active"),
        intent="order",
        authored_on=NOW if draft and start is None else start,
        validity_end=end,
        daily_dose=DailyDose(30.0, explanation="10 mg × 3 per day", units_per_day=units_per_day, unit="tablet"),
        supply=SupplyDuration(
            supply_days, method="expectedSupplyDuration" if supply_days else "", explanation=explanation
        ),
        route=route,
        is_draft=draft,
        is_selected=draft,
        raw=raw,
    )


def condition(
    category: ConditionCategory,
    code: str,
    display: str,
    *,
    system: str = ICD10,
    clinical_status: str = "active",
    verification_status: str = "confirmed",
    onset: datetime | None = None,
) -> ConditionFact:
    return ConditionFact(
        categories=frozenset({category}),
        code=code,
        system=system,
        display=display,
        clinical_status=clinical_status,
        verification_status=verification_status,
        onset=onset,
    )


def facts(
    hook: str = "order-sign",
    *,
    drafts: Iterable[MedicationFact] = (),
    other_drafts: Iterable[MedicationFact] = (),
    meds: Iterable[MedicationFact] = (),
    age: int | None = 50,
    conditions: Iterable[ConditionFact] = (),
) -> PatientFacts:
    return PatientFacts(
        hook=hook,
        now=NOW,
        patient_id="pat1",
        age_years=age,
        draft_orders=tuple(drafts) if hook != "patient-view" else (),
        other_drafts=tuple(other_drafts),
        medications=tuple(meds),
        conditions=tuple(conditions),
    )


def only_card(cards: list[Card]) -> Card:
    assert len(cards) == 1, [c.summary for c in cards]
    return cards[0]


def actions(card: Card) -> list[Any]:
    return [a for s in card.suggestions or [] for a in s.actions]


# --- end-to-end helpers (FHIR through HTTP; the service evaluates at the real clock) -----------


def days_ago(days: int) -> str:
    """A FHIR date `days` before today (real clock), for end-to-end requests."""
    return (datetime.now(UTC) - timedelta(days=days)).date().isoformat()


def years_ago(years: int, extra_days: int = 0) -> str:
    """A birth date making the patient `years` old today (`extra_days` > 0: a little older)."""
    today = datetime.now(UTC).date()
    try:
        birthday = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        birthday = today.replace(year=today.year - years, day=28)
    return (birthday - timedelta(days=extra_days)).isoformat()


def cards_of(body: dict[str, Any], topic: str) -> list[dict[str, Any]]:
    return [c for c in body["cards"] if c["source"]["topic"]["code"] == topic]


def one_card(body: dict[str, Any], topic: str) -> dict[str, Any]:
    found = cards_of(body, topic)
    assert len(found) == 1, [(c["source"]["topic"]["code"], c["summary"]) for c in body["cards"]]
    return found[0]


def delete_targets(card: dict[str, Any]) -> list[list[str]]:
    return [a["resourceId"] for s in card.get("suggestions", []) for a in s["actions"] if a["type"] == "delete"]
