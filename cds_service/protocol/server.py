"""The HTTP server edge under `cds-service serve`: uvicorn's httptools protocol, bounded.

Before the app sees a request, uvicorn (httptools) would buffer any header size and count, wait
forever for a slow header or body, and start one task per request however many wait already:
the security review measured 50 MB headers held in memory, 1,100 slow-header connections still
open after 40 s, and clients waiting 7-15 s at 200 connections while the app measured 13 ms.
`GuardedHttpTools` adds, per connection:

* header bytes (request line included) and header count capped: 431 as soon as the cap is
  passed, not when the header is complete (memory stays within the cap plus one read);
* a header deadline (from the first byte of a request, or the connection's start) and a body
  deadline (from the end of the headers): 408 and the connection closed;
* admission when a CDS call's headers are complete: beyond the limits of the app's edge layer
  (`protocol.edge`: calls in progress counted from their headers, large calls) the call is
  answered 503 right here, before its body is read, with no task and none of the app's stack;
  an admitted call is stamped with that time (`EDGE_KEY`), so that the edge layer refuses it if
  it then waited in the loop longer than its limit;
* a graceful drain: an idle keep-alive connection is not cut at shutdown but given `linger`
  seconds to send a request that is then answered (with `Connection: close`).

`DrainingServer` stops the kernel taking new connections first, then accepts what waits in the
listen backlog, then closes the listener (closing it resets what still waits there: the review saw
8 of 339 calls reset at the end of a drain). On Linux a socket filter on the listener drops new
connection requests (a bare SYN: the client retries it after 1 s and is then refused, the listener
being closed) while handshakes already under way complete; without it a connection could land in
the backlog between the last sweep and the close, and was reset: under `--workers 2`, 4 calls in
~209,000 (4 of 90 drains, `bench/drain_resets.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

log = logging.getLogger("cds_service.server")

EDGE_KEY = "cds.edge"  # scope["extensions"][EDGE_KEY] = {"queued_at": loop time[, "refused": why]}
_CDS_PREFIX = b"/cds-services/"
LARGE_BODY = 1 << 20  # a refused call announcing this much or more is not read on: its connection closes


class Admission(Protocol):
    """What the app's edge layer (`protocol.edge.Edge`) offers the protocol: a refusal decided when
    a CDS call's headers are complete, and the refusal's bytes (counted as it is given)."""

    def admit(self, content_length: int) -> str | None: ...

    def refused(self, path: str, reason: str, close: bool) -> bytes: ...


_admission: Admission | None = None


def register_admission(admission: Admission | None) -> None:
    """The serving process's edge layer (one app per `serve` process; the last one built wins)."""
    global _admission
    _admission = admission


@dataclass(frozen=True)
class EdgeLimits:
    """What `cds-service serve` allows a connection before the app sees the request."""

    max_header_bytes: int = 32 * 1024
    max_header_count: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    linger: float = 0.5


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; the status is answered by `data_received`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with header caps, header and body deadlines and a drain linger."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.limits: EdgeLimits = getattr(config, "cds_edge_limits", None) or EdgeLimits()
        self._in_headers = True
        self._header_bytes = 0
        self._header_count = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._draining = False

    # --- deadlines
    def _arm(self, seconds: float, status: int, message: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, status, message)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, status: int, message: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started:
                self.transport.close()
                return
            cycle.disconnected = True  # the app's receive() now reports a disconnect; its answer is dropped
            cycle.message_event.set()
        self._refuse(status, message)

    def _refuse(self, status: int, message: str) -> None:
        body = message.encode("ascii")
        self.transport.write(
            b"".join([
                STATUS_LINE[status],
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ])
        )  # fmt: skip
        self.transport.close()

    # --- protocol interface
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Accepted by the drain's backlog sweep (or just before it): uvicorn told the connections it
        # knew to shut down before this one was made, so it answers its request with `Connection: close`.
        self._draining = bool(getattr(self.server_state, DRAINING, False))
        self._arm(self.limits.header_timeout, 408, "request headers not received in time")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._in_headers:
            self._header_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._disarm()
                self._refuse(refused.status, refused.message)
                return
            raise
        except httptools.HttpParserError:
            self._disarm()
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()  # no websockets here
            return
        if self._in_headers and self._header_bytes > self.limits.max_header_bytes:
            self._disarm()
            self._refuse(431, "request headers too large")

    # --- parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_headers:  # a request after a keep-alive pause: its own header deadline
            self._in_headers = True
            self._arm(self.limits.header_timeout, 408, "request headers not received in time")
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_header_count:
            raise _Refused(431, "too many request headers")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            raise _Refused(431, "request headers too large")
        self._in_headers = False
        self._header_bytes = 0
        self.scope["extensions"] = {EDGE_KEY: {"queued_at": self.loop.time()}}
        admission = _admission
        if admission is not None and self.parser.get_method() == b"POST" and self.url.startswith(_CDS_PREFIX):
            # Admission before any task exists: a refused call is answered right here (503), its body
            # skipped by the parser or not read at all, never buffered for an app.
            length = next((value for name, value in self.headers if name == b"content-length"), b"0")
            content_length = int(length) if length.isdigit() else 0
            reason = admission.admit(content_length)
            self.scope["extensions"][EDGE_KEY]["admitted"] = reason is None
            if reason is not None:
                self._refuse_at_once(admission, reason, content_length)
                return
        super().on_headers_complete()
        self._arm_body_deadline()

    def _refuse_at_once(self, admission: Admission, reason: str, content_length: int) -> None:
        """503 written here and now: no task, no app. A small body that follows is skipped by the
        parser (the connection stays); a large one is not read on: the connection closes."""
        close = content_length == 0 or content_length >= LARGE_BODY or self._draining
        keep_alive = not close and self.parser.should_keep_alive()
        cycle = RequestResponseCycle(
            scope=self.scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=False,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=keep_alive,
            on_response=self.on_response_complete,
        )
        cycle.response_started = cycle.response_complete = True
        self.cycle = cycle
        path = httptools.parse_url(self.url).path.decode("ascii", "replace")
        self.transport.write(admission.refused(path, reason, not keep_alive))
        if not keep_alive:
            self._disarm()
            self.transport.close()
            return
        self.on_response_complete()
        self._arm_body_deadline()

    def _arm_body_deadline(self) -> None:
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False
        if self.parser is not None and self.cycle is not None and self.cycle.more_body:
            self._arm(self.limits.body_timeout, 408, "request body not received in time")
        else:
            self._disarm()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._disarm()
        super().on_response_complete()

    def shutdown(self) -> None:
        """Drain: a connection idle between requests gets `linger` seconds to send one more (answered
        with `Connection: close`) instead of being closed under a request already on its way."""
        self._draining = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
            return
        self.loop.call_later(self.limits.linger, self._close_if_idle)

    def _close_if_idle(self) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self._header_bytes == 0 and not self.transport.is_closing():
            self.transport.close()


DRAINING = "cds_draining"  # set on uvicorn's ServerState when the drain has begun

# Classic BPF for SO_ATTACH_FILTER on a TCP listener, which sees each segment from its TCP header:
# drop a connection request (SYN set, ACK not), keep everything else (a handshake's last ACK).
_SO_ATTACH_FILTER = 26
_DROP_NEW_CONNECTIONS = (
    (0x30, 0, 0, 13),  # ldb [13]: TCP flags
    (0x54, 0, 0, 0x12),  # and #(SYN|ACK)
    (0x15, 0, 1, 0x02),  # jeq #SYN: next, else skip one
    (0x06, 0, 0, 0),  # ret #0: drop
    (0x06, 0, 0, 0xFFFFFFFF),  # ret #-1: keep
)
HANDSHAKE_SETTLE = 0.05  # seconds for handshakes under way when the filter goes on to reach the backlog


def refuse_new_connections(listening: socket.socket) -> bool:
    """Make the kernel drop new connection requests to `listening` (in every process that shares it),
    so that nothing new reaches the listen backlog once the drain has swept it. Linux only: False
    elsewhere or if the filter cannot be attached."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in _DROP_NEW_CONNECTIONS))
    program = struct.pack("HL", len(_DROP_NEW_CONNECTIONS), ctypes.addressof(code))
    try:
        listening.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, program)
    except OSError as exc:
        log.warning("drain: cannot stop new connections before the backlog sweep (%s)", exc)
        return False
    return True


class DrainingServer(uvicorn.Server):
    """uvicorn's server whose shutdown stops new connections first, then accepts what is waiting in
    the listen backlog, then closes the listener."""

    def __init__(self, config: uvicorn.Config, service_stopping: Callable[[], bool] | None = None) -> None:
        super().__init__(config)
        self._backlog_tasks: set[asyncio.Task[Any]] = set()
        # Under --workers: whether the whole service stops, or only this worker (SIGHUP, SIGTTOU).
        self._service_stopping = service_stopping

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        setattr(self.server_state, DRAINING, True)
        stopped = False
        # The filter is on the listening socket itself, which a worker retired alone shares with the
        # workers that stay: only when the whole service stops.
        if self._service_stopping is None or self._service_stopping():
            for listening in self._listeners():
                try:
                    stopped |= refuse_new_connections(listening)
                finally:
                    listening.close()
        if stopped:
            await asyncio.sleep(HANDSHAKE_SETTLE)  # the loop keeps accepting meanwhile
        with contextlib.suppress(Exception):
            self._accept_backlog()
        await super().shutdown(sockets)

    def _listeners(self) -> list[socket.socket]:
        """This process's own descriptors of the listening sockets (the caller closes them)."""
        found = []
        for server in self.servers:
            for listening in server.sockets:
                with contextlib.suppress(OSError):
                    found.append(socket.socket(fileno=os.dup(listening.fileno())))
        return found

    def _accept_backlog(self) -> None:
        config = self.config
        factory = functools.partial(
            config.http_protocol_class, config=config, server_state=self.server_state, app_state=self.lifespan.state
        )
        loop = asyncio.get_running_loop()
        accepted = 0
        for sock in self._listeners():
            sock.setblocking(False)
            try:
                while True:
                    try:
                        conn, _ = sock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    conn.setblocking(False)
                    task = loop.create_task(loop.connect_accepted_socket(factory, conn))
                    self._backlog_tasks.add(task)
                    task.add_done_callback(self._backlog_tasks.discard)
                    accepted += 1
            finally:
                sock.close()
        if accepted:
            log.info("drain: accepted %d connection(s) waiting in the listen backlog", accepted)
