"""OpenTelemetry tracing: off by default, on by the standard OTEL_* variables, the spans a hook call
makes, and no patient value, FHIR query or token in any exported span (in-memory exporter)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import respx
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cds_service.app import create_app
from cds_service.observability import tracing
from cds_service.settings import load_settings
from tests.support.auth import PUBLIC_BASE, app_clients_file
from tests.support.fhir import SERVICE_IDS


def test_tracing_is_off_by_default_and_follows_the_otel_variables() -> None:
    settings = load_settings(dev=True, storage_enabled=False)
    assert not tracing.tracing_enabled(settings, {})
    assert not tracing.tracing_enabled(settings, {"OTEL_TRACES_EXPORTER": "none"})
    assert tracing.tracing_enabled(settings, {"OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing.tracing_enabled(settings, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing.tracing_enabled(settings, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    on = load_settings(dev=True, storage_enabled=False, tracing=True)
    assert tracing.tracing_enabled(on, {})
    assert not tracing.tracing_enabled(on, {"OTEL_SDK_DISABLED": "true"})
    assert tracing.setup_tracing(settings, environ={}) is None
    app = create_app(settings)
    assert app.state.tracing is None
    with tracing.span("cds.anything") as current:  # off: no span object at all
        assert current is None


def test_console_exporter_from_the_environment() -> None:
    settings = load_settings(dev=True, storage_enabled=False)
    configured = tracing.setup_tracing(settings, environ={"OTEL_TRACES_EXPORTER": "console"})
    assert configured is not None
    configured.shutdown()


def test_fhir_urls_become_templates() -> None:
    template = tracing.fhir_url_template
    assert (
        template("https://fhir.example.org/r4/Patient/sentinel-pt-5521") == "https://fhir.example.org/r4/Patient/{id}"
    )
    assert (
        template("https://u:p@fhir.example.org:8443/r4/Observation?patient=sentinel&code=http://loinc.org|2823-3")
        == "https://fhir.example.org:8443/r4/Observation"
    )
    assert template("https://fhir.epic.example/api/FHIR/R4/MedicationRequest?patient=x") == (
        "https://fhir.epic.example/api/FHIR/R4/MedicationRequest"
    )
    assert template("https://fhir.example.org/r4?_getpages=sentinel&_page=2") == "https://fhir.example.org"


def test_the_exporter_keeps_only_allowlisted_attributes_and_no_exception_text() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(tracing.sanitizing_exporter(exporter, frozenset({"/cds-services/{service_id}"})))
    )
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /cds-services/sentinel-pt-5521") as span:
        span.set_attributes(
            {
                "http.request.method": "POST",
                "http.route": "/cds-services/{service_id}",
                "url.path": "/cds-services/sentinel-pt-5521",
                "url.query": "patient=sentinel-pt-5521",
                "http.request.header.authorization": "Bearer sentinel-access-token",
                "url.full": "https://fhir.example.org/r4/Patient/sentinel-pt-5521?x=1",
                "cds.cards": 2,
                "cds.note": "Quillonius Sentinelberg, born 1931-02-03",
            }
        )
        span.record_exception(ValueError("patient Sentinelberg MRN-7743-SENTINEL"))
        span.set_status(tracing_status_error("Sentinelberg"))
    with tracer.start_as_current_span("POST /cds-services/{service_id}"):
        pass
    first, second = exporter.get_finished_spans()
    dumped = _dump(first)
    assert "sentinel" not in dumped.lower() and "Sentinelberg" not in dumped and "1931" not in dumped
    assert first.name == "POST"  # not a route template: the path is dropped
    assert second.name == "POST /cds-services/{service_id}"
    assert first.attributes["url.full"] == "https://fhir.example.org/r4/Patient/{id}"
    assert first.attributes["cds.cards"] == 2
    assert "url.query" not in first.attributes and "http.request.header.authorization" not in first.attributes
    assert first.events[0].attributes == {"exception.type": "ValueError"}
    assert first.status.description is None


def tracing_status_error(description: str) -> Any:
    from opentelemetry.trace import Status, StatusCode

    return Status(StatusCode.ERROR, description)


def _dump(span: ReadableSpan) -> str:
    return json.dumps(
        {
            "name": span.name,
            "attributes": dict(span.attributes or {}),
            "events": [(e.name, dict(e.attributes or {})) for e in span.events],
            "status": span.status.description,
            "resource": dict(span.resource.attributes),
        },
        default=str,
    )


@pytest.fixture
def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.test_logs import FHIR_BASE

    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    settings = load_settings(
        clients_file=app_clients_file(tmp_path, [FHIR_BASE]),
        public_base_url=PUBLIC_BASE,
        database_url=f"sqlite:///{tmp_path}/audit.db",
        patient_hash_secret="trace-test-secret-0123456789",
        large_request_processes=0,
        max_queue_delay_ms=10_000,  # shedding has its own tests; a busy shared machine must not 503 here
    )
    exporter = InMemorySpanExporter()
    with TestClient(create_app(settings, span_exporter=exporter), base_url=PUBLIC_BASE) as app:
        yield app, exporter
    assert tracing._tracer is None  # the app's shutdown deactivated its tracer


def test_a_hook_call_is_traced_without_patient_data_or_tokens(traced: Any) -> None:
    from tests.test_logs import SENTINELS, _drive_every_endpoint, _fhir_server, _hook_body, _post

    app, exporter = traced
    tokens, _, _ = _drive_every_endpoint(app)
    driven = list(exporter.get_finished_spans())
    assert len(driven) >= 10
    exporter.clear()
    sign = f"/cds-services/{SERVICE_IDS['order-sign']}"
    with respx.mock(assert_all_called=False) as fhir:
        fhir.route(host="fhir.example.org").mock(side_effect=_fhir_server)
        assert _post(app, sign, _hook_body("order-sign", full_prefetch=False), tokens).status_code == 200
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    for expected in ("cds.hook_call", "cds.prefetch", "cds.facts", "cds.rules", "POST /cds-services/{service_id}"):
        assert expected in names, names
    fhir_spans = [s for s in spans if s.name.startswith("FHIR GET ")]
    assert {s.name for s in fhir_spans} >= {"FHIR GET Patient", "FHIR GET Observation", "FHIR GET Condition"}
    assert all(s.attributes["url.full"].startswith("https://fhir.example.org/r4/") for s in fhir_spans)
    by_id = {s.context.span_id: s for s in spans}
    parent = {s.name: by_id[s.parent.span_id].name for s in spans if s.parent and s.parent.span_id in by_id}
    assert parent["cds.hook_call"] == "POST /cds-services/{service_id}"
    assert parent["cds.facts"] == parent["cds.rules"] == parent["cds.prefetch"] == "cds.hook_call"
    assert all(parent[s.name] == "cds.prefetch" for s in fhir_spans)
    hook_call = next(s for s in spans if s.name == "cds.hook_call")
    assert hook_call.attributes["cds.service"] == SERVICE_IDS["order-sign"] and hook_call.attributes["cds.gaps"] >= 1

    # Every span of every endpoint driven above (success, FHIR fetch, 400, 401, 404, feedback) too.
    secrets = [*SENTINELS, *tokens, *(t.split(".")[2] for t in tokens)]
    for span in [*driven, *spans]:
        dumped = _dump(span)
        for secret in secrets:
            assert secret not in dumped, f"{secret[:24]} in span {span.name}"
