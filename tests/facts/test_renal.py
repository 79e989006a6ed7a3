"""Kidney function: eGFR results, CKD-EPI 2021 from creatinine, conditions as fallback."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds_service.facts.build import build_facts
from cds_service.facts.model import PatientFacts
from cds_service.facts.renal import ckd_epi_2021
from tests.support import fhir as fb

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _facts(renal: list[dict[str, Any]], *, patient: dict[str, Any] | None = None,
           conditions: list[dict[str, Any]] | None = None) -> PatientFacts:  # fmt: skip
    request = fb.hook_request("patient-view", renal_results=renal, patient_resource=patient, conditions=conditions)
    return build_facts("patient-view", request["context"], request["prefetch"], NOW)


@pytest.mark.parametrize(
    ("creatinine", "age", "sex", "expected", "tolerance"),
    [
        # Published worked example (creatinineclearancecalculator.net CKD-EPI 2021 page, equation as on
        # kidney.org): woman, 55, 0.9 mg/dL "about 76" (the page rounds its intermediate factors)
        (0.9, 55, "female", 76, 0.6),
        # The equation term by term (κ, α, −1.200, 0.9938^age, 1.012 as published by the NKF):
        (1.0, 60, "male", 86.2, 0.1),  # 142 × 1.1111^-1.2 (0.8812) × 0.6886
        (0.6, 40, "female", 116.3, 0.1),  # below the knot: 142 × 0.8571^-0.241 (1.0379) × 0.7795 × 1.012
        (2.0, 70, "male", 35.2, 0.1),  # 142 × 2.2222^-1.2 (0.3834) × 0.6467
        (0.7, 50, "female", 105.3, 0.1),  # at the knot: 142 × 1 × 0.7327 × 1.012
    ],
)
def test_ckd_epi_2021_reference_values(
    creatinine: float, age: int, sex: str, expected: float, tolerance: float
) -> None:
    assert ckd_epi_2021(creatinine, age, sex) == pytest.approx(expected, abs=tolerance)


def test_an_egfr_result_is_read() -> None:
    facts = _facts([fb.egfr(52, "2026-11-20T08:00:00Z")])
    assert facts.renal is not None and facts.renal.egfr == 52
    assert "98979-8" in facts.renal.method


def test_creatinine_alone_gives_a_computed_egfr() -> None:
    patient = fb.patient(birth_date="1956-05-01", gender="male")  # 70 on 2026-11-20
    facts = _facts([fb.creatinine(2.0, "2026-11-20T08:00:00Z")], patient=patient)
    assert facts.renal is not None and facts.renal.egfr == pytest.approx(35.2, abs=0.1)
    assert facts.renal.method.startswith("CKD-EPI 2021") and "age 70" in facts.renal.method


def test_creatinine_in_umol_is_divided_by_88_42() -> None:
    patient = fb.patient(birth_date="1956-05-01", gender="male")
    facts = _facts([fb.creatinine(176.84, "2026-11-20T08:00:00Z", unit="umol/L")], patient=patient)
    assert facts.renal is not None and facts.renal.egfr == pytest.approx(35.2, abs=0.1)


@pytest.mark.parametrize(("gender", "why"), [("unknown", "sex"), (None, "sex")])
def test_no_sex_no_computed_egfr(gender: str | None, why: str) -> None:
    patient = fb.patient(birth_date="1956-05-01")
    patient.pop("gender")
    if gender:
        patient["gender"] = gender
    facts = _facts([fb.creatinine(2.0, "2026-11-20T08:00:00Z")], patient=patient)
    assert facts.renal is not None and facts.renal.egfr is None and why in facts.renal.method


def test_no_age_no_computed_egfr() -> None:
    patient = fb.patient()
    patient.pop("birthDate")
    facts = _facts([fb.creatinine(2.0, "2026-11-20T08:00:00Z")], patient=patient)
    assert facts.renal is not None and facts.renal.egfr is None and "age" in facts.renal.method


def test_newest_wins_and_a_result_beats_a_computed_one_the_same_day() -> None:
    patient = fb.patient(birth_date="1956-05-01", gender="male")
    same_day = _facts(
        [fb.egfr(58, "2026-11-20T07:00:00Z"), fb.creatinine(2.0, "2026-11-20T09:00:00Z")], patient=patient
    )
    assert same_day.renal is not None and same_day.renal.egfr == 58
    newer = _facts([fb.egfr(58, "2026-11-10T07:00:00Z"), fb.creatinine(2.0, "2026-11-20T09:00:00Z")], patient=patient)
    assert newer.renal is not None and newer.renal.egfr == pytest.approx(35.2, abs=0.1)


def test_race_based_egfr_codes_are_not_read() -> None:
    facts = _facts(
        [fb.egfr(70, "2026-11-20T08:00:00Z", loinc="48643-1"), fb.egfr(58, "2026-11-20T08:00:00Z", loinc="48642-3")]
    )
    assert facts.renal is not None and facts.renal.egfr == 58


def test_conditions_are_the_fallback() -> None:
    facts = _facts([], conditions=[fb.condition("N18.4", "Chronic kidney disease, stage 4 (severe)"),
                                   fb.condition("Z99.2", "Dependence on renal dialysis")])  # fmt: skip
    assert facts.renal is not None
    assert (facts.renal.egfr, facts.renal.ckd_stage, facts.renal.on_dialysis) == (None, 4, True)


def test_nothing_known_is_none() -> None:
    assert _facts([]).renal is None


def test_an_unreadable_newest_egfr_falls_back_to_the_older_one() -> None:
    facts = _facts([fb.egfr(500, "2026-11-20T08:00:00Z"), fb.egfr(45, "2026-11-01T08:00:00Z")])
    assert facts.renal is not None and facts.renal.egfr == 45
    assert facts.renal.unreadable is not None and facts.renal.unreadable.problem == "implausible value"


def test_egfr_given_as_greater_than_text() -> None:
    facts = _facts([fb.observation("98979-8", ">60", None, "2026-11-20T08:00:00Z", value_string=True)])
    assert facts.renal is not None and facts.renal.egfr == 60 and ">60" in facts.renal.method
