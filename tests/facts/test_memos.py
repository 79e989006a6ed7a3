"""The validation memo must never change an outcome: same input, same result or same refusal."""

from __future__ import annotations

import pytest

from cds_service.facts import fhir_json
from cds_service.facts.fhir_json import UnusableResource, validate
from tests.support.fhir import medication_request


def test_repeated_validation_gives_the_same_normalized_resource() -> None:
    order = medication_request("197391", "baclofen 10 MG Oral Tablet", dose=10, frequency=3)
    order["text"] = {"status": "generated", "div": "<div>narrative the rules never read</div>"}
    first = validate(order)
    second = validate(dict(order))
    assert first == second
    assert "text" not in first and "subject" not in first  # only the fields the rules read are kept
    assert first["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 10


def test_a_refused_resource_is_refused_again_with_the_same_reason() -> None:
    order = medication_request("197391", "baclofen 10 MG Oral Tablet")
    order["dosageInstruction"] = "take as directed"
    with pytest.raises(UnusableResource) as first:
        validate(order)
    with pytest.raises(UnusableResource) as second:
        validate(order)
    assert str(first.value) == str(second.value)
    assert "dosageInstruction" in str(first.value)


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fhir_json.MEMO, "size", 5)
    for i in range(20):  # twenty different dosages
        validate(medication_request("197391", "baclofen 10 MG Oral Tablet", dose=i + 1, frequency=3))
    assert len(fhir_json.MEMO) <= 5


def test_dose_and_rate_as_a_single_object_is_read_as_r4_list() -> None:
    """The CDS Hooks library's own order-select example sends doseAndRate as an object."""
    from datetime import UTC, datetime

    from cds_service.facts.build import build_facts
    from tests.support.fhir import draft, hook_request

    order = draft("197391", "baclofen 10 MG Oral Tablet", dose=10, frequency=3)
    dosage = order["dosageInstruction"][0]
    dosage["doseAndRate"] = dosage["doseAndRate"][0]
    request = hook_request("order-sign", drafts=[order])
    facts = build_facts("order-sign", request["context"], request["prefetch"], datetime.now(UTC))
    assert facts.skipped == ()
    assert facts.drafts_in_scope[0].daily_dose.mg_per_day == 30


def test_remembered_order_facts_follow_the_medication_the_reference_points_to() -> None:
    """The same stored order read twice, its Medication changed in between: the facts follow it."""
    from datetime import UTC, datetime

    from cds_service.facts.build import build_facts
    from tests.support.fhir import hook_request, medication, medication_request

    order = medication_request(None, "BACLOFEN TABS", rid="mr-ref", medication_reference="Medication/m-1", dose=1,
                               dose_unit="tablet", dose_code="{tbl}", frequency=3)  # fmt: skip
    facts = []
    for rxcui, name in (("197391", "baclofen 10 MG Oral Tablet"), ("197392", "baclofen 20 MG Oral Tablet")):
        request = hook_request("patient-view", meds=[order, medication("m-1", rxcui, name)])
        facts.append(build_facts("patient-view", request["context"], request["prefetch"], datetime.now(UTC)))
    doses = [f.medications[0].daily_dose.mg_per_day for f in facts]
    assert doses == [30, 60]


def test_a_memo_hit_gives_the_same_facts_as_a_cold_build() -> None:
    """Stored-order and validation memos on: the second build equals a build with both memos cleared,
    new fields included (problems, reasons, extended release, usual use, indications, continuations)."""
    from datetime import UTC, datetime

    from cds_service.facts import dose, medications
    from cds_service.facts.build import build_facts
    from tests.support.fhir import condition, draft, hook_request, medication_request, potassium

    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    stored = [
        medication_request("197391", "Baclofen 10 MG Oral Tablet", rid="bac", dose=10, frequency=3, quantity=90,
                           reason_codes=[("http://hl7.org/fhir/sid/icd-10-cm", "G35", "Multiple sclerosis")]),
        medication_request("828358", "24 HR Cyclobenzaprine 15 MG ER Capsule", rid="amrix", dose=15, frequency=1,
                           as_needed=True, quantity=30, status="completed", authored_on="2026-11-10"),
        medication_request("197391", "Baclofen 10 MG Oral Tablet", rid="bad", dose=10, frequency=3,
                           authored_on="2026-11-20T10:00:00"),
    ]  # fmt: skip
    request = hook_request(
        "order-sign",
        drafts=[draft("197392", "Baclofen 20 MG Oral Tablet", dose=20, frequency=3)],
        meds=stored,
        conditions=[condition("K74.60", "Unspecified cirrhosis of liver")],
        potassium_results=[potassium(3.1, "2026-11-20T08:00:00Z")],
    )

    def build() -> object:
        return build_facts("order-sign", request["context"], request["prefetch"], now)

    first = build()
    warm = build()  # memo hits
    medications.STORED_ORDER_FACTS.clear()
    fhir_json.MEMO.clear()
    dose.DAILY_DOSES.clear()
    cold = build()
    assert warm == cold == first
    by_ref = {m.reference: m for m in cold.medications}  # type: ignore[attr-defined]
    assert by_ref["MedicationRequest/amrix"].extended_release
    assert by_ref["MedicationRequest/bad"].problems == ("authoredOn",)
    assert by_ref["MedicationRequest/bac"].reason_codings
    assert cold.indications and cold.continuations  # type: ignore[attr-defined]


def test_remembered_order_facts_follow_the_clock() -> None:
    """Orders dated after the first read's clock but before the second's: a remembered order serves only
    where every comparison with the clock answers the same, forward or back. The drug we do not check
    lost its date while it was in the future; our drug had a problem."""
    from datetime import UTC, datetime, timedelta

    from cds_service.facts import dose, medications
    from cds_service.facts.build import build_facts
    from tests.support.fhir import hook_request, medication_request

    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    request = hook_request(
        "patient-view",
        meds=[
            medication_request("310965", "Ibuprofen 200 MG Oral Tablet", rid="ibu", dose=200, frequency=3,
                               authored_on="2026-11-26T10:00:00Z"),
            medication_request("197391", "Baclofen 10 MG Oral Tablet", rid="bac", dose=10, frequency=3,
                               authored_on="2026-11-26T10:00:00Z"),
        ],
    )  # fmt: skip

    def build(at: datetime, *, cold: bool = False) -> object:
        if cold:
            medications.STORED_ORDER_FACTS.clear()
            fhir_json.MEMO.clear()
            dose.DAILY_DOSES.clear()
        return build_facts("patient-view", request["context"], request["prefetch"], at)

    later = now + timedelta(days=1)
    at_now, at_later = build(now), build(later)  # the second from the memo, if it served
    assert at_later == build(later, cold=True)
    assert build(now) == at_now == build(now, cold=True)  # the clock back again
    dated = {m.reference: (m.authored_on, m.problems) for m in at_later.medications}  # type: ignore[attr-defined]
    assert dated["MedicationRequest/ibu"][0] is not None and dated["MedicationRequest/bac"][1] == ()
    before = {m.reference: (m.authored_on, m.problems) for m in at_now.medications}  # type: ignore[attr-defined]
    assert before["MedicationRequest/ibu"][0] is None
    assert before["MedicationRequest/bac"][1] == ("authoredOn (in the future)",)
