"""Issue 20, point 5, through HTTP: the labels' own words, what was ordered said as ordered, the source
once (in `source.label`, which clients print under the card), never again in the detail."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support.fhir import draft, hook_request, medication_request, patient
from tests.support.http import days_ago, one_card, post_hook, years_ago

CYCLO_10 = ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet")
SERTRALINE_100 = ("208149", "Sertraline 100 MG Oral Tablet [Zoloft]")
BAC_20 = ("197392", "Baclofen 20 MG Oral Tablet")


def test_a_serotonergic_pair_gets_the_labels_careful_observation_not_avoid(client: TestClient) -> None:
    order = draft(*CYCLO_10, dose=1, dose_unit="tablet", frequency=3, supply_days=10)
    sertraline = medication_request(*SERTRALINE_100, dose=100, frequency=1, authored_on=days_ago(60))
    card = one_card(post_hook(client, hook_request("order-sign", drafts=[order], meds=[sertraline])),
                    "serotonergic-combination")  # fmt: skip
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Observe closely for serotonin syndrome: cyclobenzaprine + sertraline")
    assert "careful observation is advised" in card["detail"]
    assert not card["summary"].startswith("Avoid")


def test_beers_names_the_drug_it_says_to_avoid(client: TestClient) -> None:
    order = draft(*CYCLO_10, dose=1, dose_unit="tablet", frequency=3, supply_days=10)
    request = hook_request("order-sign", drafts=[order], patient_resource=patient(years_ago(72)))
    card = one_card(post_hook(client, request), "elderly-caution")
    assert "Beers 2023: **avoid** cyclobenzaprine (" in card["detail"]
    assert "these muscle relaxants" not in card["detail"]


def test_what_was_ordered_reads_as_ordered_and_the_source_is_said_once(client: TestClient) -> None:
    order = draft(*BAC_20, dose=1, dose_unit="tablet", frequency=3, authored_on=days_ago(0))
    card = one_card(post_hook(client, hook_request("order-select", drafts=[order])), "baclofen-titration")
    assert card["summary"] == "Start baclofen at 15 mg/day or less (60 mg/day ordered)"
    assert card["source"]["label"].startswith("Muscle-spasm treatment summary, statements S1, S19")
    assert "Source:" not in card["detail"] and "FDA oral baclofen label" not in card["detail"]
