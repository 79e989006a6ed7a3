"""build_facts on hook requests shaped like the builders (sandbox-style codeable concepts)."""

from __future__ import annotations

from datetime import UTC, datetime

from cds_service.facts.build import build_facts, unresolved_medication_references
from cds_service.facts.model import DrugClass, MatchMethod, Route
from tests import fhir_builders as fb

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _facts(request: dict) -> object:
    return build_facts(request["hook"], request["context"], request["prefetch"], NOW)


def test_order_select_baclofen_tablets_gives_mg_per_day_and_supply() -> None:
    draft = fb.draft("197391", "Baclofen 10 MG Oral Tablet", dose=1, dose_unit="{tbl}", frequency=3, supply_days=30)
    facts = _facts(fb.hook_request("order-select", drafts=[draft]))
    (order,) = facts.draft_orders
    assert order.ingredients == ("baclofen",)
    assert order.match is MatchMethod.CODE
    assert order.route is Route.ORAL
    assert order.daily_dose.mg_per_day == 30
    assert order.daily_dose.units_per_day == 3
    assert order.daily_dose.explanation == "1 tablet × 10 mg/tablet × 3 per day = 30 mg/day"
    assert order.supply.days == 30
    assert DrugClass.MUSCLE_RELAXANT in order.classes
    assert order.is_selected and order.is_draft


def test_sandbox_first_order_select_without_medication_does_not_crash() -> None:
    draft = {"resourceType": "MedicationRequest", "id": "request-123", "status": "draft", "authoredOn": "2026-11-24"}
    request = fb.hook_request("order-select", drafts=[draft], selections=["MedicationRequest/request-123"])
    facts = _facts(request)
    (order,) = facts.draft_orders
    assert order.match is MatchMethod.NONE
    assert order.ingredients == ()
    assert order.daily_dose.mg_per_day is None
    assert facts.skipped == ()


def test_unresolved_reference_listed_until_supplied() -> None:
    draft = fb.draft(None, "baclofen", medication_reference="Medication/m1", dose=10, frequency=3)
    request = fb.hook_request("order-sign", drafts=[draft])
    assert unresolved_medication_references(request["context"], request["prefetch"]) == ["Medication/m1"]
    facts = build_facts(
        "order-sign",
        request["context"],
        request["prefetch"],
        NOW,
        extra_resources=[fb.medication("m1", "197392", "Baclofen 20 MG Oral Tablet")],
    )
    assert facts.draft_orders[0].rxnorm_code == "197392"
    assert facts.draft_orders[0].daily_dose.mg_per_day == 30
