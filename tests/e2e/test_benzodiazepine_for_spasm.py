"""A benzodiazepine ordered for muscle spasm, from FHIR through HTTP (issue 19, item 6).

Diazepam for back spasm at 70 with an active as-needed opioid used to be "indication unknown": no card
at all. Now Beers 2023 (avoid benzodiazepines) and the benzodiazepine + opioid boxed warning (critical:
the order starts the combination) appear, whichever way the EHR codes the reason and the drug. A
benzodiazepine written for anxiety stays with the EHR's general screening.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.fhir import ICD10, SNOMED, condition, draft, hook_request, medication, medication_request, patient
from tests.support.http import one_card, post_hook, topics, years_ago

ORDER_HOOKS = ("order-select", "order-sign")
DIAZEPAM_5 = ("197591", "Diazepam 5 MG Oral Tablet")
OXYCODONE_5 = ("1049621", "Oxycodone Hydrochloride 5 MG Oral Tablet")
BACK_SPASM_ICD = (ICD10, "M62.830", "Muscle spasm of back")
SPASM_SNOMED = (SNOMED, "45352006", "Spasm (finding)")


def _prn_opioid() -> dict[str, Any]:
    return medication_request(*OXYCODONE_5, rid="oxy-1", dose=5, frequency=4, as_needed=True, authored_on="2026-11-20")


def _call(client: TestClient, hook: str, order: dict[str, Any], *, age: int = 70, **kw: Any) -> dict[str, Any]:
    meds = kw.pop("meds", [_prn_opioid()])
    request = hook_request(hook, drafts=[order], meds=meds, patient_resource=patient(birth_date=years_ago(age)), **kw)
    return post_hook(client, request)


@pytest.mark.parametrize("hook", ORDER_HOOKS)
@pytest.mark.parametrize("reason", [BACK_SPASM_ICD, SPASM_SNOMED], ids=["icd10-cm", "snomed-ct"])
def test_diazepam_for_back_spasm_at_70_on_a_prn_opioid(client: TestClient, hook: str, reason: Any) -> None:
    order = draft(*DIAZEPAM_5, dose=5, frequency=3, supply_days=7, reason_codes=[reason])
    body = _call(client, hook, order)
    boxed = one_card(body, "sedation-risk")
    assert boxed["indicator"] == "critical"  # the order starts benzodiazepine + opioid
    assert "diazepam" in boxed["summary"] and "oxycodone" in boxed["summary"]
    assert "respiratory depression" in boxed["detail"]
    beers = one_card(body, "elderly-caution")
    assert beers["indicator"] == "warning"
    assert "age 70" in beers["summary"] and "Beers 2023" in beers["summary"]
    assert "avoid** benzodiazepines" in beers["detail"]


def test_epic_medication_reference_and_a_reason_reference(client: TestClient) -> None:
    """Epic: the drug as a Medication bundled with the draft, the reason as a Condition reference."""
    order = draft(None, "diazepam 5 mg tablet", medication_reference="Medication/dz-5", dose=1, dose_unit="tablet",
                  dose_code="{tbl}", frequency=2, supply_days=5, reason_references=["Condition/spasm-1"])  # fmt: skip
    body = _call(
        client,
        "order-sign",
        order,
        draft_extra=[medication("dz-5", DIAZEPAM_5[0], DIAZEPAM_5[1])],
        conditions=[condition("M62.830", "Muscle spasm of back", cid="spasm-1")],
    )
    assert one_card(body, "sedation-risk")["indicator"] == "critical"
    assert one_card(body, "elderly-caution")["indicator"] == "warning"


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_diazepam_for_anxiety_at_70_on_an_opioid_is_the_ehrs_general_screening(client: TestClient, hook: str) -> None:
    """Quiet beside the firing case: the same order for anxiety, with back spasm on the problem list."""
    order = draft(*DIAZEPAM_5, dose=5, frequency=3, supply_days=7, reason_codes=[(ICD10, "F41.1", "GAD")])
    body = _call(client, hook, order, conditions=[condition("M62.830", "Muscle spasm of back")])
    assert not {"sedation-risk", "elderly-caution"} & set(topics(body)), [c["summary"] for c in body["cards"]]


def test_at_64_no_beers_card_but_the_boxed_warning_stays(client: TestClient) -> None:
    order = draft(*DIAZEPAM_5, dose=5, frequency=3, supply_days=7, reason_codes=[BACK_SPASM_ICD])
    body = _call(client, "order-sign", order, age=64)
    assert "elderly-caution" not in topics(body)
    assert one_card(body, "sedation-risk")["indicator"] == "critical"


def test_at_65_the_beers_card_appears(client: TestClient) -> None:
    order = draft(*DIAZEPAM_5, dose=5, frequency=3, supply_days=7, reason_codes=[BACK_SPASM_ICD])
    assert one_card(_call(client, "order-sign", order, age=65), "elderly-caution")["indicator"] == "warning"


def test_a_renewal_of_diazepam_for_spasm_on_an_opioid_is_a_warning_not_critical(client: TestClient) -> None:
    held = medication_request(*DIAZEPAM_5, rid="dz-1", dose=5, frequency=3, authored_on="2026-10-01",
                              reason_codes=[BACK_SPASM_ICD])  # fmt: skip
    renewal = draft(*DIAZEPAM_5, rid="dz-2", dose=5, frequency=3, supply_days=30, reason_codes=[BACK_SPASM_ICD])
    body = _call(client, "order-sign", renewal, meds=[_prn_opioid(), held])
    assert one_card(body, "sedation-risk")["indicator"] == "warning"  # the combination is not new
    assert "elderly-caution" not in topics(body)  # Beers fires on a start, not on every renewal
