"""The audit trail off the request path: `ProcessRecorder` hands each call's audit record to a writer
process (storage/writer_child.py) instead of a thread of the serving process (issue 22).

Measured under load (issue 22's profile), the in-process writer thread held 26 % of the serving
process's samples: SQLite inserts and commits, competing with the calls for the interpreter lock.
Here the serving process only appends the record to a list; a sender thread pickles what
accumulated every few milliseconds and writes it to a socket. Everything else (pseudonyms, age
scrubbing, SQL, commits, the spool and its replay, the override refresh) runs in the writer
process, on the other core.

Guarantees, each tested (tests/storage/test_writer_process.py):
* SIGTERM: the server's shutdown hands over what it holds and the writer writes it before it ends;
  the writer ignores signals to its process group, and ends by itself when the server died.
* Database outage: the writer spools, then replays, exactly as the in-process writer does.
* Back-pressure: at most `queue_size` records are outstanding (not yet written, spooled or lost).
  From `backpressure_threshold` on (`behind`), the edge refuses new hook calls with 503 and
  Retry-After (`cds_load_shed_total{reason="audit_writer_behind"}`), so the calls it admitted
  find room. Only if the queue is full all the same does `record_hook_call` wait for room (up to
  `BACKPRESSURE_TIMEOUT_SECONDS`, on the event loop: a last resort), each wait counted
  (`backpressure_waits`, the `cds_audit_backpressure` metric); a wait that times out loses the
  record, counted as lost.
* The writer process dies: the records it had not confirmed are counted lost, and the recorder
  falls back to the in-process writer thread for the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from cds_service.storage.overrides import SUPPRESSION_REFRESH_TIMEOUT
from cds_service.storage.recorder import SqlRecorder
from cds_service.storage.records import HookCallRecord, StorageUnavailable
from cds_service.storage.wire import encode_records

log = logging.getLogger("cds_service.storage")

BACKPRESSURE_TIMEOUT_SECONDS = 10.0
STARTUP_TIMEOUT_SECONDS = 60.0
# Records that arrive within this are sent together: one encoding, one write and one wake-up of the
# writer process for them (measured at 250 records/s: 2 ms sent nearly every record on its own).
SEND_COALESCE_SECONDS = 0.02
_SETTINGS_FOR_THE_WRITER = (
    "db_statement_timeout_ms",
    "db_call_timeout_seconds",
    "sqlite_journal_mode",
    "audit_spool_max_bytes",
    "audit_spool_dir",
    "suppression_refresh_seconds",
)


class ProcessRecorder(SqlRecorder):
    """`SqlRecorder` whose audit writer runs in a process of its own (the default when serving)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._child: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self._outbox: list[HookCallRecord] = []
        self._room = threading.Condition(self._lock)  # record_hook_call waits here for room
        self._queue_size = self._queue.maxsize
        self._child_completed = 0
        self._child_lost = 0
        self._lost_here = 0
        self._child_spool_rows = 0
        self._replies: dict[int, Future[Any]] = {}
        self._ids = itertools.count(1)
        self._stopping = False
        self._fallback = False  # the writer process ended: the in-process thread writes
        self.backpressure_waits = 0  # record_hook_call had to wait for the writer (metric)
        self.backpressure_seconds = 0.0
        self._threads: list[threading.Thread] = []
        self._writer_ready = threading.Event()  # the writer process has reported once

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Migrate (here, so feedback and the replay check find the tables), start the writer process."""
        try:
            await self.writer_gate.call(self._ensure_schema, timeout=60.0)
        except Exception as exc:
            self._failed(exc, "schema not migrated")
        if self._child is None and not self._fallback:
            self._spawn()
        try:  # the first read here: nothing writes yet, and the writer process is still starting
            await self.refresh_gate.call(self._refresh_suppressions_sync, datetime.now(UTC))
        except Exception as exc:
            self._suppression_errors.error("override snapshot not loaded: %s", type(exc).__name__)
        if self._suppression_task is None:
            self._suppression_task = asyncio.create_task(self._refresh_suppressions_forever())

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        level = str(getattr(self.settings, "log_level", "WARNING"))
        self._child = subprocess.Popen(
            [sys.executable, "-m", "cds_service.storage.writer_child", "--fd", str(theirs.fileno()),
             "--log-level", level],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            # A session of its own: a SIGTERM or Ctrl-C sent to the server's process group must not end
            # the writer (even while it is still importing) before the server has handed over its rows.
            start_new_session=True,
        )  # fmt: skip
        theirs.close()
        self._conn = Connection(ours.detach())
        settings = {name: getattr(self.settings, name) for name in _SETTINGS_FOR_THE_WRITER if self.settings}
        if settings.get("audit_spool_dir") is not None:
            settings["audit_spool_dir"] = str(settings["audit_spool_dir"])
        spool_key = self.spool.key if self.spool is not None else None  # the app's configured key (issue 21)
        self._send(("config", {"database_url": self.database_url, "secret": self._secret,
                               "queue_size": self._queue_size, "settings": settings,
                               "schema_ready": self.schema_ready, "spool_key": spool_key}))  # fmt: skip
        for target, name in ((self._send_loop, "cds-audit-sender"), (self._read_loop, "cds-audit-replies")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    async def aclose(self, timeout: float = 5.0) -> None:
        """Hand over what is held, let the writer write it (up to `timeout`; the rest stays spooled)."""
        if self._suppression_task is not None:
            self._suppression_task.cancel()
            self._suppression_task = None
        if self._child is not None:
            await asyncio.to_thread(self._stop_child, timeout)
        if self._thread is not None:  # the fallback writer thread
            await asyncio.to_thread(self._stop_writer, timeout)
            self._thread = None
        for gate in (self.gate, self.refresh_gate, self.lookup_gate, self.writer_gate):
            gate.close()
        self.engine.dispose()

    def _stop_child(self, timeout: float) -> None:
        with self._lock:
            self._stopping = True
            self._room.notify_all()
        for thread in self._threads:
            if thread.name == "cds-audit-sender":
                thread.join(timeout)  # it sends what the outbox holds, then ends
        child = self._child
        assert child is not None
        with contextlib.suppress(OSError):
            self._send(("stop", timeout))
        try:
            child.wait(timeout + 5.0)
        except subprocess.TimeoutExpired:
            log.error("audit writer process did not end in time; rows it held stay in its spool")
            child.kill()
            child.wait(5.0)
        for thread in self._threads:
            thread.join(2.0)
        if self._conn is not None:
            self._conn.close()
        self._child = None

    # ------------------------------------------------------------------ hook calls

    def record_hook_call(self, record: HookCallRecord) -> None:
        """Queue one hook call for the writer process; waits only when `queue_size` are outstanding."""
        self._remember_repeats(record)  # here, where `repeated_keys` looks (the fallback's again: a no-op)
        with self._lock:
            if not self._fallback and self._pending >= self._queue_size and not self._stopping:
                self._wait_for_room()
            if self._fallback:
                pass  # below, outside the lock
            elif self._pending < self._queue_size or self._stopping:
                self._pending += 1
                self._outbox.append(record)
                if len(self._outbox) == 1:
                    self._room.notify_all()  # wakes the sender
                return
        if self._fallback:
            super().record_hook_call(record)
        else:
            self._lose_here(1, f"the audit writer process did not keep up for {BACKPRESSURE_TIMEOUT_SECONDS:g} s")

    def _wait_for_room(self) -> None:
        """Back-pressure (called holding the lock): the call waits until the writer confirms rows."""
        self.backpressure_waits += 1
        started = time.monotonic()
        deadline = started + BACKPRESSURE_TIMEOUT_SECONDS
        while self._pending >= self._queue_size and not self._fallback and not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._room.wait(remaining)
        self.backpressure_seconds += time.monotonic() - started

    def _lose_here(self, count: int, why: str) -> None:
        with self._lock:
            self._lost_here += count
            self.dropped = self._child_lost + self._lost_here
            self._last_loss = time.monotonic()
        self._losses.error("audit trail lost %d hook-call record(s): %s", count, why)

    def _send(self, message: tuple[Any, ...]) -> None:
        assert self._conn is not None
        with self._send_lock:
            self._conn.send(message)

    def _send_loop(self) -> None:
        """While records keep coming, one send every SEND_COALESCE_SECONDS (a sleep, no wait on the
        condition and no notify per send); idle, it waits for the next record."""
        while True:
            with self._lock:
                while not self._outbox and not self._stopping:
                    self._room.wait()
                if not self._outbox and self._stopping:
                    return
            while True:
                time.sleep(SEND_COALESCE_SECONDS)  # let a burst gather: one encoding and one write for it
                with self._lock:
                    batch, self._outbox = self._outbox, []
                if not batch:
                    break
                try:
                    message: tuple[Any, ...] = ("batch", encode_records(batch))
                except TypeError:  # a field orjson does not know: pickled, as the writer also accepts
                    message = ("records", batch)
                try:
                    self._send(message)
                except OSError:
                    self._writer_ended(batch)
                    return

    def _read_loop(self) -> None:
        assert self._conn is not None
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                if not self._stopping:
                    self._writer_ended([])
                return
            kind = message[0]
            if kind == "status":
                self._apply_status(message[1])
            elif kind in ("retried", "refreshed"):
                future = self._replies.pop(message[1], None)
                if future is not None and not future.done():
                    future.set_result(message[2:])
            elif kind == "stopped":
                return

    def _apply_status(self, status: dict[str, Any]) -> None:
        self._writer_ready.set()
        with self._lock:
            gained = status["completed"] - self._child_completed
            self._child_completed = status["completed"]
            self._pending -= gained
            if status["lost"] > self._child_lost:
                self._last_loss = time.monotonic()
            self._child_lost = status["lost"]
            self.written = status["written"]
            self.replayed = status["replayed"]
            self.spooled_total = status["spooled_total"]
            self.dropped = self._child_lost + self._lost_here
            self._child_spool_rows = status["spool_rows"]
            if self.spool is not None:  # the writer process adopts the orphans (issue 21: unsigned ones refused)
                self.spool.rejected_files = status["spool_rejected_files"]
            self.database_ok = status["database_ok"]
            self._idle.notify_all()
            self._room.notify_all()

    def _writer_ended(self, unsent: list[HookCallRecord]) -> None:
        """The writer process is gone: what it had not confirmed is lost (it may have been written,
        but nothing can tell); the in-process thread takes over."""
        self._writer_ready.set()
        with self._lock:
            if self._fallback:
                return
            self._fallback = True
            unconfirmed = self._pending
            self._pending = 0
            self._outbox = []
            self._idle.notify_all()
            self._room.notify_all()
        log.error("the audit writer process ended unexpectedly; writing from the serving process")
        self._lose_here(unconfirmed, "the audit writer process ended before confirming them")
        for future in list(self._replies.values()):
            if not future.done():
                future.set_result((None, "the audit writer process ended"))
        self._thread = threading.Thread(target=self._drain, name="cds-audit-writer", daemon=True)
        self._thread.start()

    def _ask(self, message: tuple[Any, ...]) -> Future[Any]:
        request_id = next(self._ids)
        future: Future[Any] = Future()
        self._replies[request_id] = future
        try:
            self._send((message[0], request_id, *message[1:]))
        except (OSError, AssertionError):
            self._replies.pop(request_id, None)
            future.set_result((None, "the audit writer process is not running"))
        return future

    def retry_now(self, timeout: float = 30.0) -> bool:
        """Have the writer try the database and replay the spool now; wait until it has, and until
        the server has heard of the outcome."""
        if self._fallback or self._conn is None:
            return super().retry_now(timeout)
        self.flush(timeout)
        try:
            ok = self._ask(("retry",)).result(timeout)[0]
        except TimeoutError:
            return False
        self._wait_for_status(timeout)
        return bool(ok)

    def _wait_for_status(self, timeout: float) -> None:
        """Until a status sent after now arrives (the writer sends one when its counters change)."""
        deadline = time.monotonic() + min(timeout, 1.0)
        with self._idle:
            self._idle.wait(max(0.0, deadline - time.monotonic()))

    def flush(self, timeout: float = 5.0) -> bool:
        """As `SqlRecorder.flush`; a writer process still starting (about a second, more on a busy
        machine) does not count against `timeout`."""
        if self._child is not None and not self._fallback:
            self._writer_ready.wait(STARTUP_TIMEOUT_SECONDS)
        return super().flush(timeout)

    def _spool_rows(self) -> int:
        return self.spool.rows if self._fallback and self.spool is not None else self._child_spool_rows

    # ------------------------------------------------------------------ overrides

    async def refresh_suppressions(self) -> bool:
        """Read the overrides stored since the last refresh, on the writer process's turn."""
        if self._fallback or self._conn is None:
            return await super().refresh_suppressions()
        now = datetime.now(UTC)
        try:
            future = self._ask(("refresh", now, self._suppression_watermark, self.repeats.marks()))
            result, error = (*await asyncio.wait_for(asyncio.wrap_future(future), SUPPRESSION_REFRESH_TIMEOUT), None)[
                :2
            ]
            if result is None:
                raise StorageUnavailable(error or "the audit writer process is not running")
        except Exception as exc:  # the snapshot stays as it is; look-ups go to the database meanwhile
            self._suppression_errors.error("override snapshot not refreshed: %s", type(exc).__name__)
            return False
        rows, seen_rows, accepted_rows = result  # all read by the writer process (`read_repeat_rows`)
        self._apply_suppressions(rows, now)
        with self._suppression_lock:
            for key in [key for key, until in self._suppressions.items() if until <= now]:
                del self._suppressions[key]
        self._suppression_loaded_at = time.monotonic()
        try:  # off the event loop: the expiry walks the whole snapshot (up to 200,000 keys)
            await self.refresh_gate.call(self.repeats.apply_rows, seen_rows, accepted_rows, now)
        except Exception as exc:  # what this instance showed is held already; the others' wait for the next
            self._suppression_errors.error("repeat snapshot not refreshed: %s", type(exc).__name__)
        return True


def writer_pid(recorder: object) -> int | None:
    """The writer process's pid (tests, operations), None when it runs in-process."""
    child = getattr(recorder, "_child", None)
    return child.pid if child is not None else None


__all__ = ["BACKPRESSURE_TIMEOUT_SECONDS", "ProcessRecorder", "writer_pid"]
