"""Overload benchmark (finding 9 of the hardening issue): latency at 200 connections, and how much
a few huge requests delay typical ones.

1. `wrk -c200` for `--seconds` against a typical order-select, in `--dev` mode and authenticated
   (a fresh ES384 client JWT per request: tokens are minted beforehand and handed out by the wrk
   script, so none is replayed): p50, p99, requests/s and non-2xx (503 answers from load shedding).
2. Interference: `--heavy-clients` threads post ~4.8 MB requests back to back while one client
   posts typical requests one after the other; the typical requests' latency with and without
   the heavy traffic.

Everything runs on loopback; the run is bounded (a few wrk runs of `--seconds` each). Results go
to bench/results/overload-<time>.json. The machine is shared (2 cores, other engineers' jobs):
absolute figures move between runs, compare runs made the same day.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import generate  # noqa: E402
from run import server  # noqa: E402
from wrk import run_wrk  # noqa: E402

SERVICE = "/cds-services/muscle-spasm-order-select"
PUBLIC_BASE = "https://cds.example.org"  # the audience tests.support.auth mints for


def wrk_run(url: str, body: Path, connections: int, seconds: int, tokens: Path | None = None) -> dict[str, Any]:
    """wrk with one body; with `tokens`, each request takes the next unused token of its thread."""
    script = body.with_suffix(f".c{connections}{'.auth' if tokens else ''}.lua")
    lua = [
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        f'local f = io.open("{body}", "rb"); wrk.body = f:read("*a"); f:close()',
    ]
    if tokens is not None:
        lua += [
            "local threads = {}",
            "function setup(thread) thread:set('tid', #threads); table.insert(threads, thread) end",
            "function init(args)",
            f'  toks = {{}}; for line in io.lines("{tokens}") do toks[#toks + 1] = line end',
            "  n = 0",
            "end",
            "function request()",
            "  n = n + 1",
            "  local i = ((n - 1) * 2 + tid) % #toks + 1",
            '  return wrk.format(nil, nil, {["Content-Type"] = "application/json",'
            ' ["Authorization"] = "Bearer " .. toks[i]}, nil)',
            "end",
        ]
    script.write_text("\n".join(lua) + "\n")
    found = run_wrk(script, url, connections=connections, seconds=seconds, timeout="30s")
    return {
        "connections": connections,
        "seconds": seconds,
        **{k: found[k] for k in ("requests", "rps", "p50_ms", "p90_ms", "p99_ms", "non_2xx", "socket_timeouts")},
    }


def interference(base: str, typical: bytes, heavy: bytes, heavy_clients: int, seconds: float) -> dict[str, Any]:
    """Typical-request latency alone, then while `heavy_clients` post huge requests back to back."""

    def typical_latencies(duration: float) -> list[float]:
        times: list[float] = []
        stop = time.monotonic() + duration
        with httpx.Client(timeout=60) as client:
            while time.monotonic() < stop:
                started = time.perf_counter()
                response = client.post(base + SERVICE, content=typical, headers={"Content-Type": "application/json"})
                times.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    times[-1] = -times[-1]  # marked: refused
        return times

    alone = typical_latencies(min(3.0, seconds))
    stop = threading.Event()
    heavy_done: list[float] = []
    heavy_status: dict[int, int] = {}

    def heavy_loop() -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                started = time.perf_counter()
                response = client.post(base + SERVICE, content=heavy, headers={"Content-Type": "application/json"})
                heavy_done.append((time.perf_counter() - started) * 1000)
                heavy_status[response.status_code] = heavy_status.get(response.status_code, 0) + 1

    workers = [threading.Thread(target=heavy_loop, daemon=True) for _ in range(heavy_clients)]
    for worker in workers:
        worker.start()
    time.sleep(0.5)
    loaded = typical_latencies(seconds)
    stop.set()
    for worker in workers:
        worker.join(120)

    def summary(values: list[float]) -> dict[str, float]:
        ok = sorted(abs(v) for v in values if v >= 0)
        if not ok:
            return {"n": 0}
        return {
            "n": len(ok),
            "refused": sum(1 for v in values if v < 0),
            "median_ms": round(statistics.median(ok), 1),
            "p99_ms": round(ok[min(len(ok) - 1, int(0.99 * len(ok)))], 1),
            "max_ms": round(ok[-1], 1),
        }

    alone_s, loaded_s = summary(alone), summary(loaded)
    return {
        "heavy_bytes": len(heavy),
        "heavy_clients": heavy_clients,
        "typical_alone": alone_s,
        "typical_during_heavy": loaded_s,
        "added_median_ms": round(loaded_s.get("median_ms", 0) - alone_s.get("median_ms", 0), 1),
        "added_p99_ms": round(loaded_s.get("p99_ms", 0) - alone_s.get("p99_ms", 0), 1),
        "heavy_requests": {"n": len(heavy_done), "statuses": heavy_status,
                           "median_ms": round(statistics.median(heavy_done), 1) if heavy_done else None},
    }  # fmt: skip


def mint_tokens(directory: Path, count: int) -> tuple[Path, Path]:
    """A clients file trusting a fresh key, and `count` distinct tokens for the order-select URL."""
    from tests.support.auth import app_clients_file, app_token

    clients = app_clients_file(directory, ["https://fhir.bench.invalid/r4"])
    tokens = directory / "tokens.txt"
    tokens.write_text("\n".join(app_token(SERVICE, lifetime=3000) for _ in range(count)) + "\n")
    return clients, tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--heavy-clients", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=15000, help="tokens minted for the authenticated run")
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. before/after)")
    parser.add_argument("--env", action="append", default=[], help="extra CDS_*=value for the service")
    parser.add_argument("--quick", action="store_true", help="only the --dev wrk run (for tuning; not saved)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="cds-overload-"))
    typical = work / "typical.json"
    typical.write_text(json.dumps(generate.build("typical")))
    heavy_bytes = json.dumps(generate.build("huge")).encode()  # a whole record in one body, ~4.6 MB
    extra = dict(item.split("=", 1) for item in args.env)
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": args.label,
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, SHARED with other engineers' jobs; wrk on the "
        "same cores: compare only runs made close together",
        "env": extra,
    }
    dev_env = {"CDS_DEV": "true", "CDS_LOG_LEVEL": "WARNING", **extra}
    with server("cds_service.app:create_app", env=dev_env, factory=True) as (base, _proc, _ready_s):
        results["dev"] = wrk_run(base + SERVICE, typical, args.connections, args.seconds)
        if args.quick:
            print(json.dumps(results["dev"]))
            return 0
        results["interference_dev"] = interference(
            base, typical.read_bytes(), heavy_bytes, args.heavy_clients, float(args.seconds)
        )
    clients, tokens = mint_tokens(work, args.tokens)
    auth_env = {
        "CDS_CLIENTS_FILE": str(clients),
        "CDS_PUBLIC_BASE_URL": PUBLIC_BASE,
        "CDS_DEV": "false",
        "CDS_LOG_LEVEL": "ERROR",
        "CDS_PATIENT_HASH_SECRET": "bench-secret-0123456789abcdef",
        **extra,
    }
    with server("cds_service.app:create_app", env=auth_env, factory=True) as (base, _proc, _ready_s):
        results["authenticated"] = wrk_run(base + SERVICE, typical, args.connections, args.seconds, tokens)
    out = ROOT / "bench" / "results" / f"overload-{datetime.now(UTC).strftime('%Y-%m-%dT%H%M%S%z')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
