"""Authentication details from the hardening review (finding 11): an `aud` with a query string
appended is not the URL called, and a 401 body says nothing about which check failed (whether an
issuer or key id is known is for the logs, not for a prober)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.auth import APP_ISS, PUBLIC_BASE, app_token, claims, ec_key, hospital_app, mint

SIGN = "/cds-services/muscle-spasm-order-sign"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with hospital_app(tmp_path) as client:
        yield client


def _get(app: TestClient, token: str) -> Any:
    return app.get("/cds-services", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("suffix", ["?x=1", "?", "#frag", "/?a=b"])
def test_aud_with_a_query_or_fragment_appended_is_refused(app: TestClient, suffix: str) -> None:
    from datetime import UTC, datetime

    payload = claims(iss=APP_ISS, aud=PUBLIC_BASE + "/cds-services" + suffix, now=datetime.now(UTC))
    assert _get(app, mint(ec_key("app-ehr"), payload)).status_code == 401
    assert _get(app, app_token("/cds-services")).status_code == 200  # control


def test_401_bodies_are_identical_whatever_failed(app: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    unknown_issuer = mint(
        ec_key("app-ehr"), claims(iss="https://unknown.example", aud=PUBLIC_BASE + "/cds-services", now=now)
    )
    unknown_kid = mint(ec_key("other-kid"), claims(iss=APP_ISS, aud=PUBLIC_BASE + "/cds-services", now=now))
    wrong_aud = mint(ec_key("app-ehr"), claims(iss=APP_ISS, aud="https://elsewhere.example/x", now=now))
    caplog.set_level(logging.WARNING, logger="cds_service.auth")
    bodies = set()
    for token in (unknown_issuer, unknown_kid, wrong_aud, "not-a-jwt"):
        response = _get(app, token)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        bodies.add(response.text)
    missing = app.get("/cds-services")
    assert missing.status_code == 401
    bodies.add(missing.text)
    assert len(bodies) == 1, bodies
    body = bodies.pop()
    for word in ("issuer", "key", "audience", "malformed", "missing"):
        assert word not in body
    # the operator still learns why, from the log
    reasons = [r.__dict__.get("reason") for r in caplog.records]
    assert {"unknown issuer", "unknown key id", "wrong audience", "malformed token", "missing bearer token"} <= set(
        reasons
    )
