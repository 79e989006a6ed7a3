"""Issue 19 from FHIR through HTTP: one dose judgment per order, read by every rule.

Each numbered situation of the issue (1, 2, 3, 4, 5, 8, 11) beside its quiet or ordinary twin, with
the variants EHRs send: RxNorm SCD codes, medicationReference to a Medication in the draft Bundle
(Epic), creatinine in mg/dL (eGFR computed with CKD-EPI 2021), ICD-10-CM conditions, a stop's
reasonCode. Dates are relative to today (the service evaluates at the real clock).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.fhir import ICD10, condition, creatinine, draft, egfr, hook_request, medication_request, patient
from tests.support.http import post_hook

BAC_10 = ("197391", "baclofen 10 MG Oral Tablet")
BAC_20 = ("197392", "baclofen 20 MG Oral Tablet")
DANTROLENE_IV = ("856696", "dantrolene sodium 20 MG Injection")
DANTROLENE_100 = ("856652", "dantrolene sodium 100 MG Oral Capsule")


def days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def born(years: int) -> dict[str, Any]:
    return patient(birth_date=(datetime.now(UTC) - timedelta(days=365.25 * years + 30)).date().isoformat())


def cards_of(body: dict[str, Any], topic: str) -> list[dict[str, Any]]:
    return [c for c in body["cards"] if c["source"]["topic"]["code"] == topic]


def every_dose_suggestion(body: dict[str, Any]) -> list[str]:
    return [
        s["label"]
        for c in body["cards"]
        for s in c.get("suggestions") or []
        for a in s["actions"]
        if a.get("resource", {}).get("resourceType") == "MedicationRequest"
    ]


# --- item 1: IV dantrolene for malignant hyperthermia --------------------------------------------


def test_iv_dantrolene_for_malignant_hyperthermia_is_never_told_to_slow(client: TestClient) -> None:
    """2.5 mg/kg (175 mg at 70 kg) every 6 hours: 700 mg/day, the IV label's antidote dosing."""
    iv = draft(*DANTROLENE_IV, rid="mh-1", dose=175, frequency=4, route="intravenous", authored_on=days_ago(0))
    body = post_hook(client, hook_request("order-sign", drafts=[iv]))
    assert cards_of(body, "max-daily-dose") == []
    assert not any("dantrolene" in c["summary"].lower() and "lower" in c["summary"].lower() for c in body["cards"])


def test_oral_dantrolene_above_400_still_gets_the_oral_maximum(client: TestClient) -> None:
    oral = draft(*DANTROLENE_100, rid="dan-1", dose=1, dose_unit="capsule", dose_code="{capsule}", timing_code="QID",
                 route="oral", authored_on=days_ago(0))  # fmt: skip
    oral["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 1.25  # 125 mg QID = 500 mg/day
    [card] = cards_of(post_hook(client, hook_request("order-sign", drafts=[oral])), "max-daily-dose")
    assert "Lower dantrolene to 400 mg/day or less" in card["summary"]


# --- item 2: no one-click dose at eGFR < 30 ---------------------------------------------------------


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_at_egfr_below_30_no_card_offers_a_dose(client: TestClient, hook: str) -> None:
    """Creatinine 2.9 mg/dL at 70 (female): CKD-EPI 2021 about 16; baclofen 10 mg TID started."""
    order = draft(*BAC_10, rid="bac-new", dose=10, frequency=3, route="oral", authored_on=days_ago(0))
    request = hook_request(
        hook, drafts=[order], patient_resource=born(70), renal_results=[creatinine(2.9, days_ago(2))]
    )
    body = post_hook(client, request)
    [renal] = cards_of(body, "renal-dosing")
    assert renal["indicator"] == "critical" and renal["summary"].startswith("No labelled baclofen dose at eGFR")
    assert "Consider holding or stopping" in renal["detail"]
    assert cards_of(body, "baclofen-titration") == [] and every_dose_suggestion(body) == []


def test_with_a_normal_kidney_the_label_start_is_offered(client: TestClient) -> None:
    order = draft(*BAC_10, rid="bac-new", dose=10, frequency=3, route="oral", authored_on=days_ago(0))
    body = post_hook(client, hook_request("order-sign", drafts=[order], renal_results=[egfr(92, days_ago(5))]))
    assert cards_of(body, "renal-dosing") == []
    assert every_dose_suggestion(body) == ["Change to 5 mg 3× daily (15 mg/day)"]


# --- item 3: a reduction judged against the kidney ------------------------------------------------


def _reduction(value: float, *, aki: bool) -> dict[str, Any]:
    current = medication_request(*BAC_20, rid="bac-cur", dose=20, frequency=3, route="oral", authored_on=days_ago(60))
    cut = draft(*BAC_10, rid="bac-cut", dose=25, frequency=2, route="oral", authored_on=days_ago(0))  # 50 mg/day
    conditions = [condition("N17.9", "Acute kidney failure, unspecified", system=ICD10)] if aki else []
    return hook_request(
        "order-sign", drafts=[cut], meds=[current], conditions=conditions, renal_results=[egfr(value, days_ago(1))]
    )


def test_60_to_50_mg_a_day_with_aki_and_egfr_22_gets_a_card(client: TestClient) -> None:
    body = post_hook(client, _reduction(22, aki=True))
    [renal] = cards_of(body, "renal-dosing")
    assert renal["indicator"] == "critical" and "acute kidney injury" in renal["detail"] and "…" not in renal["detail"]
    assert every_dose_suggestion(body) == []


def test_the_same_reduction_at_egfr_45_is_quiet(client: TestClient) -> None:
    assert cards_of(post_hook(client, _reduction(45, aki=False)), "renal-dosing") == []


# --- item 4: Beers only from 65 ---------------------------------------------------------------------


@pytest.mark.parametrize(("age", "beers"), [(40, False), (64, False), (65, True)])
def test_beers_avoid_is_said_from_65_the_label_dose_review_below(client: TestClient, age: int, beers: bool) -> None:
    order = draft(*BAC_10, rid="bac-new", dose=5, frequency=3, route="oral", authored_on=days_ago(0))
    request = hook_request(
        "order-sign", drafts=[order], patient_resource=born(age), renal_results=[egfr(45, days_ago(3))]
    )
    [renal] = cards_of(post_hook(client, request), "renal-dosing")
    assert renal["indicator"] == "warning"
    if beers:
        assert "Avoid baclofen" in renal["summary"] and "AGS Beers 2023" in renal["source"]["label"]
    else:
        assert "avoid" not in (renal["summary"] + renal["detail"]).lower()
        assert renal["summary"].startswith("Review the baclofen dose") and "reduced dosage" in renal["detail"]


# --- item 5: a stop for toxicity --------------------------------------------------------------------


def test_a_toxicity_stop_after_four_days_on_hemodialysis_gets_the_label_exception(client: TestClient) -> None:
    current = medication_request(*BAC_20, rid="bac-cur", dose=20, frequency=3, route="oral", authored_on=days_ago(4))
    stop = dict(current, status="stopped")
    stop["reasonCode"] = [
        {
            "coding": [
                {"system": ICD10, "code": "T42.8X5A", "display": "Adverse effect of baclofen, initial encounter"}
            ],
            "text": "baclofen toxicity",
        }
    ]
    conditions = [
        condition("G92.8", "Other toxic encephalopathy", cid="enc"),
        condition("Z99.2", "Dependence on renal dialysis", cid="hd"),
    ]
    body = post_hook(client, hook_request("order-sign", drafts=[stop], meds=[current], conditions=conditions))
    [card] = cards_of(body, "baclofen-withdrawal")
    assert "rapid withdrawal is allowed" in card["summary"] and card["indicator"] == "info"
    assert "60 mg/day for 4 days" in card["detail"] and "little withdrawal risk" in card["detail"]
    assert "Taper" not in card["summary"] and "next" not in card["detail"] and every_dose_suggestion(body) == []


def test_an_ordinary_stop_after_months_still_tapers(client: TestClient) -> None:
    current = medication_request(*BAC_20, rid="bac-cur", dose=20, frequency=3, route="oral", authored_on=days_ago(120))
    stop = dict(current, status="stopped")
    body = post_hook(
        client, hook_request("order-sign", drafts=[stop], meds=[current], renal_results=[egfr(88, days_ago(9))])
    )
    [card] = cards_of(body, "baclofen-withdrawal")
    assert card["summary"].startswith("Taper baclofen") and "next **50 mg/day**" in card["detail"]


# --- item 8: granule packets ------------------------------------------------------------------------


def _lyvispah(mg_per_packet: float) -> dict[str, Any]:
    medication = {
        "resourceType": "Medication",
        "id": "lyv",
        "code": {"text": f"Lyvispah {mg_per_packet:g} MG Oral Granules"},
        "ingredient": [
            {
                "itemCodeableConcept": {"text": "baclofen"},
                "strength": {
                    "numerator": {
                        "value": mg_per_packet,
                        "unit": "mg",
                        "system": "http://unitsofmeasure.org",
                        "code": "mg",
                    },
                    "denominator": {
                        "value": 1,
                        "unit": "packet",
                        "system": "http://unitsofmeasure.org",
                        "code": "{packet}",
                    },
                },
            }
        ],
    }
    order = draft(None, "Lyvispah granules", rid="lyv-1", medication_reference="Medication/lyv", dose=1,
                  dose_unit="packet", dose_code="{packet}", timing_code="TID", authored_on=days_ago(0))  # fmt: skip
    return hook_request("order-sign", drafts=[order], draft_extra=[medication], renal_results=[egfr(90, days_ago(4))])


def test_one_packet_three_times_a_day_at_10_mg_a_packet_is_a_30_mg_start(client: TestClient) -> None:
    body = post_hook(client, _lyvispah(10))
    [card] = cards_of(body, "baclofen-titration")
    assert "start 30 mg/day" in card["summary"] and "not understood" not in str(body)
    assert cards_of(body, "order-unreadable") == []


def test_one_5_mg_packet_three_times_a_day_is_the_label_start(client: TestClient) -> None:
    assert cards_of(post_hook(client, _lyvispah(5)), "baclofen-titration") == []


# --- item 11: the renal card's text -----------------------------------------------------------------


def test_the_egfr_date_is_the_results_and_the_ckd_epi_explanation_is_whole(client: TestClient) -> None:
    measured = datetime.now(UTC) - timedelta(days=2)
    order = draft(*BAC_10, rid="bac-new", dose=5, frequency=3, route="oral", authored_on=days_ago(0))
    request = hook_request(
        "order-sign",
        drafts=[order],
        patient_resource=born(50),
        renal_results=[creatinine(1.6, measured.strftime("%Y-%m-%dT%H:%M:%SZ"))],
        conditions=[condition("N18.30", "Chronic kidney disease, stage 3 unspecified", onset="2019-03-01")],
    )
    [renal] = cards_of(post_hook(client, request), "renal-dosing")
    assert f", measured {measured.date().isoformat()} (CKD-EPI 2021 from" in renal["detail"]
    assert "CKD stage 3 on the problem list)" in renal["detail"] and "…" not in renal["detail"]
    assert "2019" not in renal["detail"]
