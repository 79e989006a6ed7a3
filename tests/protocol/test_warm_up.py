"""The warm-up patient (issue 13: no cold start) must reach the code a real chart reaches: every
resource it carries is read, none skipped, and each hook answers with the cards such a chart gets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cds_service.auth import AuthenticatedClient
from cds_service.facts.build import build_facts, read_drafts
from cds_service.facts.model import DrugClass
from cds_service.protocol.services import SERVICES
from cds_service.protocol.warm_up import WARM_UP_CLIENT, is_warm_up, warm_up_request, warm_up_routes
from tests.support.auth import app_token, hospital_app
from tests.support.metrics import ADMIN_TOKEN, scrape, value


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_resource_of_the_warm_up_patient_is_read(service: str) -> None:
    hook = SERVICES[service].hook
    request = orjson.loads(warm_up_request(hook))
    now = datetime.now(UTC)
    drafts = read_drafts(hook, request["context"], now)
    facts = build_facts(hook, request["context"], request["prefetch"], now, drafts=drafts)
    assert facts.skipped == ()
    assert facts.age_years is not None and facts.age_years >= 65
    assert len(facts.medications) == 4  # coded, referenced (contained Medication), completed
    tramadol = next(m for m in facts.medications if "tramadol" in m.ingredients)
    assert tramadol.daily_dose.mg_per_day == 400  # the contained Medication's strength × the range's high end
    assert facts.potassium is not None and facts.magnesium is not None and facts.renal is not None
    assert len(facts.conditions) == 3
    if hook != "patient-view":
        assert [d.ingredients for d in facts.drafts_in_scope] == [("cyclobenzaprine",)]
        assert DrugClass.SEROTONERGIC in facts.drafts_in_scope[0].classes


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_hook_answers_the_warm_up_patient_with_cards(client: TestClient, service: str) -> None:
    response = client.post(f"/cds-services/{service}", content=warm_up_request(SERVICES[service].hook))
    assert response.status_code == 200
    body = response.json()
    assert "extension" not in body  # nothing skipped
    assert body["cards"], "a chart with findings: the rules' card paths are warmed too"


def test_after_the_warm_up_the_cyclic_gc_runs_rarely(client: TestClient) -> None:
    """The started app (the client fixture ran its lifespan) raised the GC's thresholds: a call's
    tens of thousands of acyclic objects no longer set off a collection per call."""
    import gc

    from cds_service.app import GC_THRESHOLDS

    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] >= 10_000


# ---------------------------------------------------------------- the warm-up through the HTTP stack


@pytest.fixture
def authenticated_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """Client JWTs required, audit to a SQLite file: what a hospital runs."""
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with hospital_app(
        tmp_path,
        storage_enabled=True,
        database_url=f"sqlite:///{tmp_path}/audit.db",
        audit_spool_dir=tmp_path / "spool",
        admin_token=ADMIN_TOKEN,
        large_request_processes=0,
    ) as client:
        yield client


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_start_up_calls_pass_the_jwt_check_in_process_only(authenticated_app: TestClient, service: str) -> None:
    """The warm-up call reaches the route without a token (it answers 200 with cards, so the route,
    its dependencies and the response encoding ran); the same body over HTTP without a token, or
    with anything a client can send that names the warm-up, is refused."""
    app: Any = authenticated_app.app
    statuses = asyncio.run(warm_up_routes(app, [(service, SERVICES[service].hook)]))
    assert statuses == {service: 200}
    body = warm_up_request(SERVICES[service].hook)
    path = f"/cds-services/{service}"
    headers = {"Content-Type": "application/json", "cds.warm_up": "1", "X-Warm-Up": "true"}
    assert authenticated_app.post(path, content=body, headers=headers).status_code == 401
    token = {"Authorization": f"Bearer {app_token(path)}"}
    assert authenticated_app.post(path, content=body, headers={**headers, **token}).status_code == 200  # control


def test_only_the_warm_up_client_object_marks_a_scope_as_warm_up() -> None:
    assert is_warm_up({"cds.warm_up": WARM_UP_CLIENT})
    for forged in ("1", b"1", True, "warm-up", AuthenticatedClient(iss="warm-up")):
        assert not is_warm_up({"cds.warm_up": forged})
    assert not is_warm_up({})


def test_the_start_up_calls_are_neither_audited_nor_counted(authenticated_app: TestClient) -> None:
    """An instance's start is no clinical event: its warm-up calls (one per service, each with cards)
    leave no audit row, no hook call and no card in the metrics; a real call right after does."""
    app: Any = authenticated_app.app
    calls_before = value(scrape(authenticated_app), "cds_hook_calls_total")
    cards_before = value(scrape(authenticated_app), "cds_cards_total")
    statuses = asyncio.run(warm_up_routes(app, [(s.id, s.hook) for s in SERVICES.values()]))
    assert set(statuses.values()) == {200}
    assert _audited_calls(authenticated_app) == 0  # the lifespan's own warm-up wrote none either
    metrics_text = scrape(authenticated_app)
    assert value(metrics_text, "cds_hook_calls_total") == calls_before
    assert value(metrics_text, "cds_cards_total") == cards_before

    path = "/cds-services/muscle-spasm-order-sign"
    body = warm_up_request("order-sign")
    response = authenticated_app.post(
        path, content=body, headers={"Authorization": f"Bearer {app_token(path)}", "Content-Type": "application/json"}
    )
    assert response.status_code == 200 and response.json()["cards"]
    metrics_text = scrape(authenticated_app)
    assert value(metrics_text, "cds_hook_calls_total") == calls_before + 1
    assert value(metrics_text, "cds_cards_total") == cards_before + len(response.json()["cards"])
    assert _audited_calls(authenticated_app) == 1


def _audited_calls(client: TestClient) -> int:
    app: Any = client.app
    assert app.state.recorder.flush()
    return int(app.state.recorder.stats()["written"])
