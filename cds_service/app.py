"""The FastAPI application: wiring of settings, auth, storage, HTTP client and routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from cds_service.auth import Authenticator
from cds_service.auth.replay import GuardedReplayCache, InMemoryReplayCache, RedisReplayCache, ReplayCache
from cds_service.auth.ssrf import fhir_http_client_options
from cds_service.facts import terminology
from cds_service.facts.memo_stats import memo_stats
from cds_service.observability import metrics
from cds_service.observability.readiness import Dependency, Readiness
from cds_service.observability.tracing import Tracing, setup_tracing
from cds_service.protocol.analytics import router as analytics_router
from cds_service.protocol.edge import Edge
from cds_service.protocol.errors import install_error_handlers
from cds_service.protocol.feedback import router as feedback_router
from cds_service.protocol.hooks import LARGE_BODY_BYTES
from cds_service.protocol.lanes import CpuLane, LargeRequestPool
from cds_service.protocol.openapi import add_component_schemas
from cds_service.protocol.operations import router as operations_router
from cds_service.protocol.routes import router
from cds_service.protocol.services import SERVICES
from cds_service.protocol.smart_app import router as smart_app_router
from cds_service.protocol.warm_up import is_warm_up, warm_up_routes
from cds_service.ruleset import build_rule_sets
from cds_service.settings import Settings, load_settings
from cds_service.storage import Recorder, create_recorder
from cds_service.storage.spool import check_spool_directory, spool_key

log = logging.getLogger("cds_service.app")


DEV_WARNING = (
    "DEV MODE: client authentication is OFF, CORS is open to any origin and any fhirServer may be "
    "called. Never expose this instance to real patient data."
)


class LoopBoundHttp:
    """One pooled FHIR client per event loop (TestClient and workers may run several loops).

    Its options (no redirects, bounded timeouts and pool) come from `auth.ssrf`.
    """

    def __init__(self, settings: Settings, tracing: Tracing | None = None) -> None:
        self.settings = settings
        self.tracing = tracing
        self._clients: dict[int, httpx.AsyncClient] = {}

    def get(self) -> httpx.AsyncClient:
        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            client = httpx.AsyncClient(**fhir_http_client_options(self.settings))
            if self.tracing is not None:  # one span per FHIR request, URL reduced to a template
                self.tracing.instrument_fhir_client(client)
            self._clients[loop_id] = client
        return client

    async def aclose(self) -> None:
        client = self._clients.pop(id(asyncio.get_running_loop()), None)
        if client is not None:
            await client.aclose()


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


# A hook call allocates tens of thousands of objects (the parsed request, the facts) and frees them
# by reference counting: almost none are in cycles. At Python's default (700, 10, 10) the cyclic GC
# ran about once per call on a cold patient and walked the memos in its full collections: 0.72 ms of
# a 4.07 ms call (18 %, measured in process over 1,000 distinct patients). At these thresholds it
# ran not once in those 1,000 calls; what cycles there are wait for 50,000 net new objects.
GC_THRESHOLDS = (50_000, 20, 100)


async def _warm_up(app: FastAPI) -> None:
    """Before the first clinician waits: imports, terminology tables, FHIR model classes and validators,
    and one synthetic call per service through the whole HTTP stack, for a patient with a little of
    everything a chart holds (protocol/warm_up.py; no FHIR server, no JWT, nothing audited or
    counted). Then the long-lived objects leave the cyclic GC's reach (`gc.freeze`), so full
    collections during requests do not walk them again and again, and the GC runs less often
    (`GC_THRESHOLDS`)."""
    try:
        statuses = await warm_up_routes(app, ((s.id, s.hook) for s in SERVICES.values()))
    except Exception:  # a warm-up failure must not stop the start; the first real call will tell
        log.exception("warm-up calls failed")
    else:
        for service_id, status in statuses.items():
            if status != 200:
                log.error("warm-up call answered %s", status, extra={"service": service_id})
    terminology.load_tables()
    _warm_up_signatures()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _warm_up_signatures() -> None:
    """Load the JWT signature backends: the first ES384 verification costs ~100 ms, enough for load
    shedding (CDS_MAX_QUEUE_DELAY_MS) to refuse the first calls of a fresh instance under load."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    token = jwt.encode({"warm-up": True}, key, algorithm="ES384")
    jwt.decode(token, key.public_key(), algorithms=["ES384"])


def _audit_behind(recorder: Any) -> bool:
    """The recorder's back-pressure signal (a recorder without one is never behind)."""
    behind = getattr(recorder, "behind", None)
    return bool(behind()) if behind is not None else False


def _secure_spool(settings: Settings, recorder: Recorder) -> None:
    """The audit spool signs with the configured key, in a folder private to this user (or no start)."""
    spool = getattr(recorder, "spool", None)
    if spool is None:
        return
    spool.use_key(spool_key(settings.audit_spool_secret, settings.patient_hash_secret))
    check_spool_directory(spool.directory)


def _required_dependencies(settings: Settings, recorder: Recorder, replay_cache: ReplayCache) -> list[Dependency]:
    """What /health/ready requires (see observability/readiness.py for why these and only these)."""
    found: dict[str, Dependency] = {}
    ping = getattr(recorder, "ping", None)
    if isinstance(replay_cache, GuardedReplayCache) and replay_cache.policy == "reject" and not settings.dev:
        why = "JWT replay store under CDS_REPLAY_OUTAGE=reject: every authenticated call is refused while it is down"
        if isinstance(replay_cache.store, RedisReplayCache):
            found["redis"] = Dependency("redis", why, replay_cache.store.ping)
        elif ping is not None:
            found["database"] = Dependency("database", why, ping)
    if ping is not None and getattr(recorder, "spool", None) is None:
        found.setdefault("database", Dependency("database", "audit trail without a spool", ping))
    return list(found.values())


def _install_drain_handler(readiness: Readiness, delay: float) -> Any:
    """SIGTERM first flips readiness to 503 and keeps serving `delay` seconds (balancers and the
    endpoints controller stop sending), then hands over to uvicorn's own handler: stop accepting,
    finish in-flight calls, lifespan shutdown (audit flush). A second SIGTERM hands over at once.

    Through the event loop (`add_signal_handler`), so that nothing runs inside a signal handler
    that could wait on a lock the interrupted code holds. Only where uvicorn installed its handler
    (the main thread of `cds-service serve` or of each `--workers` process); elsewhere (TestClient,
    a server in a thread) nothing is installed. Returns the function that restores the previous
    handler, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return None
    loop = asyncio.get_running_loop()
    pending: list[asyncio.TimerHandle] = []

    def hand_over() -> None:
        previous(signal.SIGTERM, None)

    def on_sigterm() -> None:
        first = not readiness.draining
        readiness.start_draining("SIGTERM")
        if first and delay > 0:
            pending.append(loop.call_later(delay, hand_over))
            return
        for handle in pending:
            handle.cancel()
        hand_over()

    try:
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    except (NotImplementedError, RuntimeError):
        return None

    def restore() -> None:
        for handle in pending:
            handle.cancel()
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(signal.SIGTERM)
            signal.signal(signal.SIGTERM, previous)

    return restore


async def _operations_loop(app: FastAPI) -> None:
    """Every few seconds: probe the required dependencies, copy counters into the metrics."""
    while True:
        try:
            app.state.readiness.refresh()
            app.state.metrics_sync()
        except Exception:
            log.exception("operations loop failed")
        await asyncio.sleep(metrics.SYNC_INTERVAL_SECONDS)


def create_app(settings: Settings | None = None, *, span_exporter: Any = None) -> FastAPI:
    """The app. `span_exporter` (tests) turns tracing on with that exporter, spans exported at once."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.dev:
            log.warning(DEV_WARNING)
        state = app.state
        started = time.perf_counter()
        await state.recorder.start()  # migrations (serialised across instances on PostgreSQL)
        await _warm_up(app)
        if state.tracing is not None:  # after the warm-up: its synthetic calls are not traced
            state.tracing.activate()
        await state.readiness.settle()
        state.readiness.mark_ready((time.perf_counter() - started) * 1000)
        state.metrics_sync()
        loop_task = asyncio.get_running_loop().create_task(_operations_loop(app), name="cds-operations")
        if state.large_pool is not None and getattr(state, "prestart_large_pool", False):
            # Under `cds-service serve`: spawned now, not on the first large request (under load that
            # request waited 8 s for the process to start: issue 21). Not for every app a test builds.
            state.large_pool.start()
        restore_signals = _install_drain_handler(state.readiness, settings.drain_delay_seconds)
        try:
            yield
        finally:
            state.readiness.start_draining()
            if restore_signals is not None:
                restore_signals()
            loop_task.cancel()
            state.readiness.close()
            await state.recorder.aclose(timeout=settings.audit_flush_timeout_seconds)
            state.metrics_sync()
            await state.authenticator.aclose()
            closer = getattr(state.replay_cache, "aclose", None)
            if closer is not None:
                await closer()
            await state.http_pool.aclose()
            if state.large_pool is not None:
                state.large_pool.close()
            if state.tracing is not None:
                state.tracing.shutdown()

    app = FastAPI(
        title="Muscle-spasm CDS Hooks service",
        version="0.1.0",
        description="CDS Hooks 2.0 service applying a muscle-spasm treatment summary at ordering time.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    routes: set[str] = set()  # filled below, once the routers are in: span names may be route templates
    app.state.tracing = setup_tracing(settings, routes, exporter=span_exporter)
    app.state.http_pool = LoopBoundHttp(settings, app.state.tracing)
    app.state.cpu = CpuLane(turn_budget=settings.loop_turn_budget_ms / 1000)
    app.state.large_pool = (
        LargeRequestPool(settings.large_request_processes, settings.log_level)
        if settings.large_request_processes > 0
        else None
    )
    app.state.recorder = create_recorder(settings)
    _secure_spool(settings, app.state.recorder)
    app.state.replay_cache = make_replay_cache(settings, app.state.recorder)
    app.state.authenticator = _make_authenticator(settings, app.state.replay_cache)
    app.state.readiness = Readiness(_required_dependencies(settings, app.state.recorder, app.state.replay_cache))
    app.state.metrics_sync = metrics.StateSync(
        app.state.recorder, app.state.replay_cache, app.state.readiness, memo_stats
    )
    # A bad [rules] table raises RuleConfigError here; `cds-service serve` checks it first (one line, exit 2).
    app.state.site_rule_set, app.state.rule_sets = build_rule_sets(
        settings.rules, {iss: entry.rules for iss, entry in app.state.authenticator.clients.items()}
    )

    install_error_handlers(app)
    app.include_router(router)
    app.include_router(feedback_router)
    app.include_router(analytics_router)
    app.include_router(operations_router)
    app.include_router(smart_app_router)
    routers = (app.router, router, feedback_router, analytics_router, operations_router, smart_app_router)
    for source in routers:  # no prefixes
        routes.update(path for route in source.routes if isinstance(path := getattr(route, "path", None), str))

    def openapi_document() -> dict[str, object]:
        if app.openapi_schema is None:
            app.openapi_schema = add_component_schemas(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            ))  # fmt: skip
        return app.openapi_schema

    app.openapi = openapi_document  # type: ignore[method-assign]

    app.add_middleware(
        Edge,
        services={s.id: s.hook for s in SERVICES.values()},
        limit=settings.max_concurrent_hook_calls,
        max_delay=settings.max_queue_delay_ms / 1000,
        max_wait=settings.max_request_wait_ms / 1000,
        deadline=settings.call_deadline_seconds,
        large_bytes=LARGE_BODY_BYTES,
        large_limit=settings.max_concurrent_large_calls,
        uncounted=is_warm_up,
        readiness=app.state.readiness,
        audit_behind=lambda: _audit_behind(app.state.recorder),
    )
    if app.state.tracing is not None:
        app.state.tracing.instrument_app(app)

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
