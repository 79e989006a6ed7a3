"""electrolyte-correction from FHIR through HTTP (issue 19, item 10): a chart opening with K 3.2 and Mg 0.65.

A patient on baclofen (an RxNorm SCD code, or Epic's Medication by reference) or with back spasm on the
problem list, potassium in mmol/L or mEq/L, magnesium in mmol/L, mg/dL or mEq/L: one information card
naming both values, magnesium first; quiet once a supplement started after the result, and for the
warning band (whose own cards stay as they were).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.fhir import condition, hook_request, magnesium, medication, medication_request, potassium
from tests.support.http import days_ago, one_card, post_hook, topics

BAC_10 = ("197391", "baclofen 10 MG Oral Tablet")
KCL_20_ER = ("198116", "Potassium Chloride 20 MEQ Extended Release Oral Tablet")
TOPIC = "electrolyte-correction"


def _on_baclofen() -> dict[str, Any]:
    return medication_request(*BAC_10, rid="bac", dose=10, frequency=3, authored_on=days_ago(120))


def _chart(k: dict[str, Any] | None, mg: dict[str, Any] | None, **kw: Any) -> dict[str, Any]:
    kw.setdefault("meds", [_on_baclofen()])
    return hook_request("patient-view", potassium_results=[k] if k else [], magnesium_results=[mg] if mg else [], **kw)


@pytest.mark.parametrize(
    ("k", "mg", "shown"),
    [
        (potassium(3.2, days_ago(2)), magnesium(0.65, days_ago(2), unit="mmol/L"), "Mg 0.65 mmol/L, K 3.2 mmol/L"),
        (potassium(3.2, days_ago(2), unit="mEq/L", ucum="meq/L"), magnesium(1.6, days_ago(2)),
         "Mg 1.6 mg/dL, K 3.2 mEq/L"),
        (potassium(3.2, days_ago(2)), magnesium(1.3, days_ago(2), unit="mEq/L", ucum="meq/L"),
         "Mg 1.3 mEq/L, K 3.2 mmol/L"),
    ],
    ids=["mmol", "meq-mg_dl", "mg-meq"],
)  # fmt: skip
def test_one_info_card_names_both_values_magnesium_first(client: TestClient, k: Any, mg: Any, shown: str) -> None:
    body = post_hook(client, _chart(k, mg))
    assert topics(body) == [TOPIC]  # and no per-lab card: the mild band on a chart is this one card
    card = one_card(body, TOPIC)
    assert card["indicator"] == "info"
    assert card["summary"] == f"Correct magnesium, then potassium: {shown}"
    assert "**Magnesium first**" in card["detail"] and days_ago(2)[:10] in card["detail"]


def test_epic_baclofen_by_reference(client: TestClient) -> None:
    order = medication_request(None, "BACLOFEN 10 MG PO TABS", rid="bac", medication_reference="#m1", dose=10,
                               frequency=3, authored_on=days_ago(60),
                               contained=[medication("m1", BAC_10[0], BAC_10[1])])  # fmt: skip
    body = post_hook(client, _chart(potassium(3.3, days_ago(1)), None, meds=[order]))
    assert one_card(body, TOPIC)["summary"] == "Correct low potassium (K 3.3 mmol/L): mildly low"


def test_back_spasm_on_the_problem_list_without_a_relaxant(client: TestClient) -> None:
    request = _chart(None, magnesium(0.66, days_ago(3), unit="mmol/L"), meds=[],
                     conditions=[condition("M62.830", "Muscle spasm of back")])  # fmt: skip
    card = one_card(post_hook(client, request), TOPIC)
    assert "Muscle spasm of back" in card["detail"]


def test_quiet_once_a_potassium_supplement_started_after_the_result(client: TestClient) -> None:
    kcl = medication_request(*KCL_20_ER, rid="kcl", dose=20, dose_unit="mEq", dose_code="meq", frequency=2,
                             authored_on=days_ago(1))  # fmt: skip
    body = post_hook(client, _chart(potassium(3.2, days_ago(3)), None, meds=[_on_baclofen(), kcl]))
    assert TOPIC not in topics(body)
    held = medication_request(*KCL_20_ER, rid="kcl", dose=20, dose_unit="mEq", dose_code="meq", frequency=1,
                              authored_on=days_ago(200))  # fmt: skip
    body = post_hook(client, _chart(potassium(3.2, days_ago(3)), None, meds=[_on_baclofen(), held]))
    assert "low despite it" in one_card(body, TOPIC)["detail"]


def test_the_warning_band_keeps_its_own_cards(client: TestClient) -> None:
    """K 2.8 and Mg 0.55: the two warning cards as before, no information card beside them."""
    body = post_hook(client, _chart(potassium(2.8, days_ago(1)), magnesium(0.55, days_ago(1), unit="mmol/L")))
    assert sorted(topics(body)) == ["electrolyte-magnesium", "electrolyte-potassium"]
    assert {c["indicator"] for c in body["cards"]} == {"warning"}


def test_quiet_for_normal_values_and_an_old_result(client: TestClient) -> None:
    assert topics(post_hook(client, _chart(potassium(3.5, days_ago(1)), magnesium(1.7, days_ago(1))))) == []
    assert topics(post_hook(client, _chart(potassium(3.2, days_ago(45)), None))) == []
