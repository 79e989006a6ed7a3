"""A patient with years of history (5,000 resources): the right few facts come out.

Only resources the rules read are validated (see facts.build); the timing of this case is measured
outside the test suite (no timed assertions here).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from cds_service.facts.build import build_facts
from tests.support import fhir as fb

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OTHER_DRUGS = [
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("197361", "Amlodipine 5 MG Oral Tablet"),
    ("860975", "metformin hydrochloride 500 MG Oral Tablet"),
    ("617314", "atorvastatin 10 MG Oral Tablet"),
]


def large_request(n_medications: int = 1500, n_observations: int = 3000, n_conditions: int = 500) -> dict[str, Any]:
    start = date(2016, 1, 1)
    medications: list[dict[str, Any]] = []
    for i in range(n_medications):
        rxcui, display = OTHER_DRUGS[i % len(OTHER_DRUGS)]
        day = (start + timedelta(days=i * 2)).isoformat()
        medications.append(
            fb.medication_request(rxcui, display, rid=f"other-{i}", status="completed", authored_on=day, dose=1,
                                  dose_unit="{tbl}", frequency=1, supply_days=30)
        )  # fmt: skip
    for i, mg in enumerate((5, 10, 15)):
        medications.append(
            fb.medication_request("197391", "Baclofen 10 MG Oral Tablet", rid=f"bac-{i}",
                                  status="active" if i == 2 else "completed", authored_on=f"2026-{9 + i:02d}-01",
                                  dose=mg, frequency=3, supply_days=30)
        )  # fmt: skip
    observations: list[dict[str, Any]] = []
    for i in range(n_observations):
        effective = (datetime(2016, 1, 1, tzinfo=UTC) + timedelta(hours=i * 20)).isoformat()
        if i % 10 == 0:
            observations.append(fb.potassium(3.5 + (i % 7) / 10, effective, oid=f"k-{i}"))
        elif i % 10 == 1:
            observations.append(fb.magnesium(1.8, effective, oid=f"mg-{i}"))
        else:
            observations.append(fb.observation("2345-7", 95, "mg/dL", effective, ucum="mg/dL", oid=f"glu-{i}"))
    latest_k = fb.potassium(3.1, "2026-11-24T07:00:00Z", oid="k-latest")
    conditions = [fb.condition("E11.9", "Type 2 diabetes", cid=f"dm-{i}") for i in range(n_conditions - 1)]
    conditions.append(fb.condition("G35", "Multiple sclerosis", cid="ms"))
    draft = fb.draft("197391", "Baclofen 10 MG Oral Tablet", dose=20, frequency=3, supply_days=30)
    return fb.hook_request(
        "order-sign",
        drafts=[draft],
        meds=medications,
        potassium_results=[*observations[: n_observations // 2], latest_k],
        magnesium_results=observations[n_observations // 2 :],
        conditions=conditions,
    )


def test_large_patient_facts_are_exact() -> None:
    request = large_request()
    total = sum(len(b["entry"]) for k, b in request["prefetch"].items() if k != "patient")
    assert total >= 5000
    facts = build_facts("order-sign", request["context"], request["prefetch"], NOW)
    assert facts.skipped == ()
    assert facts.drafts_in_scope[0].daily_dose.mg_per_day == 60
    # The 1,500 finished orders of 2016-2024 end before the history horizon: not parsed, not listed.
    assert [m.resource_id for m in facts.medications] == ["bac-0", "bac-1", "bac-2"]
    assert facts.potassium is not None and facts.potassium.provenance is not None
    assert facts.potassium.provenance.resource == "Observation/k-latest"
    assert facts.potassium.value_mmol_l == 3.1
    assert facts.magnesium is not None and facts.magnesium.value_mmol_l == 0.7405
    assert [c.code for c in facts.conditions] == ["G35"]
    history = facts.dose_histories["baclofen"]
    assert (history.current_mg_per_day, history.previous_mg_per_day) == (45, 30)
