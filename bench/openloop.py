"""An open-loop load generator (issue 22): requests leave on a fixed schedule whatever the server is
doing, and each latency is measured from the request's *scheduled* time, so a server that stalls is
charged for every request that should have left during the stall (no coordinated omission, as in
wrk2, which Debian does not package).

Raw HTTP/1.1 over asyncio streams: each request takes an idle keep-alive connection or opens a new one
(never waits for a busy one); bodies are formatted once before the run. One process; at 100 calls/s its
own cost is small, and `send_lag` reports how late it was itself (a generator that falls behind would
hide latency: it is reported, not hidden).

    python bench/openloop.py http://127.0.0.1:8000 --rate 100 --seconds 300 --bodies DIR --path /cds-services/x
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an ascending list; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values) / 100 - 1e-9))  # 99.9 % of 1000 is rank 999, not 1000
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(
    latencies_ms: list[float], errors: int, lags_ms: list[float], seconds: float, rate: float
) -> dict[str, Any]:
    values = sorted(latencies_ms)
    lags = sorted(lags_ms)
    return {
        "rate": rate,
        "seconds": seconds,
        "sent": len(latencies_ms) + errors,
        "ok": len(latencies_ms),
        "errors": errors,
        "p50_ms": round(percentile(values, 50), 2),
        "p90_ms": round(percentile(values, 90), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "p999_ms": round(percentile(values, 99.9), 2),
        "max_ms": round(values[-1], 2) if values else 0.0,
        "send_lag_p99_ms": round(percentile(lags, 99), 2),
        "send_lag_max_ms": round(lags[-1], 2) if lags else 0.0,
    }


class _Pool:
    """Idle keep-alive connections to one host; a request never waits for a busy one."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.stale = 0  # idle connections found closed by the server, discarded before use

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """An idle connection the server has not closed, else a new one. A connection left idle past the
        server's keep-alive timeout has been closed by the server (its FIN already read): sending on it
        fails however fast the server is, so, like urllib3's dropped-connection check, it is discarded
        (`stale`), not counted as the server's error."""
        while self.idle:
            reader, writer = self.idle.pop()
            if reader.at_eof() or writer.is_closing():
                self.stale += 1
                writer.close()
                continue
            return reader, writer
        self.opened += 1
        return await asyncio.open_connection(self.host, self.port)

    def give_back(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.append(conn)

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def _exchange(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes) -> int:
    """Send one request, read its whole response; the status code."""
    reader, writer = conn
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


def format_requests(url: str, items: list[tuple[str, bytes]]) -> list[bytes]:
    """(path, body) pairs as complete HTTP/1.1 requests, formatted once before the run."""
    host = urlsplit(url).netloc
    return [
        (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
         f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        for path, body in items
    ]  # fmt: skip


async def run_open_loop(url: str, requests: list[bytes], rate: float, seconds: float) -> dict[str, Any]:
    """Send `rate` requests per second for `seconds`, cycling through `requests`."""
    parts = urlsplit(url)
    pool = _Pool(parts.hostname or "127.0.0.1", parts.port or 80)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0
    kinds: dict[str, int] = {}  # errors by kind: an exception's name or "HTTP <status>"
    total = int(rate * seconds)
    interval = 1.0 / rate
    tasks: set[asyncio.Task[None]] = set()

    async def one(scheduled: float, request: bytes) -> None:
        nonlocal errors
        lags.append((loop.time() - scheduled) * 1000)
        conn = None
        try:
            conn = await pool.take()
            status = await asyncio.wait_for(_exchange(conn, request), 30)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
            errors += 1
            kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
            if conn is not None:
                conn[1].close()
            return
        done = loop.time()
        pool.give_back(conn)
        if 200 <= status < 300:
            latencies.append((done - scheduled) * 1000)
        else:
            errors += 1
            kinds[f"HTTP {status}"] = kinds.get(f"HTTP {status}", 0) + 1

    start = loop.time() + 0.1
    for n in range(total):
        scheduled = start + n * interval
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(scheduled, requests[n % len(requests)]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=60)
    pool.close()
    result = summarize(latencies, errors, lags, seconds, rate)
    result["connections_opened"] = pool.opened
    result["stale_connections_discarded"] = pool.stale
    result["errors_by_kind"] = kinds
    return result


def open_loop(url: str, items: list[tuple[str, bytes]], rate: float, seconds: float) -> dict[str, Any]:
    return asyncio.run(run_open_loop(url, format_requests(url, items), rate, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--path", required=True, help="the service path every body is posted to")
    parser.add_argument("--bodies", type=Path, required=True, help="a directory of JSON bodies")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    items = [(args.path, f.read_bytes()) for f in sorted(args.bodies.glob("*.json"))]
    start = time.perf_counter()
    result = open_loop(args.url, items, args.rate, args.seconds)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
