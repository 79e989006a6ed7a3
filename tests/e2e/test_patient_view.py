"""Issue 12: patient-view speaks only when action is needed now.

A chart opening is not a prescribing decision: a stable patient gets nothing. What still speaks is
what needs doing today: a contraindication, a critical lab, cyclobenzaprine past 3 weeks, an MAOI
combination. Everything whose action belongs to ordering (titration, lab requests, sedation, Beers
starts, albumin) waits for the order.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.fhir import condition, hook_request, magnesium, medication_request, patient, potassium
from tests.support.http import days_ago, post_hook, topics, years_ago

BAC_20 = ("197392", "baclofen 20 MG Oral Tablet")
CYCLO_10 = ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet")
PHENELZINE_15 = ("312347", "phenelzine 15 MG Oral Tablet")
IBUPROFEN_400 = ("197805", "ibuprofen 400 MG Oral Tablet")
MS = ("G35", "Multiple sclerosis")
LOW_BACK_PAIN = ("M54.50", "Low back pain, unspecified")


def _chart(*, meds, conditions, k: float = 4.2, age: int = 45) -> dict:
    return hook_request(
        "patient-view",
        patient_resource=patient(years_ago(age)),
        meds=meds,
        conditions=[condition(*c) for c in conditions],
        potassium_results=[potassium(k, days_ago(10))],
        magnesium_results=[magnesium(2.0, days_ago(10))],
    )


def _stable_baclofen() -> dict:
    """Baclofen 20 mg three times a day (60 mg/day) for a year, for spasticity in MS."""
    return medication_request(*BAC_20, rid="bac", dose=20, frequency=3, authored_on=days_ago(365), route="oral")


def test_a_stable_baclofen_60_mg_ms_patient_with_normal_labs_gets_nothing(client: TestClient) -> None:
    body = post_hook(client, _chart(meds=[_stable_baclofen()], conditions=[MS]))
    assert body["cards"] == []


def test_a_low_back_pain_patient_without_a_relaxant_gets_nothing(client: TestClient) -> None:
    ibuprofen = medication_request(*IBUPROFEN_400, dose=400, frequency=3, authored_on=days_ago(5))
    body = post_hook(client, _chart(meds=[ibuprofen], conditions=[LOW_BACK_PAIN], k=3.3))
    assert body["cards"] == []


@pytest.mark.parametrize(
    ("case", "topic", "indicator"),
    [
        ("critical potassium", "electrolyte-potassium", "critical"),
        ("cyclobenzaprine past 3 weeks", "cyclobenzaprine-duration", "warning"),
        ("MAOI combination", "serotonergic-combination", "critical"),
    ],
)
def test_what_needs_action_now_still_speaks(client: TestClient, case: str, topic: str, indicator: str) -> None:
    meds = [_stable_baclofen()]
    k = 4.2
    if case == "critical potassium":
        k = 2.3
    if case == "cyclobenzaprine past 3 weeks":
        meds = [medication_request(*CYCLO_10, dose=10, frequency=3, authored_on=days_ago(25))]
    if case == "MAOI combination":
        meds = [
            medication_request(*CYCLO_10, dose=10, frequency=3, authored_on=days_ago(3), supply_days=10),
            medication_request(*PHENELZINE_15, dose=15, frequency=3, authored_on=days_ago(200)),
        ]
    body = post_hook(client, _chart(meds=meds, conditions=[MS], k=k))
    assert topics(body) == [topic]
    assert body["cards"][0]["indicator"] == indicator
