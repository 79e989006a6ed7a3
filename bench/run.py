"""Benchmark: our service against a bare FastAPI endpoint, measured side by side in one run.

Starts the service and the bare endpoint under uvicorn on loopback, drives both with `wrk`
(POST with a Lua body) at 1 and 16 connections, then measures single-request latency for a heavy
patient, the no-prefetch path against a local FHIR server with a fixed delay, throughput with
more workers, and worker RSS at the start and end of the run. Prints a table with ratios
ours/bare and writes JSON to bench/results/. Loopback only; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import build  # noqa: E402

PY = sys.executable
SERVICE = "/cds-services/muscle-spasm-order-select"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(app: str, *, workers: int = 1, env: dict[str, str] | None = None, factory: bool = False) -> Any:
    port = free_port()
    env = dict(env or {})
    if "CDS_DEV" in env:  # our service: a fresh audit database per start, so runs do not inherit each other's rows
        env.setdefault("CDS_DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='cds-bench-db-')}/audit.db")
    cmd = [
        PY,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if factory:
        cmd.append("--factory")
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/docs", timeout=0.5)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError(f"{app} did not start")
    try:
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def worker_rss_mb(proc: subprocess.Popen[bytes]) -> float:
    """RSS of the server and its worker children, in MB."""
    pids = [proc.pid]
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for pid in pids:
        status = Path(f"/proc/{pid}/status")
        if status.exists():
            match = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
            total += int(match.group(1)) if match else 0
    return round(total / 1024, 1)


def wrk(url: str, body_file: Path | list[Path], connections: int, seconds: int) -> dict[str, float]:
    """POST one body, or (a list) a body picked at random per request: distinct patients."""
    files = body_file if isinstance(body_file, list) else [body_file]
    script = files[0].with_suffix(".many.lua" if len(files) > 1 else ".lua")
    loads = "".join(
        f'do local f = io.open("{f}", "rb"); bodies[#bodies + 1] = f:read("*a"); f:close() end\n' for f in files
    )
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"bodies = {{}}\n{loads}"
        "request = function() return wrk.format(nil, nil, nil, bodies[math.random(#bodies)]) end\n"
    )
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latencies = {p: _ms(v) for p, v in re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": latencies.get("50", 0.0),
        "p99_ms": latencies.get("99", 0.0),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def single_latencies(url: str, body: bytes, n: int) -> dict[str, float]:
    times = []
    with httpx.Client(timeout=30) as client:
        client.post(url, content=body, headers={"Content-Type": "application/json"})  # warm-up
        for _ in range(n):
            started = time.perf_counter()
            response = client.post(url, content=body, headers={"Content-Type": "application/json"})
            times.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2), "n": n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8, help="duration of each wrk run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="workers for the scaling run")
    parser.add_argument("--soak", type=int, default=0, help="seconds of an extra soak run for the RSS check (e.g. 300)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="cds-bench-"))
    typical = tmp / "typical.json"
    heavy = tmp / "heavy.json"
    typical.write_text(json.dumps(build("typical")))
    distinct = []
    for seed in range(64):  # different patients: nothing learnt from one request helps the next
        path = tmp / f"typical-{seed}.json"
        path.write_text(json.dumps(build("typical", seed=1000 + seed)))
        distinct.append(path)
    heavy.write_text(json.dumps(build("heavy")))
    service_env = {"CDS_DEV": "true", "CDS_LOG_LEVEL": "WARNING"}  # each start gets a fresh SQLite file
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "sizes": {"typical_bytes": typical.stat().st_size, "heavy_bytes": heavy.stat().st_size},
    }

    with server("cds_service.app:create_app", env=service_env, factory=True) as (base, proc):
        url = base + SERVICE
        sample = httpx.post(url, content=typical.read_bytes(), headers={"Content-Type": "application/json"}, timeout=30)
        sample.raise_for_status()
        (tmp / "response.json").write_bytes(sample.content)
        results["cards_in_typical_response"] = len(sample.json()["cards"])
        results["rss_start_mb"] = worker_rss_mb(proc)
        results["ours_1w"] = {f"c{c}": wrk(url, typical, c, args.seconds) for c in (1, 16)}
        results["ours_1w"]["c16_distinct"] = wrk(url, distinct, 16, args.seconds)
        results["heavy_single"] = single_latencies(url, heavy.read_bytes(), 20)
        if args.soak:
            results["rss_before_soak_mb"] = worker_rss_mb(proc)
            samples: list[float] = []
            with ThreadPoolExecutor(1) as pool:
                running = pool.submit(wrk, url, distinct, 16, args.soak)
                while not running.done():
                    samples.append(worker_rss_mb(proc))
                    time.sleep(min(30, max(1, args.soak / 20)))
                results["soak"] = {"seconds": args.soak, **running.result(), "rss_samples_mb": samples}
            results["audit_after_soak"] = httpx.get(base + "/health", timeout=10).json().get("audit")
        results["rss_end_mb"] = worker_rss_mb(proc)

    with server("bench.bare_app:app", env={"BENCH_RESPONSE_FILE": str(tmp / "response.json")}) as (base, _):
        results["bare_1w"] = {f"c{c}": wrk(base + SERVICE, typical, c, args.seconds) for c in (1, 16)}
        results["bare_1w"]["c16_distinct"] = wrk(base + SERVICE, distinct, 16, args.seconds)

    with server("cds_service.app:create_app", workers=args.workers, env=service_env, factory=True) as (base, _):
        results[f"ours_{args.workers}w"] = {"c16": wrk(base + SERVICE, typical, 16, args.seconds)}
    with server(
        "bench.bare_app:app", workers=args.workers, env={"BENCH_RESPONSE_FILE": str(tmp / "response.json")}
    ) as (base, _):
        results[f"bare_{args.workers}w"] = {"c16": wrk(base + SERVICE, typical, 16, args.seconds)}

    delay_ms = 50
    fhir_env = {"BENCH_FHIR_DELAY_MS": str(delay_ms), "BENCH_FHIR_DATA": str(typical)}
    with (
        server("bench.slow_fhir:app", env=fhir_env) as (fhir_base, _),
        server("cds_service.app:create_app", env=service_env, factory=True) as (base, _),
    ):
        request = json.loads(typical.read_text())
        with_prefetch = single_latencies(base + SERVICE, json.dumps(request).encode(), 20)
        request.pop("prefetch")
        request["fhirServer"] = fhir_base + "/fhir"
        no_prefetch = single_latencies(base + SERVICE, json.dumps(request).encode(), 20)
        results["no_prefetch"] = {
            "fhir_delay_ms": delay_ms,
            "with_prefetch": with_prefetch,
            "fetched": no_prefetch,
            "extra_ms": round(no_prefetch["median_ms"] - with_prefetch["median_ms"], 2),
        }

    report(results, args.workers)
    out = ROOT / "bench" / "results" / f"{results['when'].replace(':', '')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nresults written to {out.relative_to(ROOT)}")
    return 0


def report(r: dict[str, Any], workers: int) -> None:
    print(
        f"\nmachine: {r['machine']['cpus']} cpus, Python {r['machine']['python']}; typical request "
        f"{r['sizes']['typical_bytes'] // 1024} KiB, heavy {r['sizes']['heavy_bytes'] // 1024} KiB; "
        f"{r['cards_in_typical_response']} cards in the typical response"
    )
    print(
        f"{'run':<28}{'ours rps':>10}{'bare rps':>10}{'ratio':>7}{'ours p50':>10}{'ours p99':>10}"
        f"{'bare p99':>10}{'p99 ×':>7}"
    )
    rows = [
        ("1 worker, 1 conn", "ours_1w", "bare_1w", "c1"),
        ("1 worker, 16 conns", "ours_1w", "bare_1w", "c16"),
        ("1 worker, 16, 64 patients", "ours_1w", "bare_1w", "c16_distinct"),
        (f"{workers} workers, 16 conns", f"ours_{workers}w", f"bare_{workers}w", "c16"),
    ]
    for label, ours_key, bare_key, conns in rows:
        o, b = r[ours_key][conns], r[bare_key][conns]
        print(
            f"{label:<28}{o['rps']:>10.0f}{b['rps']:>10.0f}{o['rps'] / b['rps']:>7.2f}{o['p50_ms']:>10.2f}"
            f"{o['p99_ms']:>10.2f}{b['p99_ms']:>10.2f}{o['p99_ms'] / max(b['p99_ms'], 0.001):>7.2f}"
        )
    h = r["heavy_single"]
    print(f"heavy patient, one request: median {h['median_ms']} ms, max {h['max_ms']} ms (n={h['n']})")
    n = r["no_prefetch"]
    print(
        f"no prefetch, FHIR server delay {n['fhir_delay_ms']} ms: median {n['fetched']['median_ms']} ms vs "
        f"{n['with_prefetch']['median_ms']} ms with prefetch (+{n['extra_ms']} ms)"
    )
    print(
        f"scaling: {workers} workers give {r[f'ours_{workers}w']['c16']['rps'] / r['ours_1w']['c16']['rps']:.2f}× "
        f"the 1-worker throughput"
    )
    line = f"worker RSS: {r['rss_start_mb']} MB at start, {r['rss_end_mb']} MB at end"
    if "soak" in r:
        soak = r["soak"]
        line += (
            f"; {r['rss_before_soak_mb']} MB before and {r['rss_end_mb']} MB after a {soak['seconds']} s soak "
            f"over 64 patients ({soak['rps']:.0f} rps, p99 {soak['p99_ms']:.1f} ms, non-2xx {soak['non_2xx']}); "
            f"audit trail {r.get('audit_after_soak')}; RSS during the soak: {soak['rss_samples_mb']}"
        )
    print(line)


if __name__ == "__main__":
    sys.exit(main())
