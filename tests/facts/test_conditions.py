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


@pytest.mark.parametrize(
    ("clinical", "abatement", "counts"),
    [
        (None, None, True),  # neither status nor abatement: the problem-list entry stands
        (None, "2026-10-01", False),  # abated in the past: con-4, not active
        (None, "2027-01-01", True),  # an abatement still ahead
        ("active", "2026-10-01", True),  # an explicit active status decides
        ("resolved", None, False),
    ],
)
def test_abatement_ends_a_condition_without_status(clinical: str | None, abatement: str | None, counts: bool) -> None:
    resource = fb.condition("K74.60", "Unspecified cirrhosis of liver", clinical_status=clinical, abatement=abatement)
    assert bool(_conditions(resource)) is counts


def test_abatement_as_text_or_age_counts_as_past() -> None:
    resource = fb.condition("K74.60", "Unspecified cirrhosis of liver", clinical_status=None)
    resource["abatementString"] = "resolved after transplant"
    assert _conditions(resource) == []
    resource = fb.condition("K74.60", "Unspecified cirrhosis of liver", clinical_status=None)
    resource["abatementAge"] = {"value": 50, "unit": "a"}
    assert _conditions(resource) == []


@pytest.mark.parametrize(
    ("code", "system", "expected", "absent"),
    [
        ("K76.0", fb.ICD10, {ConditionCategory.LIVER_DISEASE}, {ConditionCategory.CIRRHOSIS}),  # fatty liver
        ("B18.2", fb.ICD10, {ConditionCategory.ACTIVE_LIVER_DISEASE}, {ConditionCategory.CIRRHOSIS}),  # hepatitis C
        ("K70.30", fb.ICD10, {ConditionCategory.CIRRHOSIS, ConditionCategory.ACTIVE_LIVER_DISEASE}, set()),
        ("19943007", fb.SNOMED, {ConditionCategory.CIRRHOSIS}, set()),
        ("R25.2", fb.ICD10, {ConditionCategory.MUSCLE_CRAMPS}, {ConditionCategory.ACUTE_MUSCULOSKELETAL}),
        ("N18.32", fb.ICD10, {ConditionCategory.CKD_STAGE_3, ConditionCategory.RENAL_IMPAIRMENT}, set()),
        ("N18.4", fb.ICD10, {ConditionCategory.CKD_STAGE_4}, set()),
        ("N18.6", fb.ICD10, {ConditionCategory.CKD_STAGE_5}, set()),
        ("46177005", fb.SNOMED, {ConditionCategory.CKD_STAGE_5}, set()),
        ("Z99.2", fb.ICD10, {ConditionCategory.DIALYSIS}, set()),
        ("F10.20", fb.ICD10, {ConditionCategory.ALCOHOL_USE_DISORDER}, set()),
    ],
)
def test_condition_categories_on_fhir(code: str, system: str, expected: set, absent: set) -> None:
    (found,) = _conditions(fb.condition(code, "as the EHR names it", system=system))
    assert expected <= found.categories
    assert not (absent & found.categories)


def test_entered_in_error_conditions_are_not_listed() -> None:
    resource = fb.condition("K74.60", "Unspecified cirrhosis of liver", verification_status="entered-in-error")
    assert _conditions(resource) == []


def test_status_codes_are_read_case_insensitively() -> None:
    assert is_current("Active", "Confirmed")
    assert not is_current("Resolved", None)
    assert not is_current(None, "Refuted")
