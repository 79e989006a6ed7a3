"""The FastAPI application: wiring of settings, auth, storage, HTTP client and routes."""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service.auth import Authenticator
from cds_service.auth.outage import ThrottledLog
from cds_service.auth.replay import GuardedReplayCache, InMemoryReplayCache, RedisReplayCache, ReplayCache
from cds_service.auth.ssrf import fhir_http_client_options
from cds_service.logs import request_id_var
from cds_service.protocol.analytics import router as analytics_router
from cds_service.protocol.errors import install_error_handlers, outcome_response
from cds_service.protocol.feedback import router as feedback_router
from cds_service.protocol.hooks import CpuLane, LargeRequestPool
from cds_service.protocol.openapi import add_component_schemas
from cds_service.protocol.routes import router
from cds_service.ruleset import build_rule_sets
from cds_service.settings import Settings, load_settings
from cds_service.storage import Recorder, create_recorder

log = logging.getLogger("cds_service.app")

DEV_WARNING = (
    "DEV MODE: client authentication is OFF, CORS is open to any origin and any fhirServer may be "
    "called. Never expose this instance to real patient data."
)


class LoopBoundHttp:
    """One pooled FHIR client per event loop (TestClient and workers may run several loops).

    Its options (no redirects, bounded timeouts and pool) come from `auth.ssrf`.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[int, httpx.AsyncClient] = {}

    def get(self) -> httpx.AsyncClient:
        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            client = httpx.AsyncClient(**fhir_http_client_options(self.settings))
            self._clients[loop_id] = client
        return client

    async def aclose(self) -> None:
        client = self._clients.pop(id(asyncio.get_running_loop()), None)
        if client is not None:
            await client.aclose()


class RequestContextMiddleware:
    """Request id for log correlation (and the X-Request-ID header), and no 500 tracebacks.

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware costs a task and a stream per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        token = request_id_var.set(request_id)
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"path": scope.get("path"), "method": scope.get("method")})
            if response_started:
                raise
            response = outcome_response(
                500, [("internal error; the request id identifies it in the logs", None)], "exception"
            )
            await response(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class LoadShedding:
    """Refuses CDS calls (hook calls and feedback) with 503 and `Retry-After` at once when the
    process is overloaded, instead of letting them queue for seconds.

    Two signals: more than `limit` calls in progress (calls waiting on a FHIR server or the
    database accumulate here), or an event loop running `max_delay` behind (calls waiting for
    the loop, which never reach a counter: a monitor task measures how late its own wake-ups
    are). EHRs give up on a CDS service after a few seconds; at 200 connections, queueing
    everything took p99 to 5-20 s. Checked before authentication, so a refused call costs no
    signature check and no database call.
    """

    def __init__(self, app: ASGIApp, limit: int, max_delay: float, retry_after_seconds: int = 1) -> None:
        self.app = app
        self.limit = limit
        self.max_delay = max_delay
        self.retry_after = str(retry_after_seconds)
        self.in_flight = 0
        self.shed = 0
        self.delay = 0.0
        self._monitors: dict[int, asyncio.Task[None]] = {}
        self._log = ThrottledLog(log)

    async def _monitor(self, interval: float = 0.025) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(interval)
            late = loop.time() - started - interval
            # up at once, down gently: one quick wake-up in a busy second says little
            self.delay = late if late > self.delay else 0.8 * self.delay + 0.2 * late

    def _ensure_monitor(self) -> None:
        loop = asyncio.get_running_loop()
        task = self._monitors.get(id(loop))
        if task is None or task.done():
            self._monitors[id(loop)] = loop.create_task(self._monitor(), name="cds-loop-delay")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or not scope.get("path", "").startswith("/cds-services/")
        ):
            await self.app(scope, receive, send)
            return
        self._ensure_monitor()
        # A late loop sheds only while other calls are in progress: one heavy call (or a pause of the
        # machine) must not make the next lone call a 503.
        if self.in_flight >= self.limit or (self.delay > self.max_delay and self.in_flight > 0):
            self.shed += 1
            self._log.warning("overloaded: CDS calls answered 503", count=self.shed, limit=self.limit)
            response = outcome_response(
                503, [("the service is busy; retry after the time in Retry-After", None)], "transient"
            )
            response.headers["Retry-After"] = self.retry_after
            response.headers["Connection"] = "close"  # a client that retries at once reconnects first
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def make_replay_cache(settings: Settings, recorder: Recorder) -> ReplayCache:
    """The JWT replay store `CDS_REPLAY_STORE` names, under the `CDS_REPLAY_OUTAGE` policy.

    `auto` is the audit database when storage is on (shared by every instance on it), else this
    process's memory. A shared store is wrapped so that its outage follows the policy.
    """
    choice = settings.replay_store
    if choice == "auto":
        choice = "database" if recorder.replay_cache is not None else "memory"
    if choice == "memory":
        if settings.workers > 1 and not settings.dev:
            log.warning("in-memory JWT replay cache with several workers: replays across workers pass")
        return InMemoryReplayCache()
    if choice == "redis":
        store: ReplayCache = RedisReplayCache(settings.redis_url, timeout=settings.db_call_timeout_seconds)
        return GuardedReplayCache(store, settings.replay_outage, name="redis")
    if recorder.replay_cache is None:
        raise ValueError("CDS_REPLAY_STORE=database needs storage (CDS_STORAGE_ENABLED=true)")
    return GuardedReplayCache(recorder.replay_cache, settings.replay_outage, name="database")


def _make_authenticator(settings: Settings, replay_cache: ReplayCache) -> Authenticator:
    return Authenticator(settings, replay_cache=replay_cache)


def _warm_up() -> None:
    """Load terminology tables and FHIR model classes before the first clinician waits for them,
    then move these long-lived objects out of the cyclic GC's reach (`gc.freeze`), so that full
    collections during requests do not walk them again and again."""
    from cds_service.facts.build import build_facts

    order = {
        "resourceType": "MedicationRequest",
        "id": "warm-up",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                  "code": "197391"}]},
        "dosageInstruction": [{"timing": {"code": {"text": "TID"}}, "doseAndRate": [{"doseQuantity": {
            "value": 10, "unit": "mg"}}]}],
    }  # fmt: skip
    context = {"patientId": "warm-up", "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]}}
    build_facts("order-sign", context, {}, datetime.now(UTC))  # reads the drafts and their Medication
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.dev:
            log.warning(DEV_WARNING)
        await app.state.recorder.start()
        _warm_up()
        try:
            yield
        finally:
            await app.state.recorder.aclose()
            await app.state.authenticator.aclose()
            closer = getattr(app.state.replay_cache, "aclose", None)
            if closer is not None:
                await closer()
            await app.state.http_pool.aclose()
            if app.state.large_pool is not None:
                app.state.large_pool.close()

    app = FastAPI(
        title="Muscle-spasm CDS Hooks service",
        version="0.1.0",
        description="CDS Hooks 2.0 service applying a muscle-spasm treatment summary at ordering time.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.http_pool = LoopBoundHttp(settings)
    app.state.cpu = CpuLane()
    app.state.large_pool = (
        LargeRequestPool(settings.large_request_processes, settings.log_level)
        if settings.large_request_processes > 0
        else None
    )
    app.state.recorder = create_recorder(settings)
    app.state.replay_cache = make_replay_cache(settings, app.state.recorder)
    app.state.authenticator = _make_authenticator(settings, app.state.replay_cache)
    # A bad [rules] table raises RuleConfigError here; `cds-service serve` checks it first (one line, exit 2).
    app.state.site_rule_set, app.state.rule_sets = build_rule_sets(
        settings.rules, {iss: entry.rules for iss, entry in app.state.authenticator.clients.items()}
    )

    install_error_handlers(app)
    app.include_router(router)
    app.include_router(feedback_router)
    app.include_router(analytics_router)

    def openapi_document() -> dict[str, object]:
        if app.openapi_schema is None:
            app.openapi_schema = add_component_schemas(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            ))  # fmt: skip
        return app.openapi_schema

    app.openapi = openapi_document  # type: ignore[method-assign]

    app.add_middleware(
        LoadShedding, limit=settings.max_concurrent_hook_calls, max_delay=settings.max_queue_delay_ms / 1000
    )
    app.add_middleware(RequestContextMiddleware)

    origins = ["*"] if settings.dev else settings.cors_origins
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    return app
