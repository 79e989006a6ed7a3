"""End-to-end helpers: post a hook request through the HTTP endpoint and read its cards.

The service evaluates at the real clock, so FHIR dates here are relative to today.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.support.fhir import SERVICE_IDS


def post_hook(client: TestClient, request: dict[str, Any], service_id: str | None = None) -> Any:
    """POST a hook request to its service and return the parsed response (asserting 200)."""
    service = service_id or SERVICE_IDS[request["hook"]]
    response = client.post(f"/cds-services/{service}", json=request)
    assert response.status_code == 200, response.text
    return response.json()


def topics(body: dict[str, Any]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in body["cards"]]


def days_ago(days: int) -> str:
    """A FHIR date `days` before today (real clock)."""
    return (datetime.now(UTC) - timedelta(days=days)).date().isoformat()


def years_ago(years: int, extra_days: int = 0) -> str:
    """A birth date making the patient `years` old today (`extra_days` > 0: a little older)."""
    today = datetime.now(UTC).date()
    try:
        birthday = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        birthday = today.replace(year=today.year - years, day=28)
    return (birthday - timedelta(days=extra_days)).isoformat()


def cards_of(body: dict[str, Any], topic: str) -> list[dict[str, Any]]:
    return [c for c in body["cards"] if c["source"]["topic"]["code"] == topic]


def one_card(body: dict[str, Any], topic: str) -> dict[str, Any]:
    found = cards_of(body, topic)
    assert len(found) == 1, [(c["source"]["topic"]["code"], c["summary"]) for c in body["cards"]]
    return found[0]


def delete_targets(card: dict[str, Any]) -> list[list[str]]:
    return [a["resourceId"] for s in card.get("suggestions", []) for a in s["actions"] if a["type"] == "delete"]


def not_checked_text(body: dict[str, Any]) -> str:
    """What a response says about data it could not check: the data-unavailable card (summary and detail),
    or the line it became in its drug's card (issue 19: "a line in that drug's card when it has one")."""
    for card in body["cards"]:
        if card["source"].get("topic", {}).get("code") == "data-unavailable":
            return f"{card['summary']}\n{card['detail']}"
    lines = [
        line for c in body["cards"] for line in (c.get("detail") or "").split("\n\n") if "Also: not checked" in line
    ]
    assert lines, f"nothing says what was not checked in {[c['summary'] for c in body['cards']]}"
    return "\n".join(lines)
