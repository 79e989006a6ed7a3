"""`/analytics` is bounded and scoped (finding 3 of the hardening issue): a period longer than
`CDS_ANALYTICS_MAX_DAYS` is a 400 at once (it used to take 46 s, 316 MB of HTML and 1.37 GB of
RSS), and each client sees only the cards it was shown and the feedback it sent; the admin token
sees every client's figures."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.settings import load_settings
from tests.support.auth import PUBLIC_BASE, claims, ec_key, mint, write_clients, write_jwks
from tests.support.fhir import draft, hook_request
from tests.support.storage import SECRET

SIGN = "muscle-spasm-order-sign"
ADMIN = "admin-token-for-tests-0123456789"
CLIENT_A, CLIENT_B = "https://ehr-a.example.org", "https://ehr-b.example.org"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    clients = write_clients(
        tmp_path,
        {"iss": CLIENT_A, "jwks_file": write_jwks(tmp_path, "a.json", ec_key("client-a").jwks())},
        {"iss": CLIENT_B, "jwks_file": write_jwks(tmp_path, "b.json", ec_key("client-b").jwks())},
    )
    settings = load_settings(
        clients_file=clients,
        public_base_url=PUBLIC_BASE,
        database_url=f"sqlite:///{tmp_path}/audit.db",
        patient_hash_secret=SECRET,
        admin_token=ADMIN,
        analytics_max_days=366,
    )
    with TestClient(create_app(settings), base_url=PUBLIC_BASE) as client:
        yield client


def _auth(iss: str, path: str) -> dict[str, str]:
    key = ec_key("client-a" if iss == CLIENT_A else "client-b")
    return {"Authorization": f"Bearer {mint(key, claims(iss=iss, aud=PUBLIC_BASE + path, now=datetime.now(UTC)))}"}


def _shown(page: str) -> int:
    match = re.search(r'id="total-shown">(\d+)<', page)
    assert match, page[:500]
    return int(match.group(1))


def _cards_for(app: TestClient, iss: str) -> int:
    request = hook_request("order-sign", drafts=[draft("197381", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)])
    response = app.post(f"/cds-services/{SIGN}", json=request, headers=_auth(iss, f"/cds-services/{SIGN}"))
    assert response.status_code == 200, response.text
    return len(response.json()["cards"])


def test_a_period_beyond_the_bound_is_refused_at_once(app: TestClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    started = time.monotonic()
    response = app.get("/analytics", params={"since": "0001-01-01"}, headers=admin)
    assert response.status_code == 400
    assert "366 days" in response.text
    assert time.monotonic() - started < 2
    too_old = (date.today() - timedelta(days=400)).isoformat()
    assert app.get("/analytics", params={"since": too_old}, headers=admin).status_code == 400
    in_range = (date.today() - timedelta(days=365)).isoformat()
    assert app.get("/analytics", params={"since": in_range}, headers=admin).status_code == 200


def test_each_client_sees_its_own_figures_and_the_admin_sees_all(app: TestClient) -> None:
    shown_a = _cards_for(app, CLIENT_A)
    assert shown_a >= 1
    app.app.state.recorder.flush()
    page_a = app.get("/analytics", headers=_auth(CLIENT_A, "/analytics"))
    page_b = app.get("/analytics", headers=_auth(CLIENT_B, "/analytics"))
    page_admin = app.get("/analytics", headers={"Authorization": f"Bearer {ADMIN}"})
    assert [p.status_code for p in (page_a, page_b, page_admin)] == [200, 200, 200]
    assert _shown(page_a.text) == shown_a
    assert _shown(page_b.text) == 0, "client B sees client A's cards"
    assert "baclofen-titration" not in page_b.text
    assert _shown(page_admin.text) == shown_a


def test_daily_figures_are_summed_by_the_database(tmp_path: Path) -> None:
    """One row per day comes back from SQL, however many cards were shown that day."""
    from cds_service.storage.recorder import SqlRecorder
    from cds_service.storage.report import build_report
    from tests.support.storage import card, hook_call

    recorder = SqlRecorder(f"sqlite:///{tmp_path}/r.db", SECRET)
    import asyncio

    asyncio.run(recorder.start())
    now = datetime.now(UTC)
    for n in range(30):
        recorder.record_hook_call(hook_call(card(), card("sedation-risk"), at=now - timedelta(days=n % 3)))
    assert recorder.flush()
    report = build_report(recorder.engine, now - timedelta(days=10), now=now)
    assert len(report.totals_by_day) == 3
    assert sum(d.shown for d in report.totals_by_day) == 60
    scoped: Any = build_report(recorder.engine, now - timedelta(days=10), now=now, client="https://nobody.example")
    assert scoped.totals_by_day == [] and scoped.topics == []
    asyncio.run(recorder.aclose())
