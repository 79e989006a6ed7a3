"""Facts reused by the content of each prefetch value (issue 22, item 4) equal a cold build: when the
same record comes again, when one value changes, when the clock moves, when the drafts change; and
distinct contents never share a reading."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from cds_service.facts import dose, fhir_json, medications, reuse
from cds_service.facts.build import build_facts
from cds_service.facts.memo import SizedMemo
from cds_service.facts.model import ConditionCategory, PatientFacts
from tests.support.fhir import condition, draft, hook_request, magnesium, medication_request, potassium

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _clear() -> None:
    for memo in (reuse.READINGS, medications.STORED_ORDER_FACTS, fhir_json.MEMO, dose.DAILY_DOSES):
        memo.clear()


@pytest.fixture(autouse=True)
def _fresh_memos() -> Any:
    _clear()
    yield
    _clear()


def _as_sent(request: dict[str, Any]) -> dict[str, Any]:
    """The request as the route sees it: parsed from JSON text (a new object each time)."""
    return orjson.loads(orjson.dumps(request))


def _record(*, drafts: list[dict[str, Any]] | None = None, hook: str = "order-select") -> dict[str, Any]:
    stored = [
        medication_request("197391", "Baclofen 10 MG Oral Tablet", rid="bac", dose=10, frequency=3, quantity=90,
                           reason_codes=[("http://hl7.org/fhir/sid/icd-10-cm", "G35", "Multiple sclerosis")]),
        medication_request("828358", "24 HR Cyclobenzaprine 15 MG ER Capsule", rid="amrix", dose=15, frequency=1,
                           status="completed", authored_on="2026-11-10"),
        medication_request("197391", "Baclofen 10 MG Oral Tablet", rid="later", dose=10, frequency=3,
                           authored_on="2026-11-26T10:00:00Z"),  # in the future at NOW, not a day later
        medication_request("310965", "Ibuprofen 200 MG Oral Tablet", rid="ibu", dose=200, frequency=3,
                           authored_on="2026-11-26T10:00:00Z"),  # not a drug we check: its date dropped at NOW
    ]  # fmt: skip
    return hook_request(
        hook,
        drafts=drafts or [draft("197392", "Baclofen 20 MG Oral Tablet", dose=20, frequency=3)],
        meds=stored,
        conditions=[
            condition("K74.60", "Unspecified cirrhosis of liver", cid="cirrhosis"),
            condition("I21.4", "NSTEMI", cid="mi", onset="2026-10-30"),  # recent until 27 November
            condition("G35", "Multiple sclerosis", cid="ms", clinical_status=None, abatement="2026-11-26T00:00:00Z"),
        ],
        potassium_results=[
            potassium(3.1, "2026-11-20T08:00:00Z", oid="k1"),
            potassium(5.0, "2026-11-26T08:00:00Z", oid="k-future"),
        ],
        magnesium_results=[magnesium(1.4, "2026-11-20T08:00:00Z", oid="mg1")],
    )


def _build(request: dict[str, Any], now: datetime, *, reuse_by_content: bool) -> PatientFacts:
    sent = _as_sent(request)
    return build_facts(sent["hook"], sent["context"], sent["prefetch"], now, reuse=reuse_by_content)


def _cold(request: dict[str, Any], now: datetime) -> PatientFacts:
    _clear()
    return _build(request, now, reuse_by_content=False)


def test_the_same_record_again_gives_the_facts_of_a_cold_build() -> None:
    request = _record()
    first = _build(request, NOW, reuse_by_content=True)
    hits = reuse.READINGS.counts["hits"]
    again = _build(request, NOW, reuse_by_content=True)
    assert reuse.READINGS.counts["hits"] - hits == 5  # every prefetch value but the empty renal search
    assert first == again == _cold(request, NOW)
    assert {m.reference for m in again.medications} >= {"MedicationRequest/bac", "MedicationRequest/amrix"}
    assert again.potassium is not None and again.potassium.value_mmol_l == 3.1
    assert again.conditions_in(ConditionCategory.RECENT_MI)


def test_one_changed_value_is_read_again_alone_and_the_facts_follow_it() -> None:
    request = _record()
    _build(request, NOW, reuse_by_content=True)
    changed = copy.deepcopy(request)
    changed["prefetch"]["potassium"]["entry"][0]["resource"]["valueQuantity"]["value"] = 2.9
    misses = reuse.READINGS.counts["misses"]
    reused = _build(changed, NOW, reuse_by_content=True)
    assert reuse.READINGS.counts["misses"] - misses == 1  # the potassium bundle only
    assert reused.potassium is not None and reused.potassium.value_mmol_l == 2.9
    assert reused == _cold(changed, NOW)


def test_what_depends_on_the_clock_is_decided_on_every_call() -> None:
    """Read at NOW, reused a day later: the future potassium is now the newest, the abated condition is
    gone, the infarction is still recent (27 days), the order dated in the future is no longer."""
    request = _record()
    at_now = _build(request, NOW, reuse_by_content=True)
    later = NOW + timedelta(days=1)
    reused = _build(request, later, reuse_by_content=True)
    cold = _cold(request, later)
    assert reused == cold
    assert at_now.potassium is not None and at_now.potassium.value_mmol_l == 3.1
    assert cold.potassium is not None and cold.potassium.value_mmol_l == 5.0
    assert len(at_now.conditions) == len(cold.conditions) + 1  # multiple sclerosis abated in between
    assert cold.conditions_in(ConditionCategory.RECENT_MI)
    authored = {m.reference: m.authored_on for m in cold.medications}
    assert authored["MedicationRequest/ibu"] is not None and authored["MedicationRequest/later"] is not None
    assert {m.reference: m.authored_on for m in at_now.medications}["MedicationRequest/ibu"] is None
    much_later = NOW + timedelta(days=10)
    assert not _build(request, much_later, reuse_by_content=True).conditions_in(ConditionCategory.RECENT_MI)
    assert _build(request, much_later, reuse_by_content=True) == _cold(request, much_later)
    earlier = _build(request, NOW, reuse_by_content=True)  # the clock going back is no different
    assert earlier == at_now


def test_the_drafts_are_read_on_every_call() -> None:
    """The same prefetch under two draft lists: a stored copy of a draft (same id, status draft) is
    dropped only beside that draft."""
    copy_of_draft = medication_request("197392", "Baclofen 20 MG Oral Tablet", rid="d1", dose=20, frequency=3,
                                       status="draft")  # fmt: skip
    request = _record(drafts=[draft("197392", "Baclofen 20 MG Oral Tablet", rid="d1", dose=20, frequency=3)])
    request["prefetch"]["medications"]["entry"].append({"resource": copy_of_draft})
    other = copy.deepcopy(request)
    other["context"]["draftOrders"]["entry"][0]["resource"]["id"] = "d2"
    other["context"]["selections"] = ["MedicationRequest/d2"]
    with_copy_dropped = _build(request, NOW, reuse_by_content=True)
    with_copy_kept = _build(other, NOW, reuse_by_content=True)
    assert "MedicationRequest/d1" not in {m.reference for m in with_copy_dropped.medications}
    assert "MedicationRequest/d1" in {m.reference for m in with_copy_kept.medications}
    assert with_copy_kept == _cold(other, NOW)
    assert _build(request, NOW, reuse_by_content=True) == _cold(request, NOW)


def test_distinct_contents_never_share_a_reading() -> None:
    """4 and 4.0, the same Bundle under two keys, one character apart: each its own reading."""
    assert reuse.content_key("potassium", {"value": 4}) != reuse.content_key("potassium", {"value": 4.0})
    request = _record()
    same_bundle = copy.deepcopy(request)
    same_bundle["prefetch"]["magnesium"] = copy.deepcopy(request["prefetch"]["potassium"])
    facts = _build(same_bundle, NOW, reuse_by_content=True)
    assert facts == _cold(same_bundle, NOW)
    assert facts.magnesium is None  # potassium codes under the magnesium key are still potassium results
    renamed = copy.deepcopy(request)
    renamed["prefetch"]["conditions"]["entry"][0]["resource"]["code"]["coding"][0]["code"] = "K74.69"
    readings = [reuse.prefetch_readings(_as_sent(r)["prefetch"], reuse=True) for r in (request, renamed)]
    assert readings[0][4] is not readings[1][4] and readings[0][3] is readings[1][3]
    assert len(reuse.READINGS) == 5 + 1  # the record's five non-empty values, and the changed conditions


def test_values_that_json_text_cannot_hold_are_not_remembered() -> None:
    assert reuse.content_key("patient", {"birthDate": datetime(1970, 5, 1, tzinfo=UTC)}) is None
    request = _record()
    request["prefetch"]["patient"]["birthDate"] = datetime(1950, 5, 1, tzinfo=UTC)  # a Python caller's value
    facts = build_facts(request["hook"], request["context"], request["prefetch"], NOW, reuse=True)
    assert facts.age_years == 76
    assert all(key[0] != "patient" for key in reuse.READINGS._entries)


def test_the_readings_are_bounded_by_bytes_and_entries() -> None:
    memo: SizedMemo[str] = SizedMemo(size=3, max_cost=100)
    for i in range(4):
        memo.put(i, str(i), cost=30)
    assert len(memo) == 3 and memo.cost == 90 and memo.get(0) is None
    memo.put("big", "x", cost=80)  # evicts until the total fits
    assert memo.cost <= 100 and memo.get("big") == "x" and len(memo) == 1
    memo.put("huge", "y", cost=101)  # larger than the budget: not remembered
    assert memo.get("huge") is None and memo.cost == 80


def test_a_reused_order_follows_the_medication_its_reference_finds() -> None:
    """The same medications bundle, its order's Medication fetched by the edge: 10 mg, then 20 mg
    tablets. The order's remembered facts serve only for the same Medication."""
    from tests.support.fhir import medication

    order = medication_request(None, "BACLOFEN TABS", rid="mr-ref", medication_reference="Medication/m-1", dose=1,
                               dose_unit="tablet", dose_code="{tbl}", frequency=3)  # fmt: skip
    request = _as_sent(hook_request("patient-view", meds=[order]))
    doses = []
    for rxcui, name in (("197391", "baclofen 10 MG Oral Tablet"), ("197392", "baclofen 20 MG Oral Tablet")) * 2:
        sent = _as_sent(request)
        facts = build_facts("patient-view", sent["context"], sent["prefetch"], NOW,
                            extra_resources=[medication("m-1", rxcui, name)], reuse=True)  # fmt: skip
        doses.append(facts.medications[0].daily_dose.mg_per_day)
    assert doses == [30, 60, 30, 60]
    assert reuse.READINGS.counts["hits"] >= 15  # the five non-empty values were read once


def test_an_empty_search_is_read_afresh_not_remembered() -> None:
    """Nothing to read, and its self link names the patient: every patient's would take an entry."""
    request = _record()
    request["prefetch"]["renal"]["link"] = [{"relation": "self", "url": "https://ehr.example/Observation?patient=p1"}]
    for _ in range(2):
        facts = _build(request, NOW, reuse_by_content=True)
    assert len(reuse.READINGS) == 5 and all(key[0] != "renal" for key in reuse.READINGS._entries)
    assert facts == _cold(request, NOW)
