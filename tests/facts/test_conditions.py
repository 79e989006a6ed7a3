"""Which conditions count: the facts layer is the one place that decides (rules never filter again)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cds_service.facts.build import build_facts
from cds_service.facts.conditions import is_current
from cds_service.facts.model import ConditionCategory
from tests.support import fhir as fb

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _conditions(resource: dict) -> list:
    request = fb.hook_request("patient-view", conditions=[resource])
    return list(build_facts("patient-view", request["context"], request["prefetch"], NOW).conditions)


def _with_status(clinical: str | None, verification: str | None) -> dict:
    resource = fb.condition("I48.0", "Paroxysmal atrial fibrillation")
    resource.pop("clinicalStatus", None)
    resource.pop("verificationStatus", None)
    if clinical is not None:
        resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": clinical}]}
    if verification is not None:
        resource["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": verification}]}
    return resource


@pytest.mark.parametrize(
    ("clinical", "verification", "counts"),
    [
        ("active", "confirmed", True),
        ("recurrence", "confirmed", True),
        ("relapse", "provisional", True),
        (None, None, True),  # no status given: the problem list entry stands
        ("resolved", "confirmed", False),
        ("inactive", "confirmed", False),
        ("remission", "confirmed", False),
        ("active", "refuted", False),
        ("active", "entered-in-error", False),
    ],
)
def test_only_current_conditions_become_facts(clinical: str | None, verification: str | None, counts: bool) -> None:
    found = _conditions(_with_status(clinical, verification))
    assert bool(found) is counts
    if counts:
        assert ConditionCategory.CARDIAC_ARRHYTHMIA in found[0].categories


def test_status_codes_are_read_case_insensitively() -> None:
    assert is_current("Active", "Confirmed")
    assert not is_current("Resolved", None)
    assert not is_current(None, "Refuted")
