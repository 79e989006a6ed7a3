"""Bounded, timed access to a database that may hang (finding 2 of the hardening issue).

A SIGSTOPped PostgreSQL still accepts TCP connections and then never answers: neither the
server's `statement_timeout` (the backend is frozen) nor libpq (no client-side query timeout)
ends the call. So every database call made for a request runs on a small thread pool of its
own, the request waits at most `timeout` for it, and a timeout or connection failure opens a
breaker: the next calls fail at once for a few seconds. A stuck thread keeps its slot until the
database answers, and at most `max_waiting` calls may queue behind busy threads: a burst waits
(within the caller's timeout), a pile-up behind a hung database fails at once.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cds_service.auth.outage import Breaker
from cds_service.storage.records import StorageUnavailable

T = TypeVar("T")

DEFAULT_THREADS = 8
DEFAULT_COOLDOWN_SECONDS = 2.0


class DatabaseDown(StorageUnavailable):
    """The database did not answer in time, is unreachable, or recently was (breaker open)."""


class _DaemonPool:
    """A minimal thread pool whose threads are daemons: a thread stuck on a frozen database must
    not hold the process at exit (ThreadPoolExecutor joins its threads when the interpreter
    ends, so a SIGTERM during a database freeze would hang until the database answered)."""

    def __init__(self, threads: int, name: str) -> None:
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[object, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._closed = False
        for n in range(threads):
            threading.Thread(target=self._run, name=f"{name}-{n}", daemon=True).start()

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller, who decides
                future.set_exception(exc)

    def submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        if self._closed:
            raise RuntimeError("pool closed")
        future: Future[T] = Future()
        self._work.put((future, fn, args))
        return future

    def shutdown(self, threads: int) -> None:
        self._closed = True
        for _ in range(threads):
            self._work.put(None)


class DbGate:
    """Runs database calls on `threads` threads with an overall `timeout` and a breaker."""

    def __init__(
        self,
        name: str,
        timeout: float,
        *,
        threads: int = DEFAULT_THREADS,
        cooldown: float = DEFAULT_COOLDOWN_SECONDS,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.breaker = Breaker(cooldown)
        self._threads = threads
        self._executor = _DaemonPool(threads, f"cds-db-{name}")
        self.max_waiting = threads * 8
        self._slots = threading.BoundedSemaphore(threads + self.max_waiting)
        self.timeouts = 0

    def _submit(self, fn: Callable[..., T], *args: object) -> Future[T]:
        """Queue `fn`; calls waiting for a thread count against the caller's timeout, and at most
        `max_waiting` may queue (a burst waits briefly; a pile-up behind a hung database fails)."""
        if self.breaker.is_open:
            raise DatabaseDown(f"{self.name}: database failed recently; not retried yet")
        if not self._slots.acquire(blocking=False):
            raise DatabaseDown(f"{self.name}: too many calls waiting for the database")
        try:
            future = self._executor.submit(fn, *args)
        except RuntimeError:  # executor shut down
            self._slots.release()
            raise DatabaseDown(f"{self.name}: closed") from None
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def _failed(self, exc: BaseException) -> None:
        if _is_outage(exc):
            self.breaker.trip()

    async def call(self, fn: Callable[..., T], *args: object, timeout: float | None = None) -> T:
        """`fn(*args)` on a database thread; DatabaseDown after `timeout` (default: the gate's)."""
        future = self._submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout or self.timeout)
        except TimeoutError:
            self.timeouts += 1
            self.breaker.trip()
            raise DatabaseDown(f"{self.name}: no answer within {timeout or self.timeout:g} s") from None
        except SQLAlchemyError as exc:
            self._failed(exc)
            raise

    def call_sync(self, fn: Callable[..., T], *args: object, timeout: float | None = None) -> T:
        """The same from a thread (the audit writer)."""
        future = self._submit(fn, *args)
        try:
            return future.result(timeout or self.timeout)
        except FutureTimeout:
            self.timeouts += 1
            self.breaker.trip()
            raise DatabaseDown(f"{self.name}: no answer within {timeout or self.timeout:g} s") from None
        except SQLAlchemyError as exc:
            self._failed(exc)
            raise

    def close(self) -> None:
        self._executor.shutdown(self._threads)


def _is_outage(exc: BaseException) -> bool:
    """Connection-level failures and timeouts, not constraint violations (those are answers)."""
    if isinstance(exc, OperationalError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
