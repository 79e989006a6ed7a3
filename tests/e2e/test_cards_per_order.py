"""Issue 20, point 3: at most two cards per order on order hooks (criticals apart), the rest as lines.

The issue's own orders, FHIR through HTTP: cyclobenzaprine with sertraline and low potassium and
magnesium (four cards before); cyclobenzaprine with a contraindication and a 30-day supply (a
duration card beside "do not use", while the chart made it a line).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.fhir import condition, draft, hook_request, magnesium, medication_request, potassium
from tests.support.http import days_ago, post_hook, topics

CYCLO_10 = ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet")
SERTRALINE_100 = ("208149", "Sertraline 100 MG Oral Tablet [Zoloft]")
AFIB_ICD10 = ("I48.0", "Paroxysmal atrial fibrillation")
ORDER_HOOKS = ("order-select", "order-sign")


def _cyclobenzaprine_with_sertraline_and_low_labs(hook: str, supply_days: int = 30) -> dict:
    order = draft(*CYCLO_10, dose=1, dose_unit="tablet", frequency=3, supply_days=supply_days, quantity=90)
    sertraline = medication_request(*SERTRALINE_100, dose=100, frequency=1, authored_on=days_ago(60))
    return hook_request(
        hook,
        drafts=[order],
        meds=[sertraline],
        potassium_results=[potassium(3.2, days_ago(2))],
        magnesium_results=[magnesium(0.65, days_ago(2), unit="mmol/L")],
    )


@pytest.fixture(params=["medication-only", "whole-resource"])
def ehr(request: pytest.FixtureRequest) -> tuple[str, TestClient]:
    """Both kinds of client (clients file `suggestions`): the default (--dev here) and an EHR that
    applies a suggestion's whole resource."""
    name = "client" if request.param == "medication-only" else "whole_resource_client"
    return request.param, request.getfixturevalue(name)


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_four_concerns_about_one_order_are_two_cards_and_lines(ehr: tuple[str, TestClient], hook: str) -> None:
    kind, client = ehr
    body = post_hook(client, _cyclobenzaprine_with_sertraline_and_low_labs(hook))
    assert len(body["cards"]) == 2, [c["summary"] for c in body["cards"]]
    assert all(c["indicator"] != "critical" for c in body["cards"])
    # the two most serious concerns keep their cards; a card with a button first among equals
    if kind == "whole-resource":
        first, second = body["cards"]
        assert topics(body) == ["cyclobenzaprine-duration", "serotonergic-combination"]
        assert [s["label"] for s in first["suggestions"]] == ["Limit the supply to 21 days"]
    else:  # the supply limit is a line to enter, not a button the client would not apply
        first, second = body["cards"]
        assert topics(body) == ["serotonergic-combination", "cyclobenzaprine-duration"]
        assert "suggestions" not in second  # a lab request may stay on the first (a line carries its button)
        assert "enter on the order: days' supply **21**, quantity **63 tablets**" in second["detail"]
    # potassium and magnesium (one electrolyte card first) become lines in the first card, magnesium
    # first, each with its reasoning linked and its override reasons kept
    lines = [line for line in first["detail"].split("\n\n") if line.startswith("Also:")]
    assert lines == [
        "Also: Correct low magnesium (Mg 0.65 mmol/L): hypomagnesaemia.",
        "Also: Correct low potassium (K 3.2 mmol/L): mild hypokalaemia.",
    ]
    linked = {link["url"].rsplit("/", 1)[1] for link in first["links"] if link["label"].startswith("Also:")}
    assert linked == {"electrolyte-magnesium", "electrolyte-potassium"}
    assert {"data-outdated"} <= {r["code"] for r in first["overrideReasons"]}
    assert "Also:" not in second["detail"]


@pytest.mark.parametrize("hook", ORDER_HOOKS)
def test_two_concerns_stay_two_cards(ehr: tuple[str, TestClient], hook: str) -> None:
    """The quiet side: with normal labs nothing is folded."""
    _, client = ehr
    request = _cyclobenzaprine_with_sertraline_and_low_labs(hook)
    request["prefetch"]["potassium"]["entry"] = []
    request["prefetch"]["magnesium"]["entry"] = []
    body = post_hook(client, request)
    assert sorted(topics(body)) == ["cyclobenzaprine-duration", "serotonergic-combination"]
    assert not any("Also:" in c["detail"] for c in body["cards"])


@pytest.mark.parametrize("hook", [*ORDER_HOOKS, "patient-view"])
def test_the_hooks_agree_nothing_beside_do_not_use(client: TestClient, hook: str) -> None:
    """Issue 20, point 3: order-select, order-sign and the chart all show one critical card."""
    if hook == "patient-view":
        current = medication_request(*CYCLO_10, authored_on=days_ago(35), dose=10, frequency=3, supply_days=30)
        request = hook_request(hook, meds=[current], conditions=[condition(*AFIB_ICD10)])
    else:
        order = draft(*CYCLO_10, dose=10, frequency=3, supply_days=30)
        request = hook_request(hook, drafts=[order], conditions=[condition(*AFIB_ICD10)])
    body = post_hook(client, request)
    [card] = body["cards"]
    assert card["indicator"] == "critical"
    assert card["source"]["topic"]["code"] == "cyclobenzaprine-cardiac"
    assert "Also: " in card["detail"] and "cyclobenzaprine" in card["detail"].split("Also: ")[1]
