"""A client-side overload probe: many keep-alive connections on loopback, each posting hook calls
back to back for a bounded time, with some multi-megabyte bodies mixed in, every call timed at the
client (from the first byte written to the last byte read), not by the server's own timer.

Raw asyncio streams (no HTTP library): one Python process drives a thousand connections. A
connection the server closes (`Connection: close`, a reset) is reopened; what the client saw is
kept per call: status, latency, `Retry-After`, or the error. `python -m tests.support.probe URL`
prints a summary (the figures in the commit messages of issue 21).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Call:
    kind: str  # "typical", "large" or "probe"
    status: int | str  # HTTP status, or the error's name
    seconds: float
    retry_after: str | None = None
    connect_seconds: float | None = None  # a fresh connection: how long the TCP connect took (listen backlog)


@dataclass
class ProbeResult:
    calls: list[Call] = field(default_factory=list)

    def of(self, kind: str | None = None, status: int | str | None = None) -> list[Call]:
        return [c for c in self.calls if (kind is None or c.kind == kind) and (status is None or c.status == status)]

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        statuses: dict[str, int] = {}
        for call in self.calls:
            statuses[str(call.status)] = statuses.get(str(call.status), 0) + 1
        answered = [c.seconds for c in self.calls if c.status == 200]
        refused = [c.seconds for c in self.calls if c.status == 503]
        every = [c.seconds for c in self.calls]
        connects = [c.connect_seconds for c in self.calls if c.connect_seconds is not None]
        return {
            "calls": len(self.calls),
            "statuses": statuses,
            "p50_s": pct(every, 0.50),
            "p99_s": pct(every, 0.99),
            "max_s": pct(every, 1.0),
            "answered_p50_s": pct(answered, 0.50),
            "answered_p99_s": pct(answered, 0.99),
            "answered_max_s": pct(answered, 1.0),
            "refused_p50_s": pct(refused, 0.50),
            "refused_p99_s": pct(refused, 0.99),
            "refused_max_s": pct(refused, 1.0),
            "probe_max_s": pct([c.seconds for c in self.of("probe")], 1.0),
            "connect_p50_s": pct(connects, 0.50),
            "connect_p99_s": pct(connects, 0.99),
            "connect_max_s": pct(connects, 1.0),
            "by_kind": {
                kind: {
                    "answered": len(done := [c.seconds for c in self.of(kind, 200)]),
                    "answered_p50_s": pct(done, 0.50),
                    "answered_p99_s": pct(done, 0.99),
                    "refused": len(shed := [c.seconds for c in self.of(kind, 503)]),
                    "refused_p50_s": pct(shed, 0.50),
                    "refused_p99_s": pct(shed, 0.99),
                }
                for kind in ("typical", "large", "probe")
            },
        }


def request_bytes(host: str, path: str, body: bytes, extra: str = "") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if length:
        await reader.readexactly(length)
    return status, headers


async def _one(
    host: str, port: int, payload: bytes, timeout: float, conn: list[Any]
) -> tuple[int | str, str | None, float | None]:
    """One call on the connection in `conn` (opened or reopened as needed): status, Retry-After, and
    the connect time when the call opened a connection (the wait in the listen backlog shows there)."""
    connect_seconds = None
    try:
        if not conn:
            started = time.monotonic()
            conn.extend(await asyncio.wait_for(asyncio.open_connection(host, port), timeout))
            connect_seconds = time.monotonic() - started
        reader, writer = conn
        writer.write(payload)
        status, headers = await asyncio.wait_for(_read_response(reader), timeout)
        if headers.get("connection", "").lower() == "close":
            writer.close()
            conn.clear()
        return status, headers.get("retry-after"), connect_seconds
    except Exception as exc:  # what the client saw: a reset, a timeout, an early close
        if conn:
            conn[1].close()
            conn.clear()
        return type(exc).__name__, None, connect_seconds


async def _worker(
    url: str,
    body: bytes,
    seconds: float,
    timeout: float,
    result: ProbeResult,
    kind: str,
    stop_at: float,
    backoff: float = 0.05,
) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    payload = request_bytes(f"{host}:{port}", parts.path, body)
    conn: list[Any] = []
    while time.monotonic() < stop_at:
        started = time.monotonic()
        status, retry_after, connect_seconds = await _one(host, port, payload, timeout, conn)
        result.calls.append(Call(kind, status, time.monotonic() - started, retry_after, connect_seconds))
        if status == 503 or isinstance(status, str):
            await asyncio.sleep(backoff)  # a client backs off a little before it retries (Retry-After says 1 s)
    if conn:
        conn[1].close()


async def _prober(url: str, body: bytes, timeout: float, result: ProbeResult, stop_at: float) -> None:
    """Every 0.25 s a call on a fresh connection: what an EHR that just connected sees."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    payload = request_bytes(f"{host}:{port}", parts.path, body, "Connection: close\r\n")
    await asyncio.sleep(0.5)
    while time.monotonic() < stop_at:
        started = time.monotonic()
        status, retry_after, connect_seconds = await _one(host, port, payload, timeout, [])
        result.calls.append(Call("probe", status, time.monotonic() - started, retry_after, connect_seconds))
        await asyncio.sleep(0.25)


async def probe(
    url: str,
    typical: bytes,
    *,
    connections: int,
    seconds: float,
    large: bytes | None = None,
    large_connections: int = 0,
    timeout: float = 30.0,
    backoff: float = 0.05,
) -> ProbeResult:
    """`connections` keep-alive clients posting `typical` (and `large_connections` posting `large`)
    for `seconds`, plus a fresh-connection prober. Bounded: every call ends by `seconds + timeout`."""
    result = ProbeResult()
    stop_at = time.monotonic() + seconds
    tasks = [_worker(url, typical, seconds, timeout, result, "typical", stop_at, backoff) for _ in range(connections)]
    if large is not None:
        tasks += [
            _worker(url, large, seconds, timeout, result, "large", stop_at, backoff) for _ in range(large_connections)
        ]
    tasks.append(_prober(url, typical, timeout, result, stop_at))
    await asyncio.gather(*tasks)
    return result


def _read_blocking(sock: Any) -> tuple[int | str, bool]:
    """(status, server closes) of one response on a blocking socket, its body read."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return "closed", True
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split(" ", 2)[1]), headers.get("connection", "").lower() == "close"


def fresh_probe(
    url: str, body: bytes, seconds: float, every: float = 0.25, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Blocking sockets, meant for a process of its own (free of the load client's event loop). In
    turn, every `every` seconds: a call on a fresh connection ("fresh": TCP connect time, i.e. a wait
    in the listen backlog, then the time from the request's last byte to the answer: accept, the
    server's loop, the refusal) and a call on a connection already open and idle ("warm": the
    server's loop alone)."""
    import socket

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    payload = request_bytes(f"{host}:{port}", parts.path, body)
    calls: list[dict[str, Any]] = []
    warm: socket.socket | None = None
    stop_at = time.monotonic() + seconds
    kind = "fresh"
    while time.monotonic() < stop_at:
        started = time.monotonic()
        call: dict[str, Any] = {"kind": kind, "status": None, "connect_s": None, "answer_s": None}
        sock = warm if kind == "warm" else None
        try:
            if sock is None:
                sock = socket.create_connection((host, port), timeout=timeout)
                call["connect_s"] = round(time.monotonic() - started, 4)
            call["port"], call["sent_at"] = sock.getsockname()[1], time.time()  # to match server-side logs
            sock.sendall(payload)
            sent = time.monotonic()
            call["status"], closes = _read_blocking(sock)
            call["answer_s"] = round(time.monotonic() - sent, 4)
        except OSError as exc:
            call["status"], closes = type(exc).__name__, True
        if kind == "warm" or (not closes and warm is None):
            warm = None if closes else sock  # a fresh connection left open becomes the warm one
        if sock is not None and sock is not warm:
            sock.close()
        call["total_s"] = round(time.monotonic() - started, 4)
        calls.append(call)
        kind = "warm" if kind == "fresh" and warm is not None else "fresh"
        time.sleep(max(0.0, every - (time.monotonic() - started)))
    if warm is not None:
        warm.close()
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="e.g. http://127.0.0.1:8080/cds-services/muscle-spasm-order-select")
    parser.add_argument("--body", required=True, help="file with a typical hook request")
    parser.add_argument("--large", help="file with a multi-megabyte hook request")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--large-connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--fresh-only", action="store_true", help="only the blocking fresh-connection prober")
    args = parser.parse_args()
    with open(args.body, "rb") as handle:
        typical = handle.read()
    if args.fresh_only:
        print(json.dumps(fresh_probe(args.url, typical, args.seconds)))
        return
    large = None
    if args.large:
        with open(args.large, "rb") as handle:
            large = handle.read()
    result = asyncio.run(
        probe(args.url, typical, connections=args.connections, seconds=args.seconds, large=large,
              large_connections=args.large_connections)
    )  # fmt: skip
    print(json.dumps(result.summary(), indent=2))


if __name__ == "__main__":
    main()
