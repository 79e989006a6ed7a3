"""Hepatic impairment severity from the problem list (issue 19, item 7), typed and from FHIR."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from cds_service.facts.build import build_facts
from cds_service.facts.hepatic import HepaticSeverity, child_pugh_class, hepatic_impairment
from cds_service.facts.model import ConditionCategory as Cat
from tests.support import fhir as fb
from tests.support.facts import SNOMED, cond

CIRRHOSIS = replace(cond(Cat.CIRRHOSIS, "K74.60", "Unspecified cirrhosis of liver"),
                    categories=frozenset({Cat.CIRRHOSIS, Cat.ACTIVE_LIVER_DISEASE, Cat.LIVER_DISEASE}))  # fmt: skip
FATTY_LIVER = cond(Cat.LIVER_DISEASE, "K76.0", "Fatty (change of) liver")
ASCITES = cond(Cat.ASCITES, "R18.8", "Other ascites")
ENCEPHALOPATHY = replace(cond(Cat.HEPATIC_DECOMPENSATION, "K76.82", "Hepatic encephalopathy"),
                         categories=frozenset({Cat.HEPATIC_DECOMPENSATION, Cat.LIVER_DISEASE}))  # fmt: skip
HEPATITIS_C = replace(cond(Cat.ACTIVE_LIVER_DISEASE, "B18.2", "Chronic viral hepatitis C"),
                      categories=frozenset({Cat.ACTIVE_LIVER_DISEASE, Cat.LIVER_DISEASE}))  # fmt: skip
HEART_FAILURE = cond(Cat.HEART_FAILURE, "I50.9", "Heart failure")


@pytest.mark.parametrize(
    ("conditions", "severity", "basis"),
    [
        ((), HepaticSeverity.NONE, ""),
        ((FATTY_LIVER,), HepaticSeverity.NONE, ""),  # a liver code is not impaired function
        ((ASCITES, HEART_FAILURE), HepaticSeverity.NONE, ""),  # ascites from the heart, no liver condition
        ((CIRRHOSIS,), HepaticSeverity.MILD, "cirrhosis, no decompensation recorded"),
        ((HEPATITIS_C,), HepaticSeverity.MILD, "hepatitis, no decompensation recorded"),
        ((CIRRHOSIS, ASCITES), HepaticSeverity.MODERATE_OR_SEVERE, "ascites with liver disease"),
        ((FATTY_LIVER, ASCITES), HepaticSeverity.MODERATE_OR_SEVERE, "ascites with liver disease"),
        ((ENCEPHALOPATHY,), HepaticSeverity.MODERATE_OR_SEVERE, "decompensated liver disease"),
    ],
)
def test_severity_from_conditions(conditions: tuple, severity: HepaticSeverity, basis: str) -> None:
    found = hepatic_impairment(conditions)
    assert (found.severity, found.basis) == (severity, basis)


@pytest.mark.parametrize(
    ("text", "klass"),
    [
        ("Cirrhosis, Child-Pugh class A", "A"),
        ("Child Pugh B", "B"),
        ("Child-Turcotte-Pugh class C", "C"),
        ("CTP score 6", "A"),
        ("Child-Pugh score 7", "B"),  # the edge between A (5-6) and B (7-9)
        ("Child-Pugh score: 10", "C"),  # the edge between B and C (10-15)
        ("Child-Pugh score 4", None),  # impossible: not read
        ("Cirrhosis of liver", None),
        ("Child abuse; Pugh's sign", None),
    ],
)
def test_child_pugh_class_from_text(text: str, klass: str | None) -> None:
    assert child_pugh_class(text) == klass


def test_a_coded_child_pugh_class_decides_over_plain_cirrhosis() -> None:
    class_b = replace(CIRRHOSIS, stage="Child-Pugh class B")
    found = hepatic_impairment([class_b])
    assert (found.severity, found.basis) == (HepaticSeverity.MODERATE_OR_SEVERE, "Child-Pugh class B")
    assert hepatic_impairment([replace(CIRRHOSIS, stage="Child-Pugh class A")]).severity is HepaticSeverity.MILD


def test_child_pugh_a_beside_coded_ascites_reads_the_safer_moderate_to_severe() -> None:
    assert hepatic_impairment([replace(CIRRHOSIS, stage="Child-Pugh A"), ASCITES]).severity is (
        HepaticSeverity.MODERATE_OR_SEVERE
    )


def test_child_pugh_from_a_fhir_condition_stage_and_snomed_ascites() -> None:
    """Cerner-style: SNOMED cirrhosis with Condition.stage.summary, and SNOMED ascites beside it."""
    cirrhosis = fb.condition("19943007", "Cirrhosis of liver", system=SNOMED)
    cirrhosis["stage"] = [{"summary": {"text": "Child-Pugh class C"}}]
    request = fb.hook_request("patient-view", conditions=[cirrhosis])
    facts = build_facts("patient-view", request["context"], request["prefetch"], datetime(2026, 11, 25, tzinfo=UTC))
    found = hepatic_impairment(facts.conditions)
    assert (found.severity, found.basis) == (HepaticSeverity.MODERATE_OR_SEVERE, "Child-Pugh class C")
    ascites = fb.condition("389026000", "Ascites", system=SNOMED)
    request = fb.hook_request("patient-view", conditions=[fb.condition("19943007", "Cirrhosis", system=SNOMED),
                                                          ascites])  # fmt: skip
    facts = build_facts("patient-view", request["context"], request["prefetch"], datetime(2026, 11, 25, tzinfo=UTC))
    assert hepatic_impairment(facts.conditions).severity is HepaticSeverity.MODERATE_OR_SEVERE


@pytest.mark.parametrize("stage", ["Child-Pugh C", [{"summary": 5}], [None, {"summary": {"coding": "x"}}]])
def test_a_malformed_stage_never_costs_the_condition(stage: object) -> None:
    cirrhosis = fb.condition("K74.60", "Unspecified cirrhosis of liver")
    cirrhosis["stage"] = stage
    request = fb.hook_request("patient-view", conditions=[cirrhosis])
    facts = build_facts("patient-view", request["context"], request["prefetch"], datetime(2026, 11, 25, tzinfo=UTC))
    assert [c.code for c in facts.conditions] == ["K74.60"]
    assert hepatic_impairment(facts.conditions).severity is HepaticSeverity.MILD
