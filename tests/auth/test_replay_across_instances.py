"""A token accepted by one instance is refused by another sharing the PostgreSQL replay cache.

Two independent apps (separate authenticators, separate in-memory fallbacks) share only the
database: if the `seen_jti` table were not consulted, the second instance would accept.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.auth import app_token, hospital_app
from tests.support.storage import postgres_schema_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def shared_database() -> Iterator[str]:
    yield from postgres_schema_url()


def _instance(directory: Path, database_url: str) -> TestClient:
    return hospital_app(  # type: ignore[no-any-return]
        directory,
        storage_enabled=True,
        database_url=database_url,
        patient_hash_secret="replay-test-secret-0123456789abcdef",
    )


def test_token_replayed_on_another_instance_is_refused(
    tmp_path: Path, shared_database: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with _instance(tmp_path / "a", shared_database) as first, _instance(tmp_path / "b", shared_database) as second:
        assert first.app.state.authenticator is not second.app.state.authenticator
        token = {"Authorization": f"Bearer {app_token('/cds-services')}"}
        assert first.get("/cds-services", headers=token).status_code == 200
        replayed = second.get("/cds-services", headers=token)
        assert replayed.status_code == 401
        assert any(r.__dict__.get("reason") == "token replayed" for r in caplog.records)
        assert replayed.headers["WWW-Authenticate"].startswith("Bearer")
        # Control: a fresh token is accepted by the second instance.
        fresh = {"Authorization": f"Bearer {app_token('/cds-services')}"}
        assert second.get("/cds-services", headers=fresh).status_code == 200
        assert first.app.state.replay_cache.failures == 0
        assert second.app.state.replay_cache.failures == 0
