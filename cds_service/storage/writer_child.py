"""The audit writer process: `python -m cds_service.storage.writer_child --fd N`, started by
`ProcessRecorder` (storage/writer_process.py) with one end of a socket pair.

It runs the same writer as the in-process recorder (`audit_writer`: batches, spool, replay, the
override refresh on the writer's turn) with an engine of its own, so that SQL, commits and spool
writes take no CPU and no interpreter lock from the serving process. Messages are pickled tuples
(`multiprocessing.connection`); the first carries the configuration (the patient hash secret
travels here, never in argv or the environment).

It ignores SIGTERM and SIGINT: a signal sent to the whole process group must not end it before the
server has handed over its last rows. It ends on the server's "stop" (after writing what it holds)
or when the socket closes (the server died: it writes what it holds, then ends).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import queue
import signal
import threading
from multiprocessing.connection import Connection
from types import SimpleNamespace
from typing import Any

from cds_service.storage.audit_writer import _WAKE, BATCH_SIZE, MIGRATION_TIMEOUT_SECONDS, _Refresh, _Retry
from cds_service.storage.recorder import SqlRecorder
from cds_service.storage.records import HookCallRecord
from cds_service.storage.repeats import REPEAT_WINDOW, read_repeat_rows
from cds_service.storage.sql_writes import read_suppressions, wire_row
from cds_service.storage.wire import Entries, decode_records

log = logging.getLogger("cds_service.storage")

# A batch waits this long for more rows unless it fills first. Measured: without it, batches of a few
# rows each paid a commit (550 rows/s); at 20 ms, a load of 250 calls/s still paid ~25 commits a second
# (0.41 ms of the writer's CPU per row on SQLite, against 0.19 ms at 100 ms, bench/audit_cost.py).
LINGER_SECONDS = 0.1
STATUS_INTERVAL_SECONDS = 0.05  # at most this long between a batch's end and the server hearing of it


class ChildWriter(SqlRecorder):
    """The writer half of a recorder, fed from the socket. Its queue blocks when full: back-pressure
    travels to the server through the socket, which then counts it (nothing is dropped here)."""

    def record_hook_call(self, record: HookCallRecord) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put(record)

    def record_entries(self, entries: Entries) -> None:
        """A batch as the server sent it (`storage.wire`), queued in items of at most `BATCH_SIZE`
        records: a transaction stays within what the writer's gate allows it (one of 10,000 rows
        timed out and went to the spool)."""
        with self._lock:
            self._pending += len(entries)
        for start in range(0, len(entries), BATCH_SIZE):
            self._queue.put(Entries(entries[start : start + BATCH_SIZE]))

    def spool_row(self, record: HookCallRecord | dict[str, Any]) -> dict[str, Any]:
        if isinstance(record, dict):
            return wire_row(record, self._secret)
        return super().spool_row(record)

    def _refresh_work(self, request: _Refresh) -> Any:
        """The overrides and the repeat keys stored since the server's marks, read here, on the writer's
        turn between its commits (`read_repeat_rows` says why not in the server)."""
        self._ensure_schema()
        suppressions = read_suppressions(self.engine, request.now, request.watermark)
        if request.repeat_marks is None:
            return suppressions
        seen_mark, cleared_mark = request.repeat_marks
        return suppressions, *read_repeat_rows(self.engine, request.now, REPEAT_WINDOW, seen_mark, cleared_mark)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                # every record received is counted once: written now, spooled, or lost
                "completed": self.written - self.replayed + self.spooled_total + self.dropped,
                "written": self.written,
                "replayed": self.replayed,
                "spooled_total": self.spooled_total,
                "lost": self.dropped,
                "spool_rows": self.spool.rows if self.spool is not None else 0,
                "spool_rejected_files": self.spool.rejected_files if self.spool is not None else 0,
                "database_ok": self.database_ok,
                "schema_ready": self.schema_ready,
            }

    def start_writer(self) -> None:
        if self.spool is not None:
            try:
                self.spool.adopt_orphans()
            except OSError as exc:
                log.error("audit spool directory unusable: %s", exc.strerror)
        try:
            self.writer_gate.call_sync(self._ensure_schema, timeout=MIGRATION_TIMEOUT_SECONDS)
        except Exception as exc:
            self._failed(exc, "schema not migrated")
        self._thread = threading.Thread(target=self._drain, name="cds-audit-writer", daemon=True)
        self._thread.start()


GC_THRESHOLDS = (50_000, 20, 100)  # as the server process after its warm-up (app.GC_THRESHOLDS)


def serve(conn: Connection) -> None:
    """Read the server's messages until "stop" or the end of the socket."""
    kind, config = conn.recv()
    assert kind == "config"
    settings = SimpleNamespace(**config["settings"])
    writer = ChildWriter(config["database_url"], config["secret"], queue_size=config["queue_size"], settings=settings)
    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(message)

    if writer.spool is not None and config.get("spool_key"):
        writer.spool.use_key(config["spool_key"])  # sign and verify as the server would (issue 21)
    writer.schema_ready = bool(config.get("schema_ready"))  # the server migrated before starting this process
    writer.linger_seconds = LINGER_SECONDS
    writer.start_writer()
    # This process's heap is its modules and the database engine, made once; its rows are freed by
    # reference counting. Out of the cyclic GC's reach and with the server's thresholds, it no longer
    # runs full collections of 14-115 ms every few seconds (measured at 280 calls/s, Python's default
    # thresholds), CPU taken from the clients and the server on a small machine.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    done = threading.Event()

    def report() -> None:  # the counters, whenever a batch ends (at most every STATUS_INTERVAL)
        last: dict[str, Any] | None = None
        while not done.is_set():
            with writer._idle:
                writer._idle.wait(STATUS_INTERVAL_SECONDS)
            current = writer.status()
            if current != last:
                try:
                    send(("status", current))
                except OSError:
                    return
                last = current

    threading.Thread(target=report, name="cds-audit-status", daemon=True).start()
    timeout = 10.0
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            log.warning("audit writer: the server went away; writing what is queued")
            break
        kind = message[0]
        if kind == "batch":
            writer.record_entries(decode_records(message[1]))
        elif kind == "records":
            for record in message[1]:
                writer.record_hook_call(record)
        elif kind == "retry":
            threading.Thread(target=_retry, args=(writer, send, message[1]), daemon=True).start()
        elif kind == "refresh":
            _refresh(writer, send, message[1], message[2], message[3], message[4] if len(message) > 4 else None)
        elif kind == "stop":
            timeout = float(message[1])
            break
    writer._stop_writer(timeout)
    done.set()
    try:
        send(("status", writer.status()))
        send(("stopped",))
    except OSError:
        pass
    writer.engine.dispose()


def _retry(writer: ChildWriter, send: Any, request_id: int) -> None:
    request = _Retry()
    writer._queue.put(request)
    ok = request.done.wait(30.0)
    with contextlib.suppress(OSError):
        send(("retried", request_id, ok))


def _refresh(writer: ChildWriter, send: Any, request_id: int, now: Any, watermark: Any, repeat_marks: Any) -> None:
    request = _Refresh(now, watermark, repeat_marks)

    def answer(future: Any) -> None:
        error = future.exception()
        try:
            if error is None:
                send(("refreshed", request_id, future.result(), None))
            else:
                send(("refreshed", request_id, None, type(error).__name__))
        except OSError:
            pass

    request.future.add_done_callback(answer)
    writer._refreshes.append(request)
    with contextlib.suppress(queue.Full):  # a full queue: the writer is busy, and looks before each batch
        writer._queue.put_nowait(_WAKE)


def main() -> None:
    parser = argparse.ArgumentParser(description="the audit writer process (started by the server)")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from cds_service.logs import configure_logging

    configure_logging(args.log_level)
    serve(Connection(args.fd))


if __name__ == "__main__":
    main()
