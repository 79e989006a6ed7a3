"""One pure ASGI layer for what every call needs before and around the routes.

It replaces three stacked middlewares (request context, hook-call metrics, load shedding: issue
22 item 3), each of which wrapped `send` and walked the scope again. Per call, in one pass:

* a request id (log correlation, `X-Request-ID`), and `Connection: close` while draining;
* hook calls (`POST /cds-services/{id}`) counted by service, hook and final status, timed;
* load shedding of CDS calls (hook calls and feedback): 503 with `Retry-After` at once, before the
  body is read, counted in `cds_load_shed_total`;
* no tracebacks: an unhandled error is a 500 OperationOutcome naming the request id.

Shedding looks where the time goes before a request reaches the app (the review measured clients
waiting 7-15 s at 200 connections while the app measured 13 ms and shed nothing). Under
`cds-service serve` the server protocol (`protocol.server`) asks `admit` as soon as a CDS call's
headers are complete, and answers a refusal itself; the call counts as in progress from then on.
A CDS call is refused when

* `limit` calls are in progress (admitted, running, or waiting for the loop to run them);
* its body is large (`large_bytes` or more, by Content-Length) and `large_limit` large calls are
  already in progress (they queue for the large-request process);
* it was admitted but waited `max_wait` seconds between its headers and this layer;
* the audit writer is behind (`audit_behind`: its outstanding rows at its back-pressure threshold),
  so that the calls admitted find room in its queue instead of waiting for it on the event loop;
* without the protocol (TestClient, other servers): the event loop runs `max_delay` behind while
  other calls are in progress (a monitor task measures how late its own wake-ups are; a lone
  call is never refused for that).

An admitted CDS call has an overall deadline (`deadline` seconds from its headers: body, wait and
work together): one not answered by then is cancelled and answered 503 with `Retry-After`,
counted in `cds_call_deadline_exceeded_total` (a large call could otherwise wait without bound for
the large-request process). Once its answer has started it is left to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service.auth.outage import ThrottledLog
from cds_service.cdshooks import random_bytes
from cds_service.logs import request_id_var
from cds_service.observability import metrics
from cds_service.protocol.errors import operation_outcome, outcome_response
from cds_service.protocol.server import EDGE_KEY, register_admission

log = logging.getLogger("cds_service.app")

_CDS = "/cds-services/"
# Each refusal's reason (logged) and its label in `cds_load_shed_total`.
SHED_REASONS = {
    "calls in progress": "calls_in_progress",
    "large calls in progress": "large_calls_in_progress",
    "waited in the event loop": "waited_in_event_loop",
    "event loop late": "event_loop_late",
    "audit writer behind": "audit_writer_behind",
}


_BUSY = orjson.dumps(
    operation_outcome([("the service is busy; retry after the time in Retry-After", None)], "transient")
)
_BUSY_LENGTH = str(len(_BUSY)).encode()


def _too_late(deadline: float) -> bytes:
    return orjson.dumps(
        operation_outcome([(f"the call was not answered within its deadline of {deadline:g} s; retry after the "
                            "time in Retry-After", None)], "timeout")
    )  # fmt: skip


def _content_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


class Edge:
    """Request id, hook-call metrics, load shedding and error mapping in one ASGI layer."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        services: Mapping[str, str],
        limit: int,
        max_delay: float,
        max_wait: float = 1.0,
        deadline: float = 10.0,
        large_bytes: int = 1 << 20,
        large_limit: int = 2,
        uncounted: Callable[[Scope], bool] | None = None,
        readiness: Any = None,
        retry_after_seconds: int = 1,
        audit_behind: Callable[[], bool] | None = None,
    ) -> None:
        self.app = app
        self.services = dict(services)  # id -> hook
        self.uncounted = uncounted  # the instance's own warm-up calls
        self.readiness = readiness
        self.limit = limit
        self.max_delay = max_delay
        self.max_wait = max_wait
        self.deadline = deadline
        self._too_late = _too_late(deadline)
        self.large_bytes = large_bytes
        self.large_limit = large_limit
        self.retry_after = str(retry_after_seconds).encode()
        self.audit_behind = audit_behind
        self._shed_counters = {reason: metrics.LOAD_SHED.labels(label) for reason, label in SHED_REASONS.items()}
        self.in_flight = 0
        self.large_in_flight = 0
        self.shed = 0
        self.delay = 0.0
        self._monitors: dict[int, asyncio.Task[None]] = {}
        self._log = ThrottledLog(log)
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        register_admission(self)

    # --- event-loop delay
    async def _monitor(self, interval: float = 0.025) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(interval)
            late = max(0.0, loop.time() - started - interval)
            metrics.EVENT_LOOP_LAG.observe(late)
            # up at once, down gently: one quick wake-up in a busy second says little
            self.delay = late if late > self.delay else 0.8 * self.delay + 0.2 * late

    def _ensure_monitor(self) -> None:
        loop = asyncio.get_running_loop()
        task = self._monitors.get(id(loop))
        if task is None or task.done():
            self._monitors[id(loop)] = loop.create_task(self._monitor(), name="cds-loop-delay")

    def refusal(self, content_length: int, *, by_delay: bool = True) -> str | None:
        """Why a CDS call is refused now, or None."""
        if self.in_flight >= self.limit:
            return "calls in progress"
        # A late loop sheds only while other calls are in progress: one heavy call (or a pause of the
        # machine) must not make the next lone call a 503. Under the server protocol each call's own
        # wait is measured instead (`max_wait`): a loop late because it is refusing a crowd at once
        # must not refuse the calls it has room for.
        if by_delay and self.delay > self.max_delay and self.in_flight > 0:
            return "event loop late"
        if content_length >= self.large_bytes and self.large_in_flight >= self.large_limit:
            return "large calls in progress"
        if self.audit_behind is not None and self.audit_behind():
            return "audit writer behind"
        return None

    def admit(self, content_length: int) -> str | None:
        """Asked by `protocol.server` when a CDS call's headers are complete, before its task exists:
        the reason to refuse it, or None, and then the call counts as in progress from now on (a
        burst read in one loop turn cannot all be admitted before the first of it has run)."""
        reason = self.refusal(content_length, by_delay=False)
        if reason is None:
            self._take(content_length >= self.large_bytes)
        return reason

    def _take(self, large: bool) -> None:
        self.in_flight += 1
        if large:
            self.large_in_flight += 1

    def _release(self, large: bool) -> None:
        self.in_flight -= 1
        if large:
            self.large_in_flight -= 1

    async def _refuse(self, scope: Scope, send: Send, reason: str) -> None:
        self._count_shed(reason)
        headers = [
            (b"content-type", b"application/fhir+json"),
            (b"content-length", _BUSY_LENGTH),
            (b"retry-after", self.retry_after),
        ]
        length = _content_length(scope)
        if length == 0 or length >= self.large_bytes:
            # Closed: a client that retries at once reconnects first, and a large body is not read on
            # (clients read the answer when their upload fails). A small body is skipped instead,
            # so that the client reads this answer from a connection still open.
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": _BUSY})

    async def _answer_too_late(self, send: Send) -> None:
        metrics.CALL_DEADLINE_EXCEEDED.inc()
        self._log.warning("CDS calls answered 503 past their deadline", deadline_s=self.deadline)
        headers = [
            (b"content-type", b"application/fhir+json"),
            (b"content-length", str(len(self._too_late)).encode()),
            (b"retry-after", self.retry_after),
            (b"connection", b"close"),  # the rest of a body still on its way is not read
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": self._too_late})

    def refused(self, path: str, reason: str, close: bool) -> bytes:
        """The whole answer to a call `protocol.server` refused on arrival, as bytes for the wire:
        counted like any hook call and in `cds_load_shed_total`; none of the app's stack runs."""
        self._count_shed(reason)
        service = self._service(path)
        if service is not None:
            self._counted(service, 503, 0.0)
        return b"".join([
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/fhir+json\r\ncontent-length: ",
            _BUSY_LENGTH, b"\r\nretry-after: ", self.retry_after, b"\r\nx-request-id: ", random_bytes(8).hex().encode(),
            b"\r\nconnection: close\r\n\r\n" if close else b"\r\n\r\n",
            _BUSY,
        ])  # fmt: skip

    def _counted(self, service: str, status: int, seconds: float) -> None:
        """A hook call in `cds_hook_calls_total` and `cds_hook_call_seconds` (label children cached:
        prometheus_client's `labels()` takes a lock and builds a key on every call)."""
        key = (service, status)
        children = self._children.get(key)
        if children is None:
            hook = self.services.get(service)
            label = service if hook is not None else "unknown"  # probing random ids cannot grow the labels
            children = (metrics.HOOK_CALLS.labels(label, hook or "unknown", str(status)),
                        metrics.HOOK_CALL_SECONDS.labels(label))  # fmt: skip
            if len(self._children) < 256:
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def _service(self, path: str) -> str | None:
        """The service id of a hook call (`/cds-services/{id}`), or None (feedback, anything below)."""
        service_id = path[len(_CDS) :]
        return None if "/" in service_id.rstrip("/") else service_id.rstrip("/")

    def _count_shed(self, reason: str) -> None:
        self.shed += 1
        self._shed_counters[reason].inc()
        self._log.warning("overloaded: CDS calls answered 503", count=self.shed, limit=self.limit, reason=reason)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = random_bytes(8).hex()  # the pool: os.urandom would hand the interpreter lock to the audit threads
        token = request_id_var.set(request_id)
        path: str = scope.get("path", "")
        cds_call = scope.get("method") == "POST" and path.startswith(_CDS)
        service: str | None = None  # set for a hook call that is counted
        if cds_call and (self.uncounted is None or not self.uncounted(scope)):
            service = self._service(path)
        status = 500
        response_started = False
        draining = self.readiness is not None and self.readiness.draining
        deadline: asyncio.Timeout | None = None

        async def send_wrapped(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                if deadline is not None and not deadline.expired():
                    with contextlib.suppress(RuntimeError):  # the deadline's block has ended already
                        deadline.reschedule(None)  # an answer under way is not cut
                status = int(message["status"])
                extra = [(b"x-request-id", request_id.encode())]
                if draining or (self.readiness is not None and self.readiness.draining):
                    # keep-alive clients reconnect, and reach an instance that is not going away
                    extra.append((b"connection", b"close"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        started = time.perf_counter()
        if service is not None:
            metrics.HOOK_CALLS_IN_FLIGHT.inc()
        counted = large = False
        try:
            queued_at: float | None = None
            if cds_call:
                self._ensure_monitor()
                large = _content_length(scope) >= self.large_bytes
                refused: str | None = None
                stamp = scope.get("extensions", {}).get(EDGE_KEY)
                if stamp is not None:
                    queued_at = stamp["queued_at"]
                if stamp is not None and stamp.get("admitted"):
                    counted = True  # counted in progress since its headers (`admit`)
                    if asyncio.get_running_loop().time() - stamp["queued_at"] > self.max_wait:
                        refused = "waited in the event loop"
                else:
                    refused = self.refusal(_content_length(scope))
                    if refused is None:
                        counted = True
                        self._take(large)
                if refused is not None:
                    await self._refuse(scope, send_wrapped, refused)
                    return
                start = queued_at if queued_at is not None else asyncio.get_running_loop().time()
                deadline = asyncio.timeout_at(start + self.deadline)
                try:
                    async with deadline:
                        await self.app(scope, receive, send_wrapped)
                except TimeoutError:
                    if response_started or not deadline.expired():
                        raise
                    await self._answer_too_late(send_wrapped)
                return
            await self.app(scope, receive, send_wrapped)
        except Exception:
            log.exception("unhandled error", extra={"path": path, "method": scope.get("method")})
            if response_started:
                raise
            response = outcome_response(
                500, [("internal error; the request id identifies it in the logs", None)], "exception"
            )
            await response(scope, receive, send_wrapped)
        finally:
            if counted:
                self._release(large)
            if service is not None:
                metrics.HOOK_CALLS_IN_FLIGHT.dec()
                self._counted(service, status, time.perf_counter() - started)
            request_id_var.reset(token)
