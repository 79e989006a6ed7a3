"""Issue 21, findings 2 and 3, against a real `cds-service serve` on loopback: request headers are
capped in bytes and count (431 as soon as the cap is passed, memory held to the cap), and slow
clients are timed out (header and body deadlines, 408). Bounded loops, ephemeral ports, raw sockets.

The review: ten 50 MB headers took RSS from 189 to 724 MB (615 MB still held after), 2 MB headers and
100,000 header lines were accepted on /health, 1,100 slow-header connections were all still open
after 40 s, and 40 slow bodies were held 25 s.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import Served, clean_env, running

pytestmark = pytest.mark.ops


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("limits")
    env = clean_env(
        CDS_STORAGE_ENABLED="false",
        CDS_LOG_LEVEL="WARNING",
        CDS_LARGE_REQUEST_PROCESSES="0",
        CDS_HEADER_TIMEOUT_SECONDS="1",
        CDS_BODY_TIMEOUT_SECONDS="1.5",
    )
    with running(env, work / "serve.log", "--dev") as server:
        yield server


def _rss_mb(served: Served) -> float:
    return int(Path(f"/proc/{served.proc.pid}/statm").read_text().split()[1]) * 4096 / 2**20


def _connect(served: Served) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    return sock


def _status(sock: socket.socket) -> int | None:
    """The status line's code, or None when the server closed (or reset) without one."""
    try:
        head = sock.recv(4096)
    except OSError:
        return None
    if not head.startswith(b"HTTP/1.1 "):
        return None
    return int(head.split(b" ", 2)[1])


def _send_huge_header(served: Served, megabytes: int) -> int | None:
    """A request whose one header is `megabytes` long, written until the server refuses or closes."""
    sock = _connect(served)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"a" * (1 << 20)
        for _ in range(megabytes):
            try:
                sock.sendall(chunk)
            except OSError:  # refused and closed early: what we want
                break
        return _status(sock)
    finally:
        sock.close()


def test_a_2_mb_header_is_answered_431_at_once(served: Served) -> None:
    assert _send_huge_header(served, 2) in (431, None)
    sock = _connect(served)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
        assert _status(sock) == 431
    finally:
        sock.close()


def test_many_header_lines_are_answered_431(served: Served) -> None:
    lines = b"".join(b"X-%d: 1\r\n" % n for n in range(5_000))
    sock = _connect(served)
    try:
        with contextlib.suppress(OSError):  # the server may close before the last line is written
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n")
        assert _status(sock) == 431
    finally:
        sock.close()


def test_huge_headers_do_not_grow_memory(served: Served) -> None:
    before = _rss_mb(served)
    for _ in range(5):
        _send_huge_header(served, 20)
    grown = _rss_mb(served) - before
    assert grown < 30, f"RSS grew {grown:.0f} MB after five 20 MB headers"
    sock = _connect(served)
    try:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _status(sock) == 200  # still serving
    finally:
        sock.close()


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, int | None]:
    """Whether the server answered and closed within `seconds` (reading what it sent)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    received = b""
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return True, None
        if not data:
            status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else None
            return True, status
        received += data
    return False, None


def test_slow_header_connections_are_closed_after_the_header_deadline(served: Served) -> None:
    socks = [_connect(served) for _ in range(50)]
    try:
        started = time.monotonic()
        for sock in socks:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        for _ in range(3):  # a byte now and then, as a slowloris client does
            time.sleep(0.2)
            for sock in socks:
                sock.sendall(b"X")
        outcomes = [_closed_within(sock, 4.0) for sock in socks]
        elapsed = time.monotonic() - started
    finally:
        for sock in socks:
            sock.close()
    assert all(closed for closed, _ in outcomes), f"{sum(not c for c, _ in outcomes)} of 50 still open"
    assert {status for _, status in outcomes} <= {408, None}
    assert elapsed < 6


def test_a_slow_body_is_answered_408_after_the_body_deadline(served: Served) -> None:
    sock = _connect(served)
    try:
        sock.sendall(
            b"POST /cds-services/muscle-spasm-order-select HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 4000000\r\n\r\n{"
        )
        started = time.monotonic()
        closed, status = False, None
        for _ in range(20):  # a byte every 0.25 s; bounded at 5 s
            try:
                sock.sendall(b" ")
            except OSError:
                closed = True
                break
            closed, status = _closed_within(sock, 0.25)
            if closed:
                break
        elapsed = time.monotonic() - started
    finally:
        sock.close()
    assert closed and status in (408, None), "the slow body was never cut off"
    assert elapsed < 4
