"""Labs tell the truth: the newest result that cannot be read is kept as unreadable (with its date, raw
value, unit, problem and flag) beside the older readable one; preliminary results are not used."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds_service.facts.build import build_facts
from cds_service.facts.model import PatientFacts
from tests.support import fhir as fb

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OLD = "2026-11-01T08:00:00Z"
NEW = "2026-11-24T08:00:00Z"


def _facts(k: list[dict[str, Any]] = (), mg: list[dict[str, Any]] = ()) -> PatientFacts:  # type: ignore[assignment]
    request = fb.hook_request("patient-view", potassium_results=list(k), magnesium_results=list(mg))
    return build_facts("patient-view", request["context"], request["prefetch"], NOW)


def test_potassium_without_a_unit_is_read() -> None:
    facts = _facts([fb.observation("2823-3", 3.2, None, NEW)])
    assert facts.potassium is not None and facts.potassium.value_mmol_l == 3.2
    assert facts.potassium_unreadable is None


def test_meq_and_mmol_are_the_same_number() -> None:
    facts = _facts([fb.potassium(3.4, NEW, unit="mEq/L", ucum="meq/L")])
    assert facts.potassium is not None and facts.potassium.value_mmol_l == 3.4


def test_magnesium_without_a_unit_is_not_guessed() -> None:
    facts = _facts(mg=[fb.observation("19123-9", 1.2, None, NEW), fb.magnesium(1.9, OLD)])
    assert facts.magnesium is not None and facts.magnesium.value == 1.9  # the previous one
    assert facts.magnesium_unreadable is not None and facts.magnesium_unreadable.problem == "no unit"


@pytest.mark.parametrize(
    ("newest", "problem"),
    [
        (fb.potassium(15.6, NEW, unit="mg/dL", ucum="mg/dL"), "unit mg/dL on a mmol/L code"),
        (fb.observation("2823-3", "3.1", "mmol/L", NEW, ucum="mmol/L"), "value is text"),
        (fb.observation("2823-3", "hemolyzed", None, NEW, value_string=True), "value is text"),
        (fb.potassium(0.9, NEW), "implausible value (outside 1–10 mmol/L)"),
        (fb.potassium(10.1, NEW), "implausible value (outside 1–10 mmol/L)"),
        (fb.potassium(-3.0, NEW), "negative value"),
        (fb.potassium(3.0, "2026-11-25T12:10:00Z"), "date in the future"),
    ],
)
def test_an_unreadable_newest_potassium_is_kept_beside_the_previous(newest: dict, problem: str) -> None:
    facts = _facts([newest, fb.potassium(4.0, OLD, oid="k-old")])
    assert facts.potassium is not None and facts.potassium.value_mmol_l == 4.0  # "previous"
    unreadable = facts.potassium_unreadable
    assert unreadable is not None and unreadable.problem == problem
    assert unreadable.effective is not None


@pytest.mark.parametrize(("value", "readable"), [(1.0, True), (10.0, True), (0.99, False), (10.01, False)])
def test_potassium_plausibility_edges(value: float, readable: bool) -> None:
    facts = _facts([fb.potassium(value, NEW)])
    assert (facts.potassium is not None) is readable


@pytest.mark.parametrize(("mg_dl", "readable"), [(0.25, True), (12.0, True), (0.2, False), (12.2, False)])
def test_magnesium_plausibility_edges(mg_dl: float, readable: bool) -> None:
    """0.1–5 mmol/L: mg/dL × 0.4114."""
    facts = _facts(mg=[fb.magnesium(mg_dl, NEW)])
    assert (facts.magnesium is not None) is readable


def test_clock_skew_allowance() -> None:
    assert _facts([fb.potassium(3.0, "2026-11-25T12:04:00Z")]).potassium is not None


def test_the_lab_flag_is_kept_when_the_value_cannot_be_read() -> None:
    newest = fb.observation("2823-3", "<2.5", None, NEW, value_string=True, interpretation="LL")
    facts = _facts([newest])
    assert facts.potassium is None
    unreadable = facts.potassium_unreadable
    assert unreadable is not None
    assert (unreadable.raw_value, unreadable.interpretation) == ("<2.5", "LL")


@pytest.mark.parametrize("status", ["preliminary", "entered-in-error", "cancelled", "registered"])
def test_results_not_final_are_not_used(status: str) -> None:
    facts = _facts([fb.potassium(2.4, NEW, status=status), fb.potassium(4.0, OLD)])
    assert facts.potassium is not None and facts.potassium.value_mmol_l == 4.0
    assert facts.potassium_unreadable is None


def test_a_readable_newest_result_has_no_unreadable_beside_it() -> None:
    facts = _facts([fb.potassium(3.3, NEW), fb.potassium("x", OLD)])  # type: ignore[arg-type]
    assert facts.potassium is not None and facts.potassium.value_mmol_l == 3.3
    assert facts.potassium_unreadable is None
