"""Prometheus metrics: what each counter counts, who may read /metrics, and that no patient value
or token ever becomes part of the exposition (the same sentinels as tests/test_logs.py).

Metrics are process-wide (one registry per process, as in production), so every test compares
values before and after what it does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.observability import exposition, metrics
from cds_service.settings import load_settings
from tests.support.auth import PUBLIC_BASE, app_clients_file, app_token
from tests.support.fhir import SERVICE_IDS, draft, hook_request, patient
from tests.support.metrics import ADMIN, ADMIN_TOKEN, samples, scrape, value

SIGN = f"/cds-services/{SERVICE_IDS['order-sign']}"
FHIR = "https://fhir.example.org/r4"


def _baclofen_sign(**kw: Any) -> dict[str, Any]:
    return hook_request(
        "order-sign", drafts=[draft("197391", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)], **kw
    )


@pytest.fixture
def dev_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    settings = load_settings(
        dev=True,
        admin_token=ADMIN_TOKEN,
        database_url=f"sqlite:///{tmp_path}/audit.db",
        audit_spool_dir=tmp_path / "spool",
        large_request_processes=0,
        fhir_max_response_bytes=50_000,
        max_queue_delay_ms=10_000,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_metrics_need_the_admin_token_and_are_absent_without_one(dev_app: TestClient, tmp_path: Path) -> None:
    assert dev_app.get("/metrics").status_code == 401
    assert dev_app.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = dev_app.get("/metrics", headers=ADMIN)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
    assert "cds_hook_calls_total" in ok.text or "cds_hook_calls" in ok.text
    bare = load_settings(dev=True, storage_enabled=False)
    with TestClient(create_app(bare)) as client:
        assert client.get("/metrics", headers=ADMIN).status_code == 404  # no token configured: the port only


def test_a_hook_call_counts_its_service_status_latency_steps_and_cards(dev_app: TestClient) -> None:
    before = samples(scrape(dev_app))
    response = dev_app.post(SIGN, json=_baclofen_sign())
    assert response.status_code == 200
    cards = response.json()["cards"]
    assert cards, "the baclofen start should give at least one card"
    dev_app.app.state.recorder.flush(timeout=10)
    after = samples(scrape(dev_app))

    def gained(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    service = SERVICE_IDS["order-sign"]
    assert gained("cds_hook_calls_total", service=service, hook="order-sign", status="200") == 1
    assert gained("cds_hook_call_duration_seconds_count", service=service) == 1
    assert gained("cds_facts_duration_seconds_count", hook="order-sign") == 1
    assert gained("cds_rules_duration_seconds_count", hook="order-sign") == 1
    assert gained("cds_cards_total") == len(cards)
    for card in cards:
        assert value(after, "cds_cards_total", topic=card["source"]["topic"]["code"], indicator=card["indicator"]) >= 1
    assert gained("cds_audit_records_total", outcome="written") == 1
    assert value(after, "cds_audit_pending") == 0
    assert value(after, "cds_ready") == 1
    assert value(after, "cds_process_resident_memory_bytes") > 10_000_000


def test_unknown_services_and_refusals_are_counted_without_minting_labels(dev_app: TestClient) -> None:
    probe = f"no-such-service-{uuid.uuid4().hex}"
    before = samples(scrape(dev_app))
    assert dev_app.post(f"/cds-services/{probe}", json=_baclofen_sign()).status_code == 404
    assert dev_app.post(SIGN, content=b"{not json").status_code == 400
    text = scrape(dev_app)
    assert probe not in text
    assert (
        value(text, "cds_hook_calls_total", service="unknown", status="404")
        - value(before, "cds_hook_calls_total", service="unknown", status="404")
        == 1
    )
    assert value(text, "cds_hook_calls_total", service=SERVICE_IDS["order-sign"], status="400") >= 1


def test_the_memo_hit_rate_rises_when_order_select_resends_the_same_history(dev_app: TestClient) -> None:
    request = _baclofen_sign()
    assert dev_app.post(SIGN, json=request).status_code == 200
    before = samples(scrape(dev_app))
    request["hookInstance"] = str(uuid.uuid4())
    assert dev_app.post(SIGN, json=request).status_code == 200
    after = samples(scrape(dev_app))
    hits = value(after, "cds_memo_lookups_total", memo="validation", result="hit")
    assert hits > value(before, "cds_memo_lookups_total", memo="validation", result="hit")
    assert value(after, "cds_memo_entries", memo="validation") >= 1


def _fhir(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if "/Patient/" in path:
        if "too-large" in path:
            return httpx.Response(200, content=b" " * 60_000, headers={"Content-Type": "application/fhir+json"})
        return httpx.Response(200, json=patient(pid="fetched"))
    if path.endswith("/MedicationRequest"):
        return httpx.Response(403, json={"resourceType": "OperationOutcome"})
    if path.endswith("/Condition"):
        return httpx.Response(500, text="boom")
    raise httpx.ReadTimeout("slow", request=request)  # Observation


def test_fhir_fetches_are_counted_by_outcome(dev_app: TestClient) -> None:
    before = samples(scrape(dev_app))
    with respx.mock(assert_all_called=False) as fhir:
        fhir.route(host="fhir.example.org").mock(side_effect=_fhir)
        omit = ("patient", "medications", "potassium", "conditions")
        assert dev_app.post(SIGN, json=_baclofen_sign(fhir_server=FHIR, omit=omit)).status_code == 200
        large = _baclofen_sign(fhir_server=FHIR, omit=("patient",), pid="too-large")
        assert dev_app.post(SIGN, json=large).status_code == 200
    after = samples(scrape(dev_app))
    for outcome, expected in {"ok": 1, "refused": 1, "error": 1, "timeout": 1, "too_large": 1}.items():
        gained = value(after, "cds_fhir_fetches_total", outcome=outcome) - value(
            before, "cds_fhir_fetches_total", outcome=outcome
        )
        assert gained == expected, (outcome, gained)
    assert value(after, "cds_fhir_fetch_duration_seconds_count", outcome="timeout") >= 1


def test_jwt_rejections_by_reason_and_replay_store_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    settings = load_settings(
        clients_file=app_clients_file(tmp_path, [FHIR]),
        public_base_url=PUBLIC_BASE,
        admin_token=ADMIN_TOKEN,
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/postgres",  # nothing listens: the store fails
        replay_outage="memory",
        audit_spool_dir=tmp_path / "spool",
        patient_hash_secret="metrics-test-secret-0123456789",
    )
    with TestClient(create_app(settings), base_url=PUBLIC_BASE) as app:
        before = samples(scrape(app))
        assert app.post(SIGN, json=_baclofen_sign()).status_code == 401  # no token
        token = {"Authorization": f"Bearer {app_token(SIGN)}"}
        assert app.post(SIGN, json=_baclofen_sign(), headers=token).status_code == 200  # memory fallback
        assert app.post(SIGN, json=_baclofen_sign(), headers=token).status_code == 401  # replayed
        after = samples(scrape(app))
        ready = app.get("/health/ready")
    for reason in ("missing_bearer_token", "token_replayed"):
        assert (
            value(after, "cds_jwt_rejections_total", reason=reason)
            - value(before, "cds_jwt_rejections_total", reason=reason)
            == 1
        )
    assert (
        value(after, "cds_replay_store_errors_total", store="database")
        - value(before, "cds_replay_store_errors_total", store="database")
        >= 2
    )
    assert value(after, "cds_hook_calls_total", service=SERVICE_IDS["order-sign"], status="401") >= 2
    assert value(after, "cds_audit_database_up") == 0  # the audit writer found it down: spooled
    assert ready.status_code == 200  # `memory` policy and a spool: the database is not required


def test_suppressed_cards_have_a_counter_the_edge_can_call() -> None:
    before = value(scrape_registry(), "cds_cards_suppressed_total", topic="baclofen-titration")
    metrics.card_suppressed("baclofen-titration")
    metrics.card_suppressed("Sentinelberg Quillonius")  # not an identifier: counted as "other"
    text = scrape_registry()
    assert value(text, "cds_cards_suppressed_total", topic="baclofen-titration") == before + 1
    assert "Sentinelberg" not in text


def scrape_registry() -> str:
    body, _ = exposition.render()
    return body.decode()


def test_no_patient_value_or_token_reaches_the_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every endpoint driven with sentinel patient values, tokens and a FHIR fetch (tests/test_logs.py),
    then the whole exposition searched for each sentinel, and every label value checked against
    the closed sets it may come from."""
    from tests.test_logs import FHIR_BASE, SENTINELS, _drive_every_endpoint

    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    settings = load_settings(
        clients_file=app_clients_file(tmp_path, [FHIR_BASE]),
        public_base_url=PUBLIC_BASE,
        admin_token=ADMIN_TOKEN,
        database_url=f"sqlite:///{tmp_path}/audit.db",
        patient_hash_secret="log-privacy-test-secret-0123456789",
        max_queue_delay_ms=10_000,  # shedding has its own tests; a busy shared machine must not 503 here
    )
    with TestClient(create_app(settings), base_url=PUBLIC_BASE) as app:
        tokens, _, _ = _drive_every_endpoint(app)
        app.app.state.recorder.flush(timeout=10)
        text = scrape(app)
    for secret in [*SENTINELS, *tokens, *(t.split(".")[2] for t in tokens), ADMIN_TOKEN]:
        assert secret not in text, f"{secret[:24]} in the metrics"
    services = {*SERVICE_IDS.values(), "unknown"}
    for (name, labels), _ in samples(text).items():
        for label, shown in labels:
            if label == "service":
                assert shown in services, (name, shown)
            elif label == "hook":
                assert shown in {*SERVICE_IDS, "unknown"}, (name, shown)
            elif label == "status":
                assert shown.isdigit(), (name, shown)
            elif label == "reason":
                assert shown.replace("_", "").isalpha(), (name, shown)
            elif label in ("topic", "memo", "store", "outcome", "indicator"):
                assert metrics.safe_label(shown) == shown, (name, shown)
    assert ADMIN["Authorization"] not in caplog.text
