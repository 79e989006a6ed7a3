"""build_facts on hook requests shaped like the builders (sandbox-style codeable concepts)."""

from __future__ import annotations

from datetime import UTC, datetime

from cds_service.facts.build import build_facts, read_drafts, unresolved_medication_references
from cds_service.facts.model import DrugClass, MatchMethod, Route
from tests.support import fhir as fb

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _facts(request: dict) -> object:
    return build_facts(request["hook"], request["context"], request["prefetch"], NOW)


def test_order_select_baclofen_tablets_gives_mg_per_day_and_supply() -> None:
    draft = fb.draft("197391", "Baclofen 10 MG Oral Tablet", dose=1, dose_unit="{tbl}", frequency=3, supply_days=30)
    facts = _facts(fb.hook_request("order-select", drafts=[draft]))
    (order,) = facts.drafts_in_scope
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
    (order,) = facts.drafts_in_scope
    assert order.match is MatchMethod.NONE
    assert order.ingredients == ()
    assert order.daily_dose.mg_per_day is None
    assert facts.skipped == ()


def test_unresolved_reference_listed_until_supplied() -> None:
    draft = fb.draft(None, "baclofen", medication_reference="Medication/m1", dose=10, frequency=3)
    request = fb.hook_request("order-sign", drafts=[draft])
    assert unresolved_medication_references(
        request["prefetch"], read_drafts(request["hook"], request["context"], NOW)
    ) == ["Medication/m1"]
    facts = build_facts(
        "order-sign",
        request["context"],
        request["prefetch"],
        NOW,
        extra_resources=[fb.medication("m1", "197392", "Baclofen 20 MG Oral Tablet")],
    )
    assert facts.drafts_in_scope[0].rxnorm_code == "197392"
    assert facts.drafts_in_scope[0].daily_dose.mg_per_day == 30


def test_a_baclofen_order_named_intrathecal_is_intrathecal_not_oral() -> None:
    """Pump refills often carry no route: the name decides, so no oral rule titrates them."""
    draft = fb.draft(None, "Gablofen intrathecal 500 MCG/ML Injection", dose=300, dose_unit="mcg", frequency=1)
    (order,) = _facts(fb.hook_request("order-sign", drafts=[draft])).drafts_in_scope
    assert order.ingredients == ("baclofen",)
    assert order.route is Route.INTRATHECAL
    assert not order.is_oral


def _count_draft_reads(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    from cds_service.facts.medications import MedicationReader

    reads: list[str] = []
    original = MedicationReader.medication_fact

    def counting(self, where, raw, *, is_draft, **kw):  # type: ignore[no-untyped-def]
        if is_draft:
            reads.append(where)
        return original(self, where, raw, is_draft=is_draft, **kw)

    monkeypatch.setattr(MedicationReader, "medication_fact", counting)
    return reads


def test_drafts_are_read_once_per_hook_call(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The edge decides whether the record is needed and the rules run on one reading of the drafts."""
    from tests.support.http import post_hook

    reads = _count_draft_reads(monkeypatch)
    drafts = [
        fb.draft("197391", "Baclofen 10 MG Oral Tablet", dose=10, frequency=3, rid="d1"),
        fb.draft("314076", "lisinopril 10 MG Oral Tablet", dose=10, frequency=1, rid="d2"),
    ]
    post_hook(client, fb.hook_request("order-sign", drafts=drafts))
    assert sorted(reads) == ["context.draftOrders.entry[0]", "context.draftOrders.entry[1]"]


def test_a_draft_whose_medication_is_fetched_is_read_again_with_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reads = _count_draft_reads(monkeypatch)
    draft = fb.draft(None, "baclofen", medication_reference="Medication/m1", dose=10, frequency=3)
    request = fb.hook_request("order-sign", drafts=[draft])
    drafts = read_drafts("order-sign", request["context"], NOW)
    assert drafts.need_patient_data
    facts = build_facts(
        "order-sign",
        request["context"],
        request["prefetch"],
        NOW,
        drafts=drafts,
        extra_resources=[fb.medication("m1", "197392", "Baclofen 20 MG Oral Tablet")],
    )
    assert len(reads) == 2
    assert facts.drafts_in_scope[0].rxnorm_code == "197392"


def test_unrelated_drafts_need_no_patient_data() -> None:
    request = fb.hook_request("order-sign", drafts=[fb.draft("314076", "lisinopril 10 MG Oral Tablet", dose=10)])
    assert not read_drafts("order-sign", request["context"], NOW).need_patient_data
    assert read_drafts("patient-view", {"patientId": "p"}, NOW).need_patient_data
