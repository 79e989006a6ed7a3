"""Issue 21, item 7: the guideline pages cannot be framed, sniffed or made to run anything, and the
audit counters on /health are for operators (the admin token), as they are in /metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.auth import hospital_app

ADMIN_TOKEN = "operator-token-0123456789abcdef"


@pytest.fixture
def sqlite_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with hospital_app(
        tmp_path,
        storage_enabled=True,
        database_url=f"sqlite:///{tmp_path}/audit.db",
        audit_spool_dir=tmp_path / "spool",
        admin_token=ADMIN_TOKEN,
        patient_hash_secret="pages-and-health-secret-0123456789",
    ) as client:
        yield client


@pytest.mark.parametrize("path", ["/guideline", "/guideline/baclofen-titration"])
def test_guideline_pages_send_csp_frame_and_nosniff_headers(sqlite_app, path: str) -> None:  # type: ignore[no-untyped-def]
    page = sqlite_app.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"


def test_health_shows_audit_counters_only_with_the_admin_token(sqlite_app) -> None:  # type: ignore[no-untyped-def]
    anonymous = sqlite_app.get("/health")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    wrong = sqlite_app.get("/health", headers={"Authorization": "Bearer not-the-token"})
    assert "audit" not in wrong.json()
    operator = sqlite_app.get("/health", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert operator.json()["status"] == "ok"
    assert {"pending", "written", "spooled", "lost"} <= set(operator.json()["audit"])


def test_health_says_when_the_spool_is_ephemeral(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with hospital_app(
        tmp_path,
        storage_enabled=True,
        database_url=f"sqlite:///{tmp_path}/audit.db",
        audit_spool_dir=tmp_path / "spool",
        audit_spool_ephemeral=True,
        patient_hash_secret="pages-and-health-secret-0123456789",
    ) as client:
        body = client.get("/health").json()
    assert body["audit_spool"].startswith("ephemeral") and "lost" in body["audit_spool"]
