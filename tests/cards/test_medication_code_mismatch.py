"""medication-code-mismatch from FHIR through HTTP: the code decides, the disagreement is shown."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.fhir import draft, hook_request, medication_request
from tests.support.http import post_hook, topics

CARISOPRODOL_350 = "197446"  # what the sandbox's own test data sends under a "Baclofen 10 MG" display


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_draft_coded_as_another_drug_is_flagged(client: TestClient, hook: str) -> None:
    order = draft(CARISOPRODOL_350, "Baclofen 10 MG Oral Tablet", dose=1, dose_unit="{pill}", frequency=3)
    body = post_hook(client, hook_request(hook, drafts=[order]))
    card = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "medication-code-mismatch")
    assert card["indicator"] == "warning"
    assert "baclofen" in card["summary"] and "carisoprodol" in card["summary"] and CARISOPRODOL_350 in card["summary"]
    assert "did **not** run" in card["detail"]
    assert "summary, statement S23" in card["source"]["label"].replace("statements", "statement")


def test_active_order_coded_as_another_drug_is_flagged_on_patient_view(client: TestClient) -> None:
    order = medication_request(CARISOPRODOL_350, "Baclofen 10 MG Oral Tablet", status="active")
    body = post_hook(client, hook_request("patient-view", meds=[order]))
    assert "medication-code-mismatch" in topics(body)


@pytest.mark.parametrize(
    ("rxcui", "display"),
    [
        ("197391", "Baclofen 10 MG Oral Tablet"),  # code and name agree
        ("197391", "Lioresal 10 mg tablet"),  # a brand name of the same drug
        ("197391", "take one tablet three times daily"),  # no drug named in the text
        ("314076", "lisinopril 10 MG Oral Tablet"),  # a drug this service does not check
    ],
)
def test_no_card_when_code_and_name_do_not_disagree(client: TestClient, rxcui: str, display: str) -> None:
    body = post_hook(client, hook_request("order-sign", drafts=[draft(rxcui, display)]))
    assert "medication-code-mismatch" not in topics(body)
