"""What trying the service in the CDS Hooks sandbox showed (scripts/sandbox_trial.py, docs/sandbox-trial).

The fixture is the sandbox's own order-select request, recorded in that trial: its draft order as
the sandbox builds it (`{pill}` doses, a 30-day supply it always adds, the reason picked in
"Treating"), the prefetch it filled from our templates against a real FHIR server (Medplum).
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from tests.support.http import post_hook, topics

FIXTURE = (
    Path(__file__).resolve().parents[2]
    / "fixtures"
    / "fhir"
    / "requests"
    / "sandbox-order-select-baclofen-cirrhosis-cramps.json"
)


def test_baclofen_three_times_a_day_for_cramps_in_cirrhosis(client: TestClient) -> None:
    """Baclofen 10 mg three times a day for cramps in cirrhosis, no potassium or magnesium on file."""
    body = post_hook(client, json.loads(FIXTURE.read_text()))
    assert topics(body) == ["baclofen-titration", "electrolyte-monitoring"]
    dose, labs = body["cards"]
    assert dose["summary"] == "Start baclofen at 10 mg/day or less (30 mg/day ordered)"
    # The arithmetic whole: in the sandbox it read "(1 tablet × 10 mg/tablet × 3 p…)".
    assert "30 mg/day (1 tablet × 10 mg/tablet × 3 per day)." in dose["detail"]
    assert "…" not in dose["detail"]
    # Albumin (nothing to click) is a line in the warning about the same order, with its reasoning linked.
    assert "Also: Consider albumin 20-40 g/week for cramps in cirrhosis" in dose["detail"]
    assert any(link["url"].endswith("/guideline/albumin-liver-cramps") for link in dose["links"])
    # The lab request keeps its own card: its two buttons would be lost in a line.
    assert [s["label"] for s in labs["suggestions"]] == [
        "Order serum potassium (LOINC 2823-3)",
        "Order serum magnesium (LOINC 19123-9)",
    ]


def test_the_plans_own_start_is_one_card(client: TestClient) -> None:
    """Baclofen 10 mg once a day, the cramp plan's start: no dose card; the lab request carries albumin."""
    request = json.loads(FIXTURE.read_text())
    [order] = [e["resource"] for e in request["context"]["draftOrders"]["entry"]]
    order["dosageInstruction"][0]["timing"]["repeat"]["frequency"] = 1
    body = post_hook(client, request)
    [card] = body["cards"]
    assert card["source"]["topic"]["code"] == "electrolyte-monitoring"
    assert "Also: Consider albumin" in card["detail"]
