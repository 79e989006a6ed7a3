"""Never silent about an in-scope order: what cannot be read is named, the rest is read, nothing escapes.

Security review: an order for a drug the rules read that failed validation used to be skipped, so no
rule saw it. Now it is listed with `problems` (field names, never values) and an unknown daily dose.
Impossible values (more than 100 g a day, a period under a minute, an authoredOn in the future) are
unreadable, never data. A hypothesis test feeds hostile FHIR-shaped JSON through `build_facts`.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.facts.build import build_facts, read_drafts
from cds_service.facts.model import PatientFacts
from tests.support import fhir as fb

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BACLOFEN = ("197391", "Baclofen 10 MG Oral Tablet")


def _base(**kw: Any) -> dict[str, Any]:
    kw.setdefault("dose", 10)
    kw.setdefault("frequency", 3)
    kw.setdefault("supply_days", 30)
    return fb.draft(*BACLOFEN, rid="d1", **kw)


def _sign(drafts: list[dict[str, Any]], **kw: Any) -> PatientFacts:
    request = fb.hook_request("order-sign", drafts=drafts, **kw)
    return build_facts("order-sign", request["context"], request["prefetch"], NOW)


def _set(resource: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    target: Any = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


DOSE_VALUE = ("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "value")
FREQUENCY = ("dosageInstruction", 0, "timing", "repeat", "frequency")
PERIOD = ("dosageInstruction", 0, "timing", "repeat", "period")


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("authoredOn",), "2026-11-20T10:00:00", "authoredOn"),  # a dateTime without a timezone
        (("authoredOn",), "0000-00-00", "authoredOn"),
        (DOSE_VALUE, "NaN", "dosageInstruction[0].doseAndRate[0].doseQuantity.value"),
        (DOSE_VALUE, True, "dosageInstruction[0].doseAndRate[0].doseQuantity.value"),
        (DOSE_VALUE, [10], "dosageInstruction[0].doseAndRate[0].doseQuantity.value"),
        (FREQUENCY, 0, "dosageInstruction[0].timing.repeat.frequency"),
        (("dispenseRequest", "numberOfRepeatsAllowed"), "two", "dispenseRequest.numberOfRepeatsAllowed"),
    ],
)
def test_an_invalid_field_is_named_and_the_order_is_kept(path: tuple[Any, ...], value: Any, problem: str) -> None:
    facts = _sign([_set(_base(), path, value)])
    (order,) = facts.drafts_in_scope
    assert order.ingredients == ("baclofen",) and order.reference == "MedicationRequest/d1"
    assert order.status == "draft" and order.display == BACLOFEN[1]
    assert problem in order.problems
    assert all(str(value) not in p for p in order.problems if str(value) not in problem)  # names, never values
    assert facts.skipped == ()
    if problem.startswith("dosageInstruction"):
        assert order.daily_dose.mg_per_day is None
        assert order.daily_dose.unknown_reason and "could not be read" in order.daily_dose.unknown_reason
    else:
        assert order.daily_dose.mg_per_day == 30  # the dose was readable


@pytest.mark.parametrize(
    ("path", "value", "problem_start"),
    [
        (PERIOD, 1e-300, "dosageInstruction (implausible timing period"),
        (DOSE_VALUE, 1e308, "dosageInstruction (implausible dose"),
        (DOSE_VALUE, 40_000, "dosageInstruction (implausible daily dose"),  # 40 g × 3 = 120 g a day
        (("authoredOn",), "2027-02-01", "authoredOn (in the future)"),
    ],
)
def test_impossible_values_are_unreadable_never_data(path: tuple[Any, ...], value: Any, problem_start: str) -> None:
    (order,) = _sign([_set(_base(), path, value)]).drafts_in_scope
    assert any(p.startswith(problem_start) for p in order.problems), order.problems
    if problem_start.startswith("dosage"):
        assert order.daily_dose.mg_per_day is None
        assert order.daily_dose.unknown_reason and order.daily_dose.unknown_reason.startswith("implausible")
    else:
        assert order.authored_on is None


def test_the_100_g_edge() -> None:
    at_limit = _sign([_set(_base(), DOSE_VALUE, 100_000 / 3)]).drafts_in_scope[0]
    assert at_limit.daily_dose.mg_per_day == pytest.approx(100_000) and at_limit.problems == ()
    above = _sign([_set(_base(), DOSE_VALUE, 100_001 / 3)]).drafts_in_scope[0]
    assert above.daily_dose.mg_per_day is None and above.problems


def test_clock_skew_allowance_for_authored_on() -> None:
    within = _sign([_set(_base(), ("authoredOn",), "2026-11-25T12:04:00Z")]).drafts_in_scope[0]
    assert within.problems == () and within.authored_on is not None
    beyond = _sign([_set(_base(), ("authoredOn",), "2026-11-25T12:06:00Z")]).drafts_in_scope[0]
    assert beyond.problems == ("authoredOn (in the future)",)
    tomorrow_somewhere = _sign([_set(_base(), ("authoredOn",), "2026-11-26")]).drafts_in_scope[0]
    assert tomorrow_somewhere.problems == ()  # a date may be tomorrow in the EHR's time zone


def test_an_existing_order_for_a_class_drug_is_kept_too() -> None:
    order = fb.medication_request("197391", "Baclofen 10 MG Oral Tablet", rid="old", dose=10, frequency=3)
    order["dosageInstruction"] = "10 mg three times a day"
    fluvox = fb.medication_request(None, "fluvoxamine 100 mg tablet", rid="fx", dose=100, frequency=1)
    fluvox["authoredOn"] = "2026-11-01T08:00:00"
    facts = _sign([_base()], meds=[order, fluvox])
    by_ref = {m.reference: m for m in facts.medications}
    assert by_ref["MedicationRequest/old"].problems == ("dosageInstruction",)
    assert by_ref["MedicationRequest/fx"].problems == ("authoredOn",)
    assert by_ref["MedicationRequest/fx"].daily_dose.mg_per_day == 100


def test_an_out_of_scope_order_that_fails_validation_is_still_only_skipped() -> None:
    order = fb.medication_request("314076", "lisinopril 10 MG Oral Tablet", rid="lis", dose=10, frequency=1)
    order["dosageInstruction"] = "once a day"
    facts = _sign([_base()], meds=[order])
    assert [m.reference for m in facts.medications] == ["MedicationRequest/lis"]  # listed, never dosed
    assert facts.medications[0].ingredients == ()


def test_a_malformed_in_scope_draft_still_needs_the_record() -> None:
    bad = _set(_base(), DOSE_VALUE, "NaN")
    request = fb.hook_request("order-sign", drafts=[bad])
    drafts = read_drafts("order-sign", request["context"], NOW)
    assert drafts.need_patient_data
    assert drafts.entries[0].fact is not None and drafts.entries[0].fact.problems


# --- hostile JSON -------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["NaN", "0000-00-00", "2026-11-20T10:00:00", "9999-12-31", "1e308", "-1", "", "mg", "#x"]),
)
_json = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
_MR_FIELDS = ["authoredOn", "dosageInstruction", "dispenseRequest", "contained", "reasonCode", "reasonReference",
              "intent", "id", "medicationReference", "subject", "priority"]  # fmt: skip
_DOSAGE_PATHS = [DOSE_VALUE, FREQUENCY, PERIOD, ("dosageInstruction", 0, "timing"), ("dosageInstruction", 0),
                 ("dispenseRequest", "quantity"), ("dispenseRequest", "expectedSupplyDuration"),
                 ("dosageInstruction", 0, "doseAndRate")]  # fmt: skip


@st.composite
def hostile_order(draw: st.DrawFn, status: str) -> dict[str, Any]:
    resource = _base(status=status)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if draw(st.booleans()):
            try:
                resource = _set(resource, draw(st.sampled_from(_DOSAGE_PATHS)), draw(_json))
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change removed the path
        else:
            resource[draw(st.sampled_from(_MR_FIELDS))] = draw(_json)
    resource.pop("medicationReference", None)  # the drug stays readable: the order is in scope
    if not isinstance(resource.get("id"), str) or not resource["id"]:
        resource["id"] = "d1"
    return resource


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draft_order=hostile_order("draft"), stored=hostile_order("active"))
def test_hostile_orders_never_raise_and_never_vanish(draft_order: dict[str, Any], stored: dict[str, Any]) -> None:
    stored = {**stored, "id": "stored-1"}
    facts = _sign([draft_order], meds=[stored])
    assert [d.ingredients for d in facts.drafts_in_scope] == [("baclofen",)]
    assert [m.ingredients for m in facts.medications] == [("baclofen",)]
    for order in (*facts.drafts_in_scope, *facts.medications):
        if order.problems:
            assert order.daily_dose.mg_per_day is None or not any(p.startswith("dosage") for p in order.problems)
        if order.daily_dose.mg_per_day is not None:
            assert 0 <= order.daily_dose.mg_per_day <= 100_000
        if order.supply.days is not None:
            assert 0 < order.supply.days <= 3650
            order.supply_end  # noqa: B018 - must not overflow
        order.ended_at  # noqa: B018


@st.composite
def hostile_resource(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    if kind == "Observation":
        resource = fb.potassium(3.1, "2026-11-20T08:00:00Z")
        fields = ["valueQuantity", "effectiveDateTime", "status", "interpretation", "code", "issued",
                  "effectivePeriod", "valueString", "id"]  # fmt: skip
    else:
        resource = fb.condition("K74.60", "Unspecified cirrhosis of liver")
        fields = ["clinicalStatus", "verificationStatus", "code", "abatementDateTime", "abatementPeriod",
                  "onsetDateTime", "onsetPeriod", "recordedDate", "id"]  # fmt: skip
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        resource[draw(st.sampled_from(fields))] = draw(_json)
    return resource


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    observations=st.lists(hostile_resource("Observation"), max_size=3),
    conditions=st.lists(hostile_resource("Condition"), max_size=3),
    order=hostile_order("draft"),
)
def test_hostile_observations_and_conditions_never_raise(
    observations: list[dict[str, Any]], conditions: list[dict[str, Any]], order: dict[str, Any]
) -> None:
    order = {**order, "reasonReference": [{"reference": f"Condition/{c.get('id')}"} for c in conditions]}
    facts = _sign(
        [order],
        potassium_results=observations,
        renal_results=[{**o, "code": {"coding": [{"system": fb.LOINC, "code": "2160-0"}]}} for o in observations],
        conditions=conditions,
    )
    assert len(facts.drafts_in_scope) == 1
    facts.indication_of(facts.drafts_in_scope[0])
    facts.continuation_of(facts.drafts_in_scope[0])


@settings(max_examples=60, deadline=None)
@given(garbage=_json)
def test_any_json_where_a_bundle_belongs_never_raises(garbage: Any) -> None:
    request = fb.hook_request("order-select", drafts=[_base()])
    request["prefetch"]["medications"] = garbage
    request["prefetch"]["conditions"] = {"resourceType": "Bundle", "entry": [garbage]}
    request["context"]["selections"] = garbage
    build_facts("order-select", request["context"], request["prefetch"], NOW)
