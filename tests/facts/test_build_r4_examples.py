"""The 40 official R4 MedicationRequest examples (hl7.fhir.r4.examples 4.0.1) give facts without
error: every order either has a daily dose or says why not."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cds_service.facts.build import build_facts, read_drafts, unresolved_medication_references
from cds_service.facts.model import MatchMethod, MedicationFact

EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "fhir" / "r4-examples"
NOW = datetime(2026, 11, 25, tzinfo=UTC)
REQUESTS = sorted(EXAMPLES.glob("MedicationRequest-*.json"))
MEDICATIONS = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("Medication-*.json"))]


def _as_draft(path: Path) -> tuple[dict[str, Any], MedicationFact]:
    resource = json.loads(path.read_text())
    context = {"patientId": "example", "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": resource}]}}
    facts = build_facts("order-sign", context, {}, NOW, extra_resources=MEDICATIONS)
    assert facts.skipped == (), facts.skipped
    (order,) = facts.drafts_in_scope
    return resource, order


def test_there_are_40_examples_29_with_medication_reference() -> None:
    resources = [json.loads(p.read_text()) for p in REQUESTS]
    assert len(resources) == 40
    assert sum("medicationReference" in r for r in resources) == 29


@pytest.mark.parametrize("path", REQUESTS, ids=[p.stem for p in REQUESTS])
def test_example_gives_facts_or_a_clear_reason(path: Path) -> None:
    _, order = _as_draft(path)
    dose = order.daily_dose
    assert (dose.mg_per_day is not None) != (dose.unknown_reason is not None)
    if dose.mg_per_day is not None:
        assert dose.explanation.endswith("mg/day")
    assert order.supply.days is None or order.supply.days > 0


def test_contained_references_need_no_fetch() -> None:
    for path in REQUESTS:
        resource = json.loads(path.read_text())
        context = {"draftOrders": {"resourceType": "Bundle", "entry": [{"resource": resource}]}}
        for reference in unresolved_medication_references({}, read_drafts("order-sign", context, NOW)):
            assert not reference.startswith("#")


@pytest.mark.parametrize(
    ("stem", "ingredients", "match", "mg_per_day"),
    [
        ("MedicationRequest-medrx0305", ("alprazolam",), MatchMethod.CODE, 1.0),  # 0.25 mg q6h (PRN, 6-12 h)
        ("MedicationRequest-medrx0308", ("hydrocodone",), MatchMethod.CODE, 30.0),  # Vicodin 5/500, 1 tab q4h
        ("MedicationRequest-medrx0301", ("oxycodone",), MatchMethod.NAME, None),  # 1-2 tabs, no strength
        ("MedicationRequest-medrx0327", ("fentanyl",), MatchMethod.NAME, None),  # patch: unit not a mass
        ("MedicationRequest-medrx0312", ("phenytoin",), MatchMethod.CODE, 300.0),  # an antiepileptic (Beers count)
    ],
)
def test_selected_examples_exactly(
    stem: str, ingredients: tuple[str, ...], match: MatchMethod, mg_per_day: float | None
) -> None:
    _, order = _as_draft(EXAMPLES / f"{stem}.json")
    assert order.ingredients == ingredients
    assert order.match is match
    assert order.daily_dose.mg_per_day == mg_per_day
