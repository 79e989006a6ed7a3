"""Status decides what is active; a course lasts its supply at the usual use, never its validity period.

FHIR JSON in, facts out: Epic sends `validityPeriod.end` one year out for a 7-day course; a PRN order's
supply is counted at the usual use (the timing's `frequency`), not the maximum.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cds_service.facts.build import build_facts
from cds_service.facts.dose import _fmt, daily_dose
from cds_service.facts.model import MedicationFact, PatientFacts
from tests.support import fhir as fb

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CYCLO_10 = ("828348", "Cyclobenzaprine hydrochloride 10 MG Oral Tablet")
BACLOFEN_10 = ("197391", "Baclofen 10 MG Oral Tablet")


def _facts(meds: list[dict[str, Any]], hook: str = "patient-view", **kw: Any) -> PatientFacts:
    request = fb.hook_request(hook, meds=meds, **kw)
    return build_facts(hook, request["context"], request["prefetch"], NOW)


def _only(meds: list[dict[str, Any]]) -> MedicationFact:
    (order,) = _facts(meds).medications
    return order


def _day(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).date().isoformat()


def test_epic_seven_day_course_with_a_one_year_validity_reads_as_seven_days() -> None:
    order = fb.medication_request(
        *CYCLO_10, rid="cbz", authored_on=_day(3), dose=1, dose_unit="tablet", dose_code="{tbl}", frequency=3,
        quantity=21, validity_start=_day(3), validity_end=(NOW + timedelta(days=362)).date().isoformat(),
    )  # fmt: skip
    fact = _only([order])
    assert (fact.supply.days, fact.supply.method) == (7, "quantity")
    assert fact.supply_end == datetime.fromisoformat(_day(3)).replace(tzinfo=UTC) + timedelta(days=7)
    assert fact.ended_at == fact.supply_end  # the earlier of supply end and validity end
    assert fact.end == fact.ended_at


def test_validity_period_alone_gives_no_course_length() -> None:
    order = fb.medication_request(*CYCLO_10, dose=10, frequency=3, validity_start=_day(3), validity_end=_day(-362))
    fact = _only([order])
    assert fact.supply.days is None and fact.supply_end is None
    assert fact.ended_at == fact.validity_end  # only the expiry is known


@pytest.mark.parametrize("status", ["active", "on-hold", "ACTIVE"])
def test_an_active_order_whose_supply_ran_out_is_still_active(status: str) -> None:
    order = fb.medication_request(
        *BACLOFEN_10, status=status, authored_on=_day(60), dose=10, frequency=3, supply_days=30
    )
    facts = _facts([order])
    (fact,) = facts.active_medications()
    assert fact.is_current
    assert fact.supply_end is not None and fact.supply_end < NOW  # a card may say "supply may have run out"


@pytest.mark.parametrize("status", ["completed", "stopped", "cancelled", "draft", "unknown"])
def test_a_finished_order_is_not_active_even_with_supply_left(status: str) -> None:
    order = fb.medication_request(
        *BACLOFEN_10, status=status, authored_on=_day(2), dose=10, frequency=3, supply_days=30
    )
    facts = _facts([order])
    assert facts.active_medications() == ()
    assert facts.medications[0].ended_at is not None


def test_a_stopped_order_ended_at_its_validity_when_that_came_first() -> None:
    order = fb.medication_request(*BACLOFEN_10, status="stopped", authored_on=_day(20), dose=10, frequency=3,
                                  supply_days=30, validity_start=_day(20), validity_end=_day(10))  # fmt: skip
    fact = _only([order])
    assert fact.ended_at == datetime.fromisoformat(_day(10)).replace(tzinfo=UTC)


def test_entered_in_error_orders_are_not_listed() -> None:
    order = fb.medication_request(*BACLOFEN_10, status="entered-in-error", dose=10, frequency=3)
    assert _facts([order]).medications == ()


@pytest.mark.parametrize(
    ("tablets", "refills", "days"),
    [(63, None, 21), (66, None, 22), (21, 2, 21), (30, 0, 10)],
)
def test_supply_edges_from_quantity_and_refills(tablets: int, refills: int | None, days: float) -> None:
    order = fb.medication_request(*CYCLO_10, dose=1, dose_unit="tablet", dose_code="{tbl}", frequency=3,
                                  quantity=tablets, refills=refills)  # fmt: skip
    assert _only([order]).supply.days == days


def test_expected_supply_duration_wins_over_quantity() -> None:
    order = fb.medication_request(*CYCLO_10, dose=10, frequency=3, quantity=90, supply_days=7)
    fact = _only([order])
    assert (fact.supply.days, fact.supply.method) == (7, "expectedSupplyDuration")


# --- the usual use of an as-needed order ------------------------------------------------------


def test_prn_with_a_frequency_lasts_quantity_over_that_frequency() -> None:
    """Epic: 10 mg TID PRN, 30 tablets → 10 days at the usual (the timing's) use."""
    order = fb.medication_request(*CYCLO_10, dose=1, dose_unit="tablet", dose_code="{tbl}", frequency=3,
                                  as_needed=True, quantity=30)  # fmt: skip
    fact = _only([order])
    assert fact.daily_dose.mg_per_day == 30 and fact.daily_dose.as_needed
    assert fact.daily_dose.usual_mg_per_day == 30
    assert fact.supply.days == 10


def test_prn_frequency_range_uses_frequency_for_supply_and_the_maximum_for_the_dose() -> None:
    """1-3 times a day as needed: the maximum dose is 3 a day; the supply lasts at 1 a day."""
    order = fb.medication_request(*CYCLO_10, dose=1, dose_unit="tablet", dose_code="{tbl}", frequency=1,
                                  frequency_max=3, as_needed=True, quantity=30)  # fmt: skip
    fact = _only([order])
    assert fact.daily_dose.mg_per_day == 30
    assert fact.daily_dose.usual_mg_per_day == 10
    assert fact.supply.days == 30


def test_prn_with_only_a_maximum_has_no_usual_use_and_no_supply_length() -> None:
    order = fb.medication_request(*CYCLO_10, dose=10, as_needed=True, quantity=30, max_per_period=(30, "mg", 1, "d"))
    fact = _only([order])
    assert fact.daily_dose.mg_per_day == 30  # the maximum still bounds the safety checks
    assert fact.daily_dose.usual_mg_per_day is None
    assert fact.supply.days is None
    assert "usual" in fact.supply.explanation


def test_scheduled_order_with_a_frequency_range_lasts_at_its_frequency() -> None:
    order = fb.medication_request(*BACLOFEN_10, dose=1, dose_unit="tablet", dose_code="{tbl}", frequency=2,
                                  frequency_max=3, quantity=60)  # fmt: skip
    fact = _only([order])
    assert fact.daily_dose.mg_per_day == 30
    assert fact.supply.days == 30


def test_huge_numbers_never_overflow_the_text() -> None:
    assert _fmt(1e308 * 10) == "∞"
    assert _fmt(1e308) == "1e+308"
    dose = daily_dose([{"doseAndRate": [{"doseQuantity": {"value": 1e308, "unit": "mg"}}],
                        "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}}])  # fmt: skip
    assert dose.mg_per_day is None and dose.unknown_reason and dose.unknown_reason.startswith("implausible")
