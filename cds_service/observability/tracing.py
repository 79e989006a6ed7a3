"""OpenTelemetry tracing: off by default, configured by the standard `OTEL_*` variables.

On when `CDS_TRACING=true`, or `OTEL_TRACES_EXPORTER` names an exporter other than `none`, or
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; `OTEL_SDK_DISABLED=true`
turns it off whatever else says. Exporters: `otlp` (HTTP/protobuf, the default; endpoint, headers,
timeout and compression from the `OTEL_EXPORTER_OTLP_*` variables), `console`. Sampling
(`OTEL_TRACES_SAMPLER`), batching (`OTEL_BSP_*`) and the resource (`OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`; service.name defaults to `cds-service`) are the SDK's own.

Spans: the server span of each request (FastAPI instrumentation, named by route template), and
inside a hook call `cds.hook_call`, `cds.prefetch`, `cds.facts`, `cds.rules`, and one client span
per FHIR request (httpx instrumentation of the FHIR client only), named `FHIR GET <resource type>`.

Privacy: FHIR URLs carry patient ids in their path and query, and FHIR requests carry the EHR's
access token. Two layers keep them out: the FHIR client's request hook replaces the URL attributes
with a template (`https://host/base/Patient/{id}`, no query), and every span passes through
`SanitizingExporter` on its way out, which keeps only allowlisted attributes (method, status, route
template, host, the URL template, `cds.*` values we set), event names and exception types (never
exception messages or the status description, which may quote input), and span names that are a
route template, a method or ours. Headers are never recorded. `tests/test_tracing.py` checks it
with an in-memory exporter and sentinel patient values.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from typing import Any
from urllib.parse import urlsplit

from cds_service.settings import Settings

log = logging.getLogger("cds_service.tracing")

FHIR_TYPES = ("Patient", "MedicationRequest", "Medication", "Observation", "Condition")
_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
_ALLOWED_ATTRIBUTES = frozenset(
    {
        "http.request.method",
        "http.method",
        "http.response.status_code",
        "http.status_code",
        "http.route",
        "url.scheme",
        "http.scheme",
        "server.address",
        "server.port",
        "network.protocol.version",
        "http.flavor",
        "error.type",
    }
)
_URL_ATTRIBUTES = frozenset({"url.full", "http.url"})
_SAFE_TEXT = re.compile(r"[A-Za-z0-9_.:/{}\- ]{0,120}")

_tracer: Any = None  # the tracer of the app that set tracing up; None: tracing off


def tracing_enabled(settings: Settings, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if settings.tracing:
        return True
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter and exporter != "none":
        return True
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def span(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """A child span of the current one, or nothing at all when tracing is off (no cost)."""
    if _tracer is None:
        return contextlib.nullcontext()
    return _tracer.start_as_current_span(name, attributes=attributes or None)


def fhir_url_template(url: str) -> str:
    """`https://host/base/Patient/123?x=y` → `https://host/base/Patient/{id}`: the resource type
    and where it lives, never an id, a search parameter or user info."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "unparsable-url"
    segments = [s for s in parts.path.split("/") if s]
    for index, segment in enumerate(segments):
        if segment in FHIR_TYPES:
            path = "/".join(segments[: index + 1]) + ("/{id}" if index + 1 < len(segments) else "")
            return f"{parts.scheme}://{host}{port}/{path}"
    return f"{parts.scheme}://{host}{port}"


def fhir_resource_type(url: str) -> str:
    template = fhir_url_template(url)
    for segment in reversed(template.split("/")):
        if segment in FHIR_TYPES:
            return segment
    return "other"


def _clean_value(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and _SAFE_TEXT.fullmatch(value):
        return value
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return tuple(v for v in value if isinstance(v, bool | int | float))
    return "[dropped]"


def clean_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if key in _URL_ATTRIBUTES:
            out[key] = fhir_url_template(str(value))
        elif key in _ALLOWED_ATTRIBUTES or key.startswith("cds."):
            out[key] = _clean_value(value)
    return out


def clean_span_name(name: str, routes: Set[str]) -> str:
    if name.startswith(("cds.", "FHIR GET ")) and _SAFE_TEXT.fullmatch(name):
        return name
    method, _, path = name.partition(" ")
    if method in _METHODS:
        return name if path in routes else method
    return "span"


def _sanitized(span: Any, routes: Set[str]) -> Any:
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Status

    events = []
    for event in span.events:
        attributes = {}
        if event.name == "exception" and "exception.type" in (event.attributes or {}):
            attributes["exception.type"] = _clean_value(str(event.attributes["exception.type"]))
        events.append(Event(event.name if _SAFE_TEXT.fullmatch(event.name) else "event", attributes, event.timestamp))
    return ReadableSpan(
        name=clean_span_name(span.name, routes),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=clean_attributes(span.attributes),
        events=events,
        links=[],
        kind=span.kind,
        status=Status(span.status.status_code),  # without its description: it may quote input
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def sanitizing_exporter(inner: Any, routes: Set[str] = frozenset()) -> Any:
    """Wrap a SpanExporter so that only sanitized copies of the spans reach it."""
    from opentelemetry.sdk.trace.export import SpanExporter

    class SanitizingExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> Any:
            return inner.export([_sanitized(s, routes) for s in spans])

        def shutdown(self) -> None:
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            flush = getattr(inner, "force_flush", None)
            return bool(flush(timeout_millis)) if flush is not None else True

    return SanitizingExporter()


def _exporters_from_env(environ: Mapping[str, str]) -> list[Any]:
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    exporters: list[Any] = []
    for name in names or ["otlp"]:
        if name == "none":
            continue
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            if protocol and protocol != "http/protobuf":
                log.warning("OTLP protocol %s is not installed; exporting with http/protobuf", protocol[:20])
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        else:
            log.warning("unknown OTEL_TRACES_EXPORTER %s ignored (otlp, console or none)", name[:20])
    return exporters


class Tracing:
    """The tracing of one app: its provider, the FastAPI instrumentation, the FHIR clients'."""

    def __init__(self, provider: Any, routes: Set[str]) -> None:
        self.provider = provider
        self.routes = routes
        self.tracer = provider.get_tracer("cds_service")

    def activate(self) -> None:
        global _tracer
        _tracer = self.tracer

    def deactivate(self) -> None:
        global _tracer
        if _tracer is self.tracer:
            _tracer = None

    def instrument_app(self, app: Any) -> None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            excluded_urls="/health,/metrics",  # probes and scrapes every few seconds: noise
            exclude_spans=["receive", "send"],
            http_capture_headers_server_request=[],
            http_capture_headers_server_response=[],
        )

    def instrument_fhir_client(self, client: Any) -> None:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        # An AsyncClient calls only coroutine hooks (a plain function would be skipped silently).
        HTTPXClientInstrumentor.instrument_client(
            client, tracer_provider=self.provider, request_hook=_fhir_request_hook_async
        )

    def shutdown(self) -> None:
        self.deactivate()
        self.provider.shutdown()


def _fhir_request_hook(span: Any, request: Any) -> None:
    if span is None or not span.is_recording():
        return
    url = str(request.url) if hasattr(request, "url") else str(request[1])
    template = fhir_url_template(url)
    resource = fhir_resource_type(url)
    span.update_name(f"FHIR GET {resource}")
    for key in _URL_ATTRIBUTES:
        span.set_attribute(key, template)
    span.set_attribute("cds.fhir.resource", resource)


async def _fhir_request_hook_async(span: Any, request: Any) -> None:
    _fhir_request_hook(span, request)


def setup_tracing(
    settings: Settings,
    routes: Set[str] | Sequence[str] = (),
    *,
    exporter: Any = None,
    environ: Mapping[str, str] | None = None,
    span_processor: Callable[[Any], Any] | None = None,
) -> Tracing | None:
    """A `Tracing` when tracing is on (or `exporter` is given: tests), else None.

    `exporter` replaces the ones `OTEL_TRACES_EXPORTER` names; `span_processor` builds the processor
    around the (sanitizing) exporter (default: batching)."""
    env = os.environ if environ is None else environ
    if exporter is None and not tracing_enabled(settings, env):
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {}
    if not env.get("OTEL_SERVICE_NAME") and "service.name=" not in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes["service.name"] = "cds-service"
    provider = TracerProvider(resource=Resource.create(attributes))
    route_set = routes if isinstance(routes, set | frozenset) else frozenset(routes)
    exporters = [exporter] if exporter is not None else _exporters_from_env(env)
    if span_processor is None and exporter is not None:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        span_processor = SimpleSpanProcessor  # an exporter given in code (tests): each span at once
    make_processor = span_processor or BatchSpanProcessor
    for inner in exporters:
        provider.add_span_processor(make_processor(sanitizing_exporter(inner, route_set)))
    return Tracing(provider, route_set)


@contextlib.contextmanager
def no_tracing() -> Iterator[None]:
    """Tests: make sure no tracer is active inside the block."""
    global _tracer
    saved, _tracer = _tracer, None
    try:
        yield
    finally:
        _tracer = saved
