"""Shared fixtures: an app in dev mode (no client auth, no storage) and a hook-posting helper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

from cds_service.app import create_app
from cds_service.settings import load_settings
from tests.fhir_builders import SERVICE_IDS

# Properties check arithmetic, not speed: no per-example deadline (CI machines are shared).
hypothesis_settings.register_profile("cds", deadline=None, print_blob=True)
hypothesis_settings.load_profile("cds")


@pytest.fixture
def dev_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    return load_settings(dev=True, storage_enabled=False)


@pytest.fixture
def client(dev_settings: Any) -> Iterator[TestClient]:
    with TestClient(create_app(dev_settings)) as test_client:
        yield test_client


def post_hook(client: TestClient, request: dict[str, Any], service_id: str | None = None) -> Any:
    """POST a hook request to its service and return the parsed response (asserting 200)."""
    service = service_id or SERVICE_IDS[request["hook"]]
    response = client.post(f"/cds-services/{service}", json=request)
    assert response.status_code == 200, response.text
    return response.json()


def topics(body: dict[str, Any]) -> list[str]:
    return [card["source"]["topic"]["code"] for card in body["cards"]]
