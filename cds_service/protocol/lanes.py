"""Where the CPU-bound steps of a hook call run: on the event loop one call at a time (`CpuLane.turn`,
typical requests), on a thread of their own (`CpuLane.run`) or in a process of their own
(`LargeRequestPool`, requests of 1 MiB or more)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import httpx

from cds_service.auth import AuthenticatedClient
from cds_service.protocol.hooks import HookOutcome, handle_hook_call
from cds_service.ruleset import DEFAULT_RULE_SET, RuleSet
from cds_service.settings import Settings

log = logging.getLogger("cds_service.hooks")

T = TypeVar("T")

TURN_BUDGET_SECONDS = 0.01  # CPU steps of typical calls per event-loop iteration (CDS_LOOP_TURN_BUDGET_MS)


_Step = tuple[contextvars.Context, Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]

# Set in a call's own context once it has had a turn: its next step is a continuing one.
_HAD_TURN: contextvars.ContextVar[bool] = contextvars.ContextVar("cds_had_turn", default=False)


class _Turns:
    """CPU steps on the event loop, within a budget per loop iteration: the steps of calls already
    under way first, then first steps in order of arrival.

    A step runs at once while nothing waits and the iteration's budget is not spent; else it is
    queued, and the queues are run by one callback per iteration (after the loop has polled its
    sockets) until that iteration's budget is spent. Each step runs in its caller's context (its
    request id, its trace). The budget is measured, not counted: steps vary from a millisecond (a
    quiet order) to tens (a long record).

    Two queues, because a call has two steps (parse, then facts and rules): with one, a call's
    second step queued behind every first step that had arrived meanwhile, and calls that arrived
    while nothing waited ran both steps at once; latencies spread (p99 2.2x the median with wrk at
    16 connections) although every call costs about the same. Finishing what was started first
    keeps them close, and the calls in progress few."""

    def __init__(self, loop: asyncio.AbstractEventLoop, budget: float) -> None:
        self.loop = loop
        self.budget = budget
        self.spent = 0.0  # seconds of steps run since the last `_next_iteration`
        self.scheduled = False
        self.continuing: deque[_Step] = deque()  # steps of calls that have had a turn
        self.queue: deque[_Step] = deque()  # first steps

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        self._schedule()
        continuing = _HAD_TURN.get()
        if not continuing:
            _HAD_TURN.set(True)
        if not self.queue and not self.continuing and self.spent < self.budget:
            return self._timed(contextvars.copy_context(), fn, args)
        done: asyncio.Future[T] = self.loop.create_future()
        (self.continuing if continuing else self.queue).append((contextvars.copy_context(), fn, args, done))
        return await done

    def _timed(self, context: contextvars.Context, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        started = time.perf_counter()
        try:
            return context.run(fn, *args)
        finally:
            self.spent += time.perf_counter() - started

    def _schedule(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._next_iteration)

    def _next_iteration(self) -> None:
        self.scheduled = False
        self.spent = 0.0
        while (self.continuing or self.queue) and self.spent < self.budget:
            context, fn, args, done = (self.continuing or self.queue).popleft()
            if done.cancelled():  # its call was cancelled (deadline, disconnect) while it waited
                continue
            try:
                result = self._timed(context, fn, args)
            except Exception as exc:  # the caller's to handle (a 400, a gap), as if run inline
                done.set_exception(exc)
            else:
                done.set_result(result)
        if self.continuing or self.queue:
            self._schedule()


class CpuLane:
    """Runs the CPU-bound work of large requests on one thread of its own, off the event loop
    (used when `CDS_LARGE_REQUEST_PROCESSES=0`; a process is better, see `LargeRequestPool`).

    Typical requests (~60 kB by our templates, a few ms of work) stay on the event loop: measured with wrk at 200
    connections, moving them to threads halved throughput (the loop's many short system calls
    each wait for the interpreter lock behind a busy thread), while a large request on the loop
    held every other request for its whole parse and evaluation.
    """

    def __init__(self, threads: int = 1, turn_budget: float = TURN_BUDGET_SECONDS) -> None:
        self.threads = threads
        self.turn_budget = turn_budget
        self._limiters: dict[int, anyio.CapacityLimiter] = {}
        self._turns: dict[int, _Turns] = {}

    async def turn(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn` on the event loop, within `turn_budget` seconds of such steps per loop iteration.

        Without turns every admitted call that was ready ran its whole CPU step in the same loop
        iteration, and the sockets were polled only after all of them: every refusal (written as
        soon as the loop reads a call's headers), every accept and every answer waited for the
        lot. With turns the loop polls its sockets at least every `turn_budget` seconds of steps.
        Tried first: one step per iteration (refusals at once, but answered calls fell five-fold
        under a storm of retries: each step waited for the I/O of a whole iteration), then a budget
        without a queue (waiters overtaken by newcomers: answered p99 6 s)."""
        loop = asyncio.get_running_loop()
        turns = self._turns.get(id(loop))
        if turns is None:
            turns = self._turns[id(loop)] = _Turns(loop, self.turn_budget)
        return await turns.run(fn, *args)

    def _limiter(self) -> anyio.CapacityLimiter:
        key = id(asyncio.get_running_loop())
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = anyio.CapacityLimiter(self.threads)
            self._limiters[key] = limiter
        return limiter

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter())


class LargeRequestPool:
    """Large requests handled whole in a separate process (`CDS_LARGE_REQUEST_PROCESSES`).

    Threads share one interpreter lock: even on a lane of its own, a large request's parsing and
    evaluation slow every typical request running beside it. A process of its own runs on the
    other core instead. The body goes over as bytes (a copy, no parsing in this process) and
    only the outcome comes back, its request reduced to what the audit trail needs. The child
    logs through the same privacy formatter. Spawned, not forked (this process has threads), on
    the first large request (which waits about a second for it): most instances never see one.
    """

    def __init__(self, processes: int, log_level: str = "INFO") -> None:
        self.processes = processes
        self.log_level = log_level
        self._pool: Any = None
        self._lock = threading.Lock()
        self.handled = 0  # large requests sent to the process (tests, metrics)

    def _executor(self) -> Any:
        with self._lock:  # the start-up thread (`warm_up`) and the first large request may race
            return self._make_executor()

    def _make_executor(self) -> Any:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_child_init,
                initargs=(self.log_level, os.getpid()),
            )
        return self._pool

    def start(self) -> None:
        """Spawn the child now, from this thread, without waiting for it. From this thread: the child
        ends with the thread that spawned it (PR_SET_PDEATHSIG), so never from a passing thread."""
        try:
            self._executor().submit(int)
        except Exception as exc:  # the first large request will report it
            log.warning("large-request process not started ahead: %s", type(exc).__name__)

    def warm_up(self) -> None:
        """Start the child now and wait for it, not on the first large request."""
        self._executor().submit(int).result(timeout=60)

    async def handle(
        self,
        service_id: str,
        body: bytes,
        client: AuthenticatedClient,
        settings: Settings,
        base_url: str,
        rule_set: RuleSet = DEFAULT_RULE_SET,
    ) -> HookOutcome:
        loop = asyncio.get_running_loop()
        self.handled += 1
        return await loop.run_in_executor(
            self._executor(), _child_handle, service_id, body, client, settings, base_url, rule_set
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _child_init(log_level: str, server_pid: int) -> None:
    from cds_service.logs import configure_logging

    configure_logging(log_level)
    try:  # Linux: end with the parent, however it ends (a killed server must not leave this behind)
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    # A server that ended while this process was starting sent no signal (none was asked for yet), and
    # this process would wait for work forever: it was adopted by another process, so it ends now.
    if os.getppid() != server_pid:
        os._exit(0)


def _child_handle(
    service_id: str, body: bytes, client: AuthenticatedClient, settings: Settings, base_url: str, rule_set: RuleSet
) -> HookOutcome:
    from cds_service.auth.ssrf import fhir_http_client_options

    async def handle() -> HookOutcome:
        async with httpx.AsyncClient(**fhir_http_client_options(settings)) as http:
            return await handle_hook_call(
                service_id, body, client=client, settings=settings, http=http, base_url=base_url, rule_set=rule_set
            )

    outcome = asyncio.run(handle())
    if outcome.request is not None:  # only what the edge logs and audits travels back
        patient_id = outcome.request.context.get("patientId")
        outcome.request = outcome.request.model_copy(update={"prefetch": None, "context": {"patientId": patient_id}})
    return outcome
