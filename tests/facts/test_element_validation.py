"""Element-by-element validation (issue 13) accepts and refuses exactly what validating the whole
resource with its fhir.resources R4B model does, for every read element of every resource in our
fixtures, with each element replaced by values real and hostile EHRs send.

The reference is the whole-resource validation the service used before (below, kept here as the
oracle): placeholders for absent required elements, a single object wrapped where FHIR has a list,
unread elements dropped. One deliberate difference: a required choice sent as null in any of its
forms is refused (before, `medicationReference: null` was filled in but `medicationCodeableConcept:
null` refused, an accident of which form held the placeholder).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cds_service.facts import fhir_json
from cds_service.facts.fhir_json import READ_FIELDS, UnusableResource, normalize, validate

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fhir"
CHOICE_GROUPS = {"medicationCodeableConcept": ("medicationCodeableConcept", "medicationReference")}
PLACEHOLDERS = {
    "status": "unknown",
    "intent": "order",
    "subject": {"reference": "Patient/unknown"},
    "code": {"text": "unknown"},
    "medicationCodeableConcept": {"text": "unknown"},
}


def whole_resource_accepts(resource: Mapping[str, Any]) -> bool:
    """The oracle: the read elements validated together by the resource's R4B model."""
    rt = resource["resourceType"]
    candidate = copy.deepcopy({k: v for k, v in normalize(resource).items() if k in READ_FIELDS[rt]})
    model = fhir_json._model_class(rt)
    for _ in range(12):
        try:
            model.model_validate(candidate)
            return True
        except ValidationError as exc:
            errors = exc.errors(include_input=False, include_url=False)
        except (TypeError, ValueError, RecursionError):
            return False
        changed = False
        for error in errors:
            loc = error.get("loc") or ()
            missing = fhir_json._missing_field(error)
            group = CHOICE_GROUPS.get(missing or "", (missing,))
            if missing and not any(name in candidate for name in group) and missing in PLACEHOLDERS:
                candidate[missing] = PLACEHOLDERS[missing]
                changed = True
            elif error.get("type") == "list_type" and len(loc) == 1 and isinstance(candidate.get(loc[0]), Mapping):
                candidate[loc[0]] = [candidate[loc[0]]]
                changed = True
        if not changed:
            return False
    return False


def element_validation_accepts(resource: Mapping[str, Any]) -> bool:
    try:
        validate(resource)
        return True
    except UnusableResource:
        return False


def fixture_resources() -> Iterator[dict[str, Any]]:
    """Every resource of a read type in the fixtures: prefetch bundles, draft orders, contained ones."""

    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("resourceType") in READ_FIELDS:
                yield node
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    seen: set[str] = set()
    for path in sorted(FIXTURES.rglob("*.json")):
        for resource in walk(json.loads(path.read_text())):
            key = json.dumps(resource, sort_keys=True)
            if key not in seen:
                seen.add(key)
                yield resource


RESOURCES = list(fixture_resources())

# What EHRs and attackers put where an element belongs.
ODD_VALUES: list[Any] = [
    None,
    "",
    "x",
    "2026-11-30T10:00:00",  # no time zone
    "0000-00-00",
    "2026-02-30",
    0,
    -1,
    1e308,
    "NaN",
    True,
    [],
    [None],
    [{}],
    {},
    {"text": "baclofen"},
    {"coding": [{"system": 5}]},
    [{"doseAndRate": [{"doseQuantity": {"value": "NaN"}}]}],
    [{"timing": {"repeat": {"frequency": 0, "period": 1, "periodUnit": "d"}}}],
    [{"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "fortnight"}}}],
    {"value": 3.1, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
    {"value": "3.1"},
    {"reference": "#med1"},
    [{"coding": [{"system": "http://snomed.info/sct", "code": "24700007"}]}],
    {"start": "2026-11-01", "end": "2025-01-01"},
    {"quantity": {"value": 90}, "expectedSupplyDuration": {"value": 30, "unit": "d"}},
    {"extension": 5},
    [[{}]],
]


def test_the_fixtures_hold_every_resource_type_the_rules_read() -> None:
    assert {r["resourceType"] for r in RESOURCES} == set(READ_FIELDS)
    assert len(RESOURCES) > 100


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: f"{r['resourceType']}/{r.get('id', '?')}")
def test_fixture_resources_get_the_whole_resource_verdict(resource: dict[str, Any]) -> None:
    assert element_validation_accepts(resource) == whole_resource_accepts(resource)


@pytest.mark.parametrize("resource_type", sorted(READ_FIELDS))
def test_each_read_element_replaced_by_odd_values_gets_the_whole_resource_verdict(resource_type: str) -> None:
    disagreements = []
    checked = 0
    for resource in [r for r in RESOURCES if r["resourceType"] == resource_type][:12]:
        for name in sorted(READ_FIELDS[resource_type] - {"resourceType"}):
            for value in ODD_VALUES:
                variant = {**resource, name: value}
                checked += 1
                fhir_json.MEMO.clear() if checked % 50 == 0 else None  # memo hits and misses both
                if element_validation_accepts(variant) != whole_resource_accepts(variant):
                    disagreements.append((resource.get("id"), name, value))
    assert checked > 150
    assert disagreements[:20] == []


def test_two_choices_of_one_element_are_refused_as_the_model_refuses_them() -> None:
    order = next(r for r in RESOURCES if r["resourceType"] == "MedicationRequest" and "medicationCodeableConcept" in r)
    both = {**order, "medicationReference": {"reference": "Medication/x"}}
    assert not whole_resource_accepts(both)
    with pytest.raises(UnusableResource, match="medicationCodeableConcept and medicationReference"):
        validate(both)


def test_a_refusal_names_the_element_never_its_value() -> None:
    order = next(r for r in RESOURCES if r["resourceType"] == "MedicationRequest" and "dosageInstruction" in r)
    bad = {**order, "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": "secret-1234"}}]}]}
    with pytest.raises(UnusableResource) as refused:
        validate(bad)
    assert str(refused.value).startswith("dosageInstruction[0].doseAndRate[0].doseQuantity.value")
    assert "secret-1234" not in str(refused.value)


def test_the_same_element_in_another_patient_is_a_memo_hit_with_the_same_verdict() -> None:
    fhir_json.MEMO.clear()
    order = next(r for r in RESOURCES if r["resourceType"] == "MedicationRequest" and "dosageInstruction" in r)
    first = validate({**order, "id": "patient-a-order", "authoredOn": "2026-01-05"})
    hits = fhir_json.MEMO.counts["hits"]
    second = validate({**order, "id": "patient-b-order", "authoredOn": "2025-07-19"})
    assert fhir_json.MEMO.counts["hits"] > hits  # the dosage and the medication were remembered
    assert second["dosageInstruction"] == first["dosageInstruction"]
    assert (first["id"], second["id"]) == ("patient-a-order", "patient-b-order")
    bad = {**order, "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": "NaN"}}]}]}
    for _ in range(2):  # a refusal remembered is a refusal again
        with pytest.raises(UnusableResource):
            validate(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "value",
                    "unit",
                    "code",
                    "system",
                    "coding",
                    "text",
                    "reference",
                    "doseAndRate",
                    "doseQuantity",
                    "timing",
                    "repeat",
                    "frequency",
                    "period",
                    "periodUnit",
                    "start",
                    "end",
                    "display",
                    "extension",
                ]
            ),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    resource=st.sampled_from(RESOURCES),
    data=st.data(),
)
def test_random_json_in_a_read_element_gets_the_whole_resource_verdict(resource: dict[str, Any], data: Any) -> None:
    name = data.draw(st.sampled_from(sorted(READ_FIELDS[resource["resourceType"]] - {"resourceType"})))
    variant = {**resource, name: data.draw(json_values)}
    assert element_validation_accepts(variant) == whole_resource_accepts(variant)


def test_a_date_or_code_seen_before_is_a_memo_hit_with_the_same_verdict() -> None:
    """Primitives are remembered by resource type, element, Python type and value (ids are not: they
    recur in no other patient); an impossible date is refused again, for the same reason."""
    fhir_json.MEMO.clear()
    order = next(r for r in RESOURCES if r["resourceType"] == "MedicationRequest" and "dosageInstruction" in r)
    validate({**order, "id": "a", "authoredOn": "2026-01-05", "status": "active"})
    hits = fhir_json.MEMO.counts["hits"]
    validate({**order, "id": "b", "authoredOn": "2026-01-05", "status": "active"})
    assert fhir_json.MEMO.counts["hits"] >= hits + 2  # authoredOn and status
    assert not any(isinstance(k, tuple) and k[1] == "id" for k in fhir_json.MEMO._entries)
    refusals = []
    for _ in range(2):
        with pytest.raises(UnusableResource) as refused:
            validate({**order, "authoredOn": "2026-02-30"})
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1] and refusals[0].startswith("authoredOn")
    assert ("MedicationRequest", "status", bool, True) not in fhir_json.MEMO._entries
    with pytest.raises(UnusableResource):
        validate({**order, "status": True})
    assert ("MedicationRequest", "status", bool, True) in fhir_json.MEMO._entries
