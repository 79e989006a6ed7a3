"""HTTP routes of the CDS Hooks edge: discovery, service calls, health, guideline pages."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from cds_service.auth import AuthenticatedClient
from cds_service.cards.base import RuleCard
from cds_service.cdshooks import Card, DiscoveryResponse
from cds_service.observability import metrics
from cds_service.protocol import openapi
from cds_service.protocol.decisions import (
    CallKeys,
    call_keys,
    drafts_by_key,
    drafts_json,
    intents_json,
    not_applied_line,
)
from cds_service.protocol.deps import authenticated_client, presents_admin_token, public_base_url
from cds_service.protocol.errors import ClientError
from cds_service.protocol.hooks import LARGE_BODY_BYTES, HookOutcome, handle_hook_call
from cds_service.protocol.pages import guideline_index, guideline_page
from cds_service.protocol.services import SERVICES
from cds_service.protocol.smart_app import registration
from cds_service.protocol.warm_up import WARM_UP_CLIENT
from cds_service.storage import CardRecord, HookCallRecord, suppression_key

log = logging.getLogger("cds_service.http")

router = APIRouter()


def _json(payload: object, status: int = 200) -> Response:
    return Response(content=orjson.dumps(payload), status_code=status, media_type="application/json")


async def _discovery_client(request: Request) -> AuthenticatedClient | None:
    if request.app.state.settings.auth_discovery:
        return await authenticated_client(request)
    return None


@router.get("/cds-services", summary="CDS Hooks discovery", response_model=DiscoveryResponse)
async def discovery(request: Request, _: AuthenticatedClient | None = Depends(_discovery_client)) -> Response:
    services = DiscoveryResponse(services=[s.definition() for s in SERVICES.values()])
    if request.app.state.settings.smart_app_links:  # how an EHR registers the app its cards link to
        for service in services.services:
            service.extension = {"smart-app": registration(public_base_url(request))}
    return _json(services.model_dump(mode="json", exclude_none=True))


@router.post("/cds-services/{service_id}", summary="Call a CDS service (CDS Hooks 2.0)", **openapi.HOOK_CALL)
async def call_service(
    service_id: str, request: Request, client: AuthenticatedClient = Depends(authenticated_client)
) -> Response:
    state = request.app.state
    received_at = datetime.now(UTC)
    declared = request.headers.get("content-length")
    limit = state.settings.max_body_bytes
    if declared and declared.isdigit() and int(declared) > limit:
        raise ClientError(413, [(f"request body is {declared} bytes; the limit is {limit}", None)], "too-costly")
    body = await request.body()
    outcome: HookOutcome | None = None
    try:
        rule_set = state.rule_sets.get(client.iss, state.site_rule_set)
        if state.large_pool is not None and len(body) >= LARGE_BODY_BYTES:
            outcome = await state.large_pool.handle(
                service_id, body, client, state.settings, public_base_url(request), rule_set
            )
        else:
            outcome = await handle_hook_call(
                service_id,
                body,
                client=client,
                settings=state.settings,
                http=state.http_pool.get(),
                base_url=public_base_url(request),
                rule_set=rule_set,
                cpu=state.cpu,
            )
    except ClientError as exc:
        log.info("hook request refused", extra={"status": exc.status, "service": service_id[:60]})
        raise
    keys, held = await _overrides_that_hold(state, outcome, client, rule_set.override_suppression_days)
    decided = call_keys(outcome, client.iss, state.settings.patient_hash_secret, received_at)
    repeated = await _not_repeated_at_signing(state, outcome, decided)
    await _say_accepted_not_applied(state, outcome, decided)
    log.info(
        "hook call",
        extra={
            "service": outcome.service.id,
            "hook_instance": outcome.request.hookInstance if outcome.request else None,
            "status": outcome.status,
            "cards": len(outcome.cards),
            "topics": [c.topic_code for c in outcome.cards],
            "fetched": outcome.fetched_keys,
            "gaps": outcome.gaps,
            "skipped": outcome.skipped,
            "latency_ms": outcome.latency_ms,
        },
    )
    if client is not WARM_UP_CLIENT:  # the instance's own start-up call is no clinical event
        _count_and_audit(state, outcome, client, received_at, keys, held | repeated, decided, set(repeated))
    if outcome.status == 412:
        return Response(content=orjson.dumps(outcome.body), status_code=412, media_type="application/fhir+json")
    return _json(outcome.body)


def _count_and_audit(
    state: Any,
    outcome: HookOutcome,
    client: AuthenticatedClient,
    received_at: datetime,
    keys: dict[str, str],
    held: dict[str, Card],
    decided: CallKeys,
    repeated: set[str],
) -> None:
    """The call's cards in the metrics, and its row in the audit trail (queued, written off the path)."""
    for card in outcome.cards:
        metrics.card_shown(card.topic_code, card.indicator)
    for card in held.values():
        if card.uuid not in repeated:
            metrics.card_suppressed(card.topic_code)
    secret = state.settings.patient_hash_secret
    if outcome.request is not None:
        state.recorder.record_hook_call(
            HookCallRecord(
                hook_instance=outcome.request.hookInstance,
                service_id=outcome.service.id,
                hook=outcome.service.hook,
                received_at=received_at,
                latency_ms=outcome.latency_ms,
                outcome="ok" if outcome.status == 200 else str(outcome.status),
                patient_id=str(outcome.request.context.get("patientId") or "") or None,
                client=client.iss,
                drafts=drafts_json(outcome, decided, secret),
                cards=tuple(
                    CardRecord(
                        uuid=c.uuid,
                        topic=c.topic_code,
                        indicator=c.indicator,
                        summary=c.summary,
                        suggestion_uuids=tuple(s.uuid for s in c.suggestions or ()),
                        override_reasons=tuple((r.code, r.display or r.code) for r in c.overrideReasons or ()),
                        suppression_key=keys.get(c.uuid),
                        suppressed=c.uuid in held and c.uuid not in repeated,
                        repeat_key=decided.same.get(c.uuid) if outcome.service.hook == "order-select" else None,
                        decision_key=decided.decision.get(c.uuid),
                        intents=intents_json(c, decided, secret),
                        not_repeated=c.uuid in repeated,
                    )
                    for c in [*outcome.cards, *held.values()]
                ),
            )
        )


def card_fingerprint(card: Card) -> str | None:
    """What makes a card the same card: its rule's fingerprint (drug and the facts behind it)."""
    return card.fingerprint if isinstance(card, RuleCard) else None


async def _overrides_that_hold(
    state: Any, outcome: HookOutcome, client: AuthenticatedClient, days: int
) -> tuple[dict[str, str], dict[str, Card]]:
    """Take out the cards a clinician overrode for this patient within `days` (issue 12: overrides
    that stick) and return every card's suppression key and the cards held back, for the audit.

    Critical cards are never held back; neither are the engine's own cards (data that could not be
    had, checks that failed), which have no rule fingerprint. One indexed look-up per call with
    cards, through the bounded database gate; when it fails the cards are shown.
    """
    if outcome.status != 200 or outcome.request is None or not outcome.cards:
        return {}, {}
    patient_id = str(outcome.request.context.get("patientId") or "") or None
    secret = state.settings.patient_hash_secret
    keys: dict[str, str] = {}
    for card in outcome.cards:
        fingerprint = card_fingerprint(card)
        if card.indicator == "critical" or not fingerprint:
            continue
        key = suppression_key(secret, client.iss, patient_id, card.topic_code, fingerprint)
        if key is not None:
            keys[card.uuid] = key
    if not keys or days <= 0:
        return keys, {}
    suppressed = await state.recorder.suppressed_keys(set(keys.values()))
    if not suppressed:
        return keys, {}
    held = {c.uuid: c for c in outcome.cards if keys.get(c.uuid) in suppressed}
    outcome.cards = [c for c in outcome.cards if c.uuid not in held]
    outcome.body["cards"] = [c for c in outcome.body.get("cards", []) if c.get("uuid") not in held]
    return keys, held


async def _not_repeated_at_signing(state: Any, outcome: HookOutcome, decided: CallKeys) -> dict[str, Card]:
    """Take out, at order-sign, the warning and info cards shown at order-select lately for the same
    unchanged order (issue 20); critical cards always stay. Memory only: no database on the path."""
    if outcome.service.hook != "order-sign" or not decided.repeat:
        return {}
    seen = await state.recorder.repeated_keys(set(decided.repeat.values()))
    if not seen:
        return {}
    held = {c.uuid: c for c in outcome.cards if decided.repeat.get(c.uuid) in seen}
    outcome.cards = [c for c in outcome.cards if c.uuid not in held]
    outcome.body["cards"] = [c for c in outcome.body.get("cards", []) if c.get("uuid") not in held]
    return held


async def _say_accepted_not_applied(state: Any, outcome: HookOutcome, decided: CallKeys) -> None:
    """At order-sign, a card whose suggestion was accepted at order-select for the order that is still
    the same (same key: the facts behind the card did not change) says so at the top of its detail,
    rather than repeating silently: the client took the button and did not change the order (or the
    prescriber changed it back). Memory only, like the repeats."""
    if outcome.service.hook != "order-sign" or not decided.same:
        return
    accepted = await state.recorder.accepted_keys(set(decided.same.values()))
    if not accepted:
        return
    drafts = drafts_by_key(outcome, decided, state.settings.patient_hash_secret)
    lines = {
        card.uuid: not_applied_line(accepted[key], drafts)
        for card in outcome.cards
        if (key := decided.same.get(card.uuid)) in accepted
    }
    for card in outcome.cards:
        if card.uuid in lines:
            card.detail = f"{lines[card.uuid]}\n\n{card.detail}" if card.detail else lines[card.uuid]
    for body in outcome.body.get("cards", []):
        if body.get("uuid") in lines:
            detail = body.get("detail")
            body["detail"] = f"{lines[body['uuid']]}\n\n{detail}" if detail else lines[body["uuid"]]


@router.get("/health", summary="Liveness and the audit trail's state; its counters for the admin token only")
async def health(request: Request) -> Response:
    """200 whenever the process serves: `status` is "degraded" while audit records are spooled or
    lost (the database is down), else "ok".

    Still 200 when degraded, on purpose: cards do not depend on the audit database, and every
    instance shares it, so a load balancer that pulled "degraded" instances would take the whole
    service down for an audit outage. Monitoring should alert on "degraded" instead. The counters
    (pending, written, spooled, replayed, lost) are shown with the admin token (or in --dev) only;
    Prometheus has them as `cds_audit_*`.
    """
    recorder = request.app.state.recorder
    body: dict[str, object] = {"status": "degraded" if recorder.degraded() else "ok"}
    audit = recorder.stats()
    if audit is not None and _is_operator(request):
        body["audit"] = audit
    if request.app.state.settings.audit_spool_ephemeral and getattr(recorder, "spool", None) is not None:
        body["audit_spool"] = EPHEMERAL_SPOOL
    return _json(body)


EPHEMERAL_SPOOL = (
    "ephemeral: audit rows spooled while the database is down are lost if this instance is removed "
    "before the database is back (docs/operations.md)"
)


def _is_operator(request: Request) -> bool:
    """The audit counters are for operators (the admin token; anyone in --dev), and in /metrics."""
    settings = request.app.state.settings
    if settings.dev:
        return True
    token = settings.admin_token
    return bool(token) and presents_admin_token(request.headers.get("authorization", ""), token)


# The pages are static text with one inline style sheet: nothing else may load, run or frame them.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.get("/guideline", response_class=HTMLResponse, summary="The guideline statements this service applies")
async def guideline_home(request: Request) -> HTMLResponse:
    return HTMLResponse(guideline_index(request.app.state.site_rule_set), headers=PAGE_HEADERS)


@router.get("/guideline/{topic}", response_class=HTMLResponse, summary="One rule and the statements it applies")
async def guideline_topic(topic: str, request: Request) -> HTMLResponse:
    page = guideline_page(topic, request.app.state.site_rule_set)
    if page is None:
        raise ClientError(404, [(f"no rule with topic '{topic[:60]}'", None)], "not-found")
    return HTMLResponse(page, headers=PAGE_HEADERS)
