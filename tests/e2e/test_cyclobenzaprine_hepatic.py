"""cyclobenzaprine-hepatic from FHIR through HTTP (issue 19, item 7): cirrhosis with ascites and Amrix.

Real EHR shapes: an RxNorm SCD code (sandbox, Cerner), an Epic Medication given by reference, the
ascites coded apart (R18.8) or inside the cirrhosis code (K70.31), SNOMED CT cirrhosis, a Child-Pugh
class in Condition.stage; quiet for cyclobenzaprine without liver disease.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.fhir import SNOMED, condition, draft, hook_request, medication, medication_request
from tests.support.http import one_card, post_hook, topics

ORDER_HOOKS = ("order-select", "order-sign")
AMRIX_15 = ("828358", "24 HR Cyclobenzaprine hydrochloride 15 MG Extended Release Oral Capsule")
CYCLO_10 = ("828348", "Cyclobenzaprine hydrochloride 10 MG Oral Tablet")
CYCLO_5 = ("828320", "Cyclobenzaprine hydrochloride 5 MG Oral Tablet")
TOPIC = "cyclobenzaprine-hepatic"


def _amrix_draft() -> dict[str, Any]:
    return draft(*AMRIX_15, dose=1, dose_unit="capsule", dose_code="{capsule}", frequency=1, supply_days=14)


def _sign(client: TestClient, order: dict[str, Any], conditions: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return post_hook(client, hook_request(kw.pop("hook", "order-sign"), drafts=[order], conditions=conditions, **kw))


@pytest.mark.parametrize("hook", ORDER_HOOKS)
@pytest.mark.parametrize(
    "liver",
    [
        [condition("K70.31", "Alcoholic cirrhosis of liver with ascites")],
        [condition("K74.60", "Unspecified cirrhosis of liver"), condition("R18.8", "Other ascites")],
        [condition("19943007", "Cirrhosis of liver", system=SNOMED), condition("389026000", "Ascites", system=SNOMED)],
    ],
    ids=["K70.31", "K74.60+R18.8", "snomed"],
)
def test_amrix_with_cirrhosis_and_ascites(client: TestClient, hook: str, liver: list[dict[str, Any]]) -> None:
    card = one_card(_sign(client, _amrix_draft(), liver, hook=hook), TOPIC)
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Avoid extended-release cyclobenzaprine: moderate to severe")
    assert "not recommended in any hepatic impairment" in card["detail"]
    assert card["suggestions"][0]["actions"][0]["type"] == "delete"


def test_epic_amrix_by_reference_with_compensated_cirrhosis(client: TestClient) -> None:
    """Any hepatic impairment: plain cirrhosis (mild) is enough for the extended-release capsule."""
    order = draft(None, "cyclobenzaprine ER 15 mg capsule", medication_reference="Medication/amrix-15", dose=1,
                  dose_unit="capsule", dose_code="{capsule}", frequency=1, supply_days=10)  # fmt: skip
    body = _sign(client, order, [condition("K74.60", "Unspecified cirrhosis of liver")],
                 draft_extra=[medication("amrix-15", "828359", AMRIX_15[1] + " [Amrix]")])  # fmt: skip
    card = one_card(body, TOPIC)
    assert "mild hepatic impairment" in card["summary"]
    assert "immediate release 5 mg" in card["detail"]


def test_immediate_release_in_child_pugh_b_is_not_recommended(client: TestClient) -> None:
    cirrhosis = condition("K74.60", "Unspecified cirrhosis of liver")
    cirrhosis["stage"] = [{"summary": {"text": "Child-Pugh class B"}}]
    card = one_card(_sign(client, draft(*CYCLO_5, dose=5, frequency=3, supply_days=7), [cirrhosis]), TOPIC)
    assert card["summary"] == "Avoid cyclobenzaprine: moderate to severe hepatic impairment (label: not recommended)"
    assert "Child-Pugh class B" in card["detail"]


def test_immediate_release_in_mild_impairment_edge(client: TestClient) -> None:
    """5 mg three times a day is the label's dose (quiet); 10 mg three times a day is not."""
    cirrhosis = [condition("K74.60", "Unspecified cirrhosis of liver")]
    quiet = _sign(client, draft(*CYCLO_5, dose=5, frequency=3, supply_days=7), cirrhosis)
    assert TOPIC not in topics(quiet)
    card = one_card(_sign(client, draft(*CYCLO_10, dose=10, frequency=3, supply_days=7), cirrhosis), TOPIC)
    assert card["summary"] == "Lower cyclobenzaprine to 5 mg per dose, less often: mild hepatic impairment"
    assert "**30 mg/day** ordered" in card["detail"]


@pytest.mark.parametrize(
    "conditions", [[], [condition("K76.0", "Fatty (change of) liver, not elsewhere classified")]], ids=["none", "fatty"]
)
def test_quiet_for_cyclobenzaprine_without_liver_impairment(client: TestClient, conditions: list) -> None:
    assert TOPIC not in topics(_sign(client, _amrix_draft(), conditions))


def test_chart_opening_on_amrix_with_decompensated_cirrhosis(client: TestClient) -> None:
    held = medication_request(*AMRIX_15, rid="amrix-1", dose=15, frequency=1, supply_days=14, authored_on="2026-11-20")
    request = hook_request("patient-view", meds=[held],
                           conditions=[condition("K70.31", "Alcoholic cirrhosis of liver with ascites")])  # fmt: skip
    card = one_card(post_hook(client, request), TOPIC)
    assert card["indicator"] == "warning" and not card.get("suggestions")
