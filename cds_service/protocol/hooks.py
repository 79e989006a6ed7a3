"""One hook call from bytes to response: parse, resolve prefetch, build facts, run rules.

HTTP-free so that `cds-service evaluate` and the route share it. The edge chooses whether the
request's `fhirServer` may be called (the client allowlist) and passes a fetcher or not.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from cds_service.auth import AuthenticatedClient
from cds_service.cdshooks import Card, HookRequest, HookResponse
from cds_service.engine import evaluate
from cds_service.facts.build import build_facts, orders_need_patient_data
from cds_service.protocol.errors import ClientError
from cds_service.protocol.parsing import parse_hook_request, parse_json_body
from cds_service.protocol.prefetch import FhirFetcher, resolve_prefetch
from cds_service.protocol.services import SERVICES, Service
from cds_service.settings import Settings

log = logging.getLogger("cds_service.hooks")

_LOOPBACK = re.compile(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)")


@dataclass
class HookOutcome:
    status: int  # 200 or 412
    body: dict[str, Any]
    service: Service
    request: HookRequest | None = None
    cards: list[Card] = field(default_factory=list)
    latency_ms: float = 0.0
    fetched_keys: list[str] = field(default_factory=list)
    gaps: int = 0
    skipped: int = 0


def find_service(service_id: str) -> Service:
    service = SERVICES.get(service_id)
    if service is None:
        raise ClientError(
            404, [(f"no CDS service with id '{service_id[:60]}'; see GET /cds-services", None)], "not-found"
        )
    return service


def fhir_server_refusal(request: HookRequest, client: AuthenticatedClient, settings: Settings) -> str | None:
    """Why this request's fhirServer may not be called, or None if it may."""
    server = request.fhirServer
    if not server:
        return "the EHR sent no fhirServer to fetch it from"
    if not client.may_call(server):
        return "the EHR's FHIR server is not configured for this client, so it was not contacted"
    if server.startswith("https://"):
        return None
    if server.startswith("http://") and (
        settings.dev or (settings.allow_http_fhir_loopback and _LOOPBACK.match(server))
    ):
        return None
    return "the FHIR server does not use https, so it was not contacted"


def apply_topic_style(card: Card, style: str) -> None:
    """Epic accepts only alphanumeric topic codes (≤ 100): baclofen-titration → BaclofenTitration."""
    if style == "epic" and card.source.topic is not None:
        code = card.source.topic.code
        card.source.topic.code = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", code))[:100]


def absolutize(card: Card, base_url: str) -> None:
    if card.source.url and card.source.url.startswith("/"):
        card.source.url = base_url.rstrip("/") + card.source.url


async def handle_hook_call(
    service_id: str,
    body: bytes,
    *,
    client: AuthenticatedClient,
    settings: Settings,
    http: httpx.AsyncClient,
    base_url: str,
    now: datetime | None = None,
) -> HookOutcome:
    started = time.perf_counter()
    service = find_service(service_id)
    data = parse_json_body(body, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
    request = parse_hook_request(data, service)
    now = now or datetime.now(UTC)
    if not orders_need_patient_data(service.hook, request.context, now):
        # e.g. an antibiotic being ordered: no rule of this guideline applies, so no record is read
        return HookOutcome(200, {"cards": []}, service, request, latency_ms=_ms(started))

    refusal = fhir_server_refusal(request, client, settings)
    fetcher = None
    if refusal is None:
        assert request.fhirServer is not None
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        fetcher = FhirFetcher(
            http,
            request.fhirServer,
            token,
            timeout=settings.fhir_timeout_seconds,
            max_pages=settings.fhir_max_pages,
            max_resources=settings.fhir_max_resources,
            max_response_bytes=settings.fhir_max_response_bytes,
            max_depth=settings.max_json_depth,
            deadline=asyncio.get_running_loop().time() + settings.fhir_deadline_seconds,
        )
    resolved = await resolve_prefetch(request, fetcher=fetcher, refusal=refusal)
    if resolved.unobtainable:
        body_412 = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "not-found",
                    "diagnostics": "No prefetch was sent and the FHIR server cannot be used: "
                    + (refusal or "unknown reason"),
                }
            ],
        }
        return HookOutcome(412, body_412, service, request, latency_ms=_ms(started))

    facts = build_facts(
        service.hook,
        request.context,
        resolved.prefetch,
        now,
        extra_resources=resolved.extra_resources,
        gaps=resolved.gaps,
    )
    evaluation = evaluate(facts)
    for card in evaluation.cards:
        apply_topic_style(card, client.topic_code_style)
        absolutize(card, base_url)
    response = HookResponse(cards=evaluation.cards).model_dump(mode="json", exclude_none=True)
    if facts.skipped:
        # Reported, not fatal: one malformed resource must not hide the other checks.
        response["extension"] = {
            "skippedResources": [
                {"where": s.where, "reason": s.reason} | ({"resource": s.resource} if s.resource else {})
                for s in facts.skipped
            ]
        }
        log.warning(
            "skipped malformed resources",
            extra={
                "hook_instance": request.hookInstance,
                "count": len(facts.skipped),
                "where": [s.where for s in facts.skipped][:10],
            },
        )
    return HookOutcome(
        200,
        response,
        service,
        request,
        cards=evaluation.cards,
        latency_ms=_ms(started),
        fetched_keys=resolved.fetched_keys,
        gaps=len(resolved.gaps),
        skipped=len(facts.skipped),
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
