"""Which history the facts layer reads: newest lab by true time, old finished orders skipped."""

from __future__ import annotations

from datetime import UTC, datetime

from cds_service.facts.build import build_facts
from cds_service.facts.medications import HISTORY_HORIZON_DAYS
from tests.support import fhir as fb

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _facts(**kw: object) -> object:
    request = fb.hook_request("patient-view", **kw)  # type: ignore[arg-type]
    return build_facts("patient-view", request["context"], request["prefetch"], NOW)


def test_latest_potassium_is_by_time_not_by_text_across_utc_offsets() -> None:
    # 23:00 at UTC-5 is 04:00 UTC the next day: later than 01:00 UTC although it sorts first as text.
    earlier = fb.potassium(4.2, "2026-11-21T01:00:00Z", oid="k-utc")
    later = fb.potassium(3.2, "2026-11-20T23:00:00-05:00", oid="k-offset")
    older = [fb.potassium(4.0, f"2026-10-{day:02d}T08:00:00Z", oid=f"k-{day}") for day in range(1, 30)]
    facts = _facts(potassium_results=[earlier, *older, later])
    assert facts.potassium.provenance.resource == "Observation/k-offset"  # type: ignore[attr-defined]
    assert facts.potassium.value_mmol_l == 3.2  # type: ignore[attr-defined]


def test_unusable_newest_result_falls_back_to_an_older_one_far_down_the_list() -> None:
    bad_newest = fb.potassium(3.0, "2026-11-24T08:00:00Z", oid="k-new", status="entered-in-error")
    no_value = fb.potassium(3.0, "2026-11-23T08:00:00Z", oid="k-novalue")
    no_value["valueQuantity"] = {"unit": "mmol/L"}
    old = fb.potassium(3.3, "2025-01-10T08:00:00Z", oid="k-old")
    facts = _facts(potassium_results=[old, no_value, bad_newest])
    assert facts.potassium.provenance.resource == "Observation/k-old"  # type: ignore[attr-defined]


def test_finished_orders_before_the_horizon_are_skipped_but_live_and_recent_ones_kept() -> None:
    assert HISTORY_HORIZON_DAYS >= 365
    orders = [
        fb.medication_request("197391", "baclofen 10 MG Oral Tablet", rid="old-done", status="completed",
                              authored_on="2019-03-01"),
        fb.medication_request("197391", "baclofen 10 MG Oral Tablet", rid="old-but-active", status="active",
                              authored_on="2019-03-01"),
        fb.medication_request("197391", "baclofen 10 MG Oral Tablet", rid="recent-stop", status="stopped",
                              authored_on="2026-11-01"),
        fb.medication_request("197391", "baclofen 10 MG Oral Tablet", rid="no-date", status="completed",
                              authored_on=None),
    ]  # fmt: skip
    facts = _facts(meds=orders)
    assert sorted(m.resource_id for m in facts.medications) == ["no-date", "old-but-active", "recent-stop"]
