"""Shared fixtures: an app in dev mode (no client auth, no storage). Helpers live in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

from cds_service.app import create_app
from cds_service.settings import load_settings
from tests.support.node_servers import MedplumServer, medplum_server

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


@pytest.fixture(scope="session")
def medplum(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedplumServer]:
    """The real FHIR server (Medplum's in-memory R4 engine under Node) for the whole session."""
    with medplum_server(tmp_path_factory.mktemp("medplum") / "stderr.log") as server:
        yield server


@pytest.fixture
def whole_resource_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[TestClient]:
    """The app as a hospital runs it for an EHR configured `suggestions = "whole-resource"` (it applies
    a suggestion's whole resource), every request signed by that EHR; no storage."""
    from tests.support.auth import hospital_app

    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with hospital_app(tmp_path, entry={"suggestions": "whole-resource"}, signed=True) as test_client:
        yield test_client
