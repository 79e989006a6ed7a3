"""Benchmark: our service against a bare FastAPI endpoint, measured side by side in one run (issue 13).

Bodies come from bench/generate.py: the prefetch an EHR following our discovery templates sends for
a patient's full record (typical: order-select with a cyclobenzaprine draft, 40 orders, 20
conditions, newest 10 K + 10 Mg: 81 resources, ~59 KB; heavy: 100 + 10 + 10 + 100 + 1 resources
from a record of 500 orders, 5,000 labs, 200 conditions). Both servers run under uvicorn on loopback
and get the same bodies:

* warm: one patient repeated, wrk at 1 and 16 connections, 1 worker;
* cold: `--patients N` distinct patients (default 2,000) cycled by wrk at 16 connections, 1 worker;
* 2 workers (`--workers`) on the same distinct patients, and ours 2-worker/1-worker;
* heavy patient, single requests: cold (each a heavy patient not seen before) and warm (one repeated);
* first call after start: the service started `--starts` times, each waited for until
  /health/ready answers 200, the first hook call timed against the warm median of the same body;
* no prefetch: the same body fetched from bench/slow_fhir.py answering after 50 ms;
* `--soak SECONDS`: the N patients cycled at 16 connections, worker RSS sampled (first, last, max,
  slope over the second half);
* in process (bench/inprocess.py, fresh processes): warm, cold, heavy, first call after import and
  after the app's warm-up.

Prints the figures and the issue's targets as PASS/FAIL, writes JSON to bench/results/<time>.json.
Loopback only; every run bounded in time. Timings on a shared machine are noise: compare runs made
close together, and only ours against bare within one run.
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

from bench import inprocess  # noqa: E402
from bench.generate import bodies, describe  # noqa: E402
from bench.wrk import run_wrk  # noqa: E402

PY = sys.executable
SERVICE = "/cds-services/muscle-spasm-order-select"
JSON_HEADERS = {"Content-Type": "application/json"}
SERVICE_ENV = {"CDS_DEV": "true", "CDS_LOG_LEVEL": "WARNING"}  # each start gets a fresh SQLite file

# The targets.
TARGETS = {
    "distinct_rps_ratio": 0.5,  # ours/bare rps, N distinct patients, 1 worker, 16 connections
    "distinct_p99_ratio": 2.0,  # ours/bare p99, same run
    "repeated_rps_ratio": 0.7,  # ours/bare rps, one patient repeated, 16 connections
    "heavy_cold_ms": 50.0,  # median, single requests, heavy patients not seen before
    "two_worker_scaling": 1.8,  # ours 2 workers / 1 worker, distinct patients
    "first_call_over_warm": 2.0,  # first call after start / warm median of the same body
    "soak_slope_mb_per_min": 1.0,  # RSS slope over the second half of the soak: "flat"
    "inprocess_cold_ms": 3.0,  # in process, patient not seen before (median)
    "inprocess_cold_over_warm": 4.0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(
    app: str,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    factory: bool = False,
    ready_path: str = "/docs",
) -> Any:
    """uvicorn serving `app`; yields (base URL, process, seconds from spawn to ready). Ready: a GET of
    `ready_path` answers 200 (ours: /health/ready, 200 only once warmed up)."""
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
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + ready_path, timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{app} exited with {proc.returncode}")
        time.sleep(0.02)
    else:
        proc.kill()
        raise RuntimeError(f"{app} did not start")
    try:
        yield base, proc, time.perf_counter() - started
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


def wrk_script(files: list[Path], work: Path) -> Path:
    """A Lua script POSTing the bodies in turn: each wrk thread formats every request once (in `init`,
    outside the timed run) and cycles through them from its own offset."""
    manifest = work / f"bodies-{len(files)}-{abs(hash(tuple(files))) % 10**8}.txt"
    manifest.write_text("".join(f"{f}\n" for f in files))
    script = manifest.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        "local threads = 0\n"
        "function setup(thread) thread:set('tid', threads); threads = threads + 1 end\n"
        "function init(args)\n"
        "  reqs = {}\n"
        f'  for path in io.lines("{manifest}") do\n'
        '    local f = io.open(path, "rb"); reqs[#reqs + 1] = wrk.format(nil, nil, nil, f:read("*a")); f:close()\n'
        "  end\n"
        "  i = ((tid or 0) * math.floor(#reqs / 2)) % #reqs\n"
        "end\n"
        "function request() i = i % #reqs + 1; return reqs[i] end\n"
    )
    return script


def wrk(url: str, files: Path | list[Path], connections: int, seconds: int, work: Path) -> dict[str, Any]:
    """wrk POSTing one body, or cycling through `files` (distinct patients)."""
    files = files if isinstance(files, list) else [files]
    script = wrk_script(files, work)
    found = run_wrk(script, url, connections=connections, seconds=seconds, threads=min(connections, 2))
    return {
        **{k: v for k, v in found.items() if k != "socket_timeouts"},
        "patients": len(files),
        "cycles": round(found["requests"] / len(files), 2),  # > 1: patients came round again
        "connections": connections,
        "seconds": seconds,
    }


def _post(client: httpx.Client, url: str, body: bytes) -> float:
    started = time.perf_counter()
    response = client.post(url, content=body, headers=JSON_HEADERS)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed


def settle(url: str, body: bytes, timeout: float = 30.0) -> float:
    """After a wrk run the service drains the requests still queued, and its load shedding answers
    503 to a new call meanwhile: wait until `body` (one already seen) is answered 200. Seconds waited."""
    started = time.monotonic()
    time.sleep(0.5)
    with httpx.Client(timeout=60) as client:
        while client.post(url, content=body, headers=JSON_HEADERS).status_code != 200:
            if time.monotonic() - started > timeout:
                raise RuntimeError("the service kept answering non-200 after the load stopped")
            time.sleep(0.5)
    return round(time.monotonic() - started, 2)


def _summary(times: list[float]) -> dict[str, Any]:
    s = inprocess.summary(times)
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in s.items()}


def single_latencies(url: str, body: bytes, n: int, warm_up: int = 1) -> dict[str, Any]:
    """One body posted `n` times in a row on one connection, after `warm_up` calls."""
    with httpx.Client(timeout=60) as client:
        for _ in range(warm_up):
            _post(client, url, body)
        return _summary([_post(client, url, body) for _ in range(n)])


def cold_latencies(url: str, files: list[Path]) -> dict[str, Any]:
    """Each body posted once (patients not seen before), one at a time."""
    with httpx.Client(timeout=60) as client:
        return _summary([_post(client, url, f.read_bytes()) for f in files])


def topics_of(url: str, files: list[Path]) -> dict[str, int]:
    """Card topics over a few bodies: a data-unavailable card here would be a benchmark artefact."""
    seen: dict[str, int] = {}
    with httpx.Client(timeout=60) as client:
        for f in files:
            response = client.post(url, content=f.read_bytes(), headers=JSON_HEADERS)
            response.raise_for_status()
            for card in response.json()["cards"]:
                topic = card["source"]["topic"]["code"]
                seen[topic] = seen.get(topic, 0) + 1
    return dict(sorted(seen.items()))


def first_calls(body: bytes, starts: int, warm_n: int) -> dict[str, Any]:
    """Start the service `starts` times; each time, once /health/ready says 200, time the first hook
    call, then the warm median of the same body in the same process."""
    runs = []
    for _ in range(starts):
        with (
            server("cds_service.app:create_app", env=SERVICE_ENV, factory=True, ready_path="/health/ready") as (
                base,
                _,
                ready_s,
            ),
            httpx.Client(timeout=60) as client,
        ):
            first = _post(client, base + SERVICE, body)
            warm = statistics.median(_post(client, base + SERVICE, body) for _ in range(warm_n))
            runs.append(
                {
                    "ready_s": round(ready_s, 2),
                    "first_ms": round(first, 2),
                    "warm_median_ms": round(warm, 2),
                    "ratio": round(first / warm, 2),
                }
            )
    return {
        "runs": runs,
        "median_first_ms": round(statistics.median(r["first_ms"] for r in runs), 2),
        "median_warm_ms": round(statistics.median(r["warm_median_ms"] for r in runs), 2),
        "median_ratio": round(statistics.median(r["ratio"] for r in runs), 2),
        "max_ratio": max(r["ratio"] for r in runs),
    }


def soak(url: str, proc: subprocess.Popen[bytes], files: list[Path], seconds: int, work: Path) -> dict[str, Any]:
    """The distinct patients cycled for `seconds`, worker RSS sampled about 40 times."""
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(wrk, url, files, 16, seconds, work)
        while not running.done():
            samples.append((round(time.monotonic() - started, 1), worker_rss_mb(proc)))
            time.sleep(min(15.0, max(0.5, seconds / 40)))
        result = running.result()
    rss = [mb for _, mb in samples]
    half = [(t, mb) for t, mb in samples if t >= seconds / 2] or samples
    return {
        **result,
        "rss_first_mb": rss[0],
        "rss_last_mb": rss[-1],
        "rss_max_mb": max(rss),
        "rss_slope_mb_per_min": round(slope(samples) * 60, 2),
        "rss_slope_second_half_mb_per_min": round(slope(half) * 60, 2),
        "rss_samples": samples,
    }


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (MB per second) of (seconds, MB)."""
    if len(points) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / var if var else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=None, help="distinct patients cycled by wrk (default 2000)")
    parser.add_argument("--seconds", type=int, default=None, help="duration of each wrk run (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="workers for the scaling run")
    parser.add_argument("--heavy", type=int, default=None, help="heavy patients for the cold figure (default 20)")
    parser.add_argument("--starts", type=int, default=None, help="service starts for the first call (default 5)")
    parser.add_argument("--soak", type=int, default=0, help="seconds of a soak over the distinct patients (e.g. 300)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s per wrk run, 200 patients, fewer starts")
    parser.add_argument("--no-inprocess", action="store_true", help="skip bench/inprocess.py")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args()
    patients = args.patients or (200 if args.quick else 2000)
    seconds = args.seconds or (3 if args.quick else 8)
    heavy_n = args.heavy or (5 if args.quick else 20)
    starts = args.starts or (2 if args.quick else 5)
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="cds-bench-"))
    generated = time.perf_counter()
    distinct = bodies("typical", range(patients))
    heavy = bodies("heavy", range(heavy_n + 1))  # heavy[0]: the warm one; the others each once
    typical = distinct[0]  # the repeated patient (also among the distinct ones)
    generated = time.perf_counter() - generated
    typical_request = json.loads(typical.read_text())
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(),
        },
        "service_env": SERVICE_ENV | {"CDS_DATABASE_URL": "a fresh SQLite file per start (audit trail on)"},
        "options": {
            "patients": patients,
            "seconds": seconds,
            "workers": args.workers,
            "heavy_patients": heavy_n,
            "starts": starts,
            "soak": args.soak,
            "quick": args.quick,
        },
        "bodies": {
            "typical": describe(typical_request),
            "heavy": describe(json.loads(heavy[0].read_text())),
            "typical_bytes_min_max": [min(f.stat().st_size for f in distinct), max(f.stat().st_size for f in distinct)],
            "generated_s": round(generated, 1),
        },
    }
    print(
        f"bodies ready in {generated:.1f} s: {patients} typical, {heavy_n + 1} heavy; {results['bodies']}", flush=True
    )

    def step(name: str) -> None:
        print(f"[{datetime.now().strftime('%H:%M:%S')}] {name}", flush=True)

    step("ours, 1 worker")
    ours_ready = {"env": SERVICE_ENV, "factory": True, "ready_path": "/health/ready"}
    with server("cds_service.app:create_app", **ours_ready) as (base, proc, _):  # type: ignore[arg-type]
        url = base + SERVICE
        sample = httpx.post(url, content=typical.read_bytes(), headers=JSON_HEADERS, timeout=30)
        sample.raise_for_status()
        (work / "response.json").write_bytes(sample.content)
        results["response_bytes"] = len(sample.content)
        results["cards_in_typical_response"] = len(sample.json()["cards"])
        results["topics_seen"] = {"typical": topics_of(url, distinct[:20]), "heavy": topics_of(url, heavy[:3])}
        results["rss_start_mb"] = worker_rss_mb(proc)
        ours = results["ours_1w"] = {}
        ours["repeated_c1"] = wrk(url, typical, 1, seconds, work)
        ours["repeated_c16"] = wrk(url, typical, 16, seconds, work)
        ours["distinct_c16"] = wrk(url, distinct, 16, seconds, work)
        results["rss_after_distinct_mb"] = worker_rss_mb(proc)
        step("ours, heavy single requests")
        results["settle_s"] = settle(url, typical.read_bytes())
        results["heavy_http"] = {
            "cold": cold_latencies(url, heavy[1:]),
            "warm": single_latencies(url, heavy[0].read_bytes(), heavy_n, warm_up=3),
        }
        if args.soak:
            settle(url, typical.read_bytes())
            step(f"ours, soak {args.soak} s over {patients} patients")
            results["soak"] = soak(url, proc, distinct, args.soak, work)
            results["audit_after_soak"] = httpx.get(base + "/health", timeout=10).json().get("audit")
        results["rss_end_mb"] = worker_rss_mb(proc)

    step("bare, 1 worker")
    bare_env = {"BENCH_RESPONSE_FILE": str(work / "response.json")}
    with server("bench.bare_app:app", env=bare_env) as (base, _, _):
        bare = results["bare_1w"] = {}
        bare["repeated_c1"] = wrk(base + SERVICE, typical, 1, seconds, work)
        bare["repeated_c16"] = wrk(base + SERVICE, typical, 16, seconds, work)
        bare["distinct_c16"] = wrk(base + SERVICE, distinct, 16, seconds, work)

    step(f"{args.workers} workers, ours and bare")
    w = args.workers
    with server("cds_service.app:create_app", workers=w, **ours_ready) as (base, _, _):  # type: ignore[arg-type]
        results[f"ours_{w}w"] = {"distinct_c16": wrk(base + SERVICE, distinct, 16, seconds, work)}
    with server("bench.bare_app:app", workers=w, env=bare_env) as (base, _, _):
        results[f"bare_{w}w"] = {"distinct_c16": wrk(base + SERVICE, distinct, 16, seconds, work)}

    step(f"first call after start, {starts} starts")
    results["first_call_after_start"] = first_calls(typical.read_bytes(), starts, 20)

    step("no prefetch, FHIR server answering after 50 ms")
    delay_ms = 50
    fhir_env = {"BENCH_FHIR_DELAY_MS": str(delay_ms), "BENCH_FHIR_DATA": str(typical)}
    with (
        server("bench.slow_fhir:app", env=fhir_env) as (fhir_base, _, _),
        server("cds_service.app:create_app", **ours_ready) as (base, _, _),  # type: ignore[arg-type]
    ):
        request = dict(typical_request)
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

    if not args.no_inprocess:
        step("in process (bench/inprocess.py, fresh processes)")
        results["inprocess"] = inprocess.measure(patients, heavy_n, 50 if args.quick else 200)

    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["targets"] = targets(results, w)
    report(results, w)
    if not args.no_save:
        out = ROOT / "bench" / "results" / f"{results['when'].replace(':', '')}.json"
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nresults written to {out.relative_to(ROOT)}")
    return 0


def targets(r: dict[str, Any], workers: int) -> list[dict[str, Any]]:
    """The issue's targets: name, measured value, target, PASS/FAIL (or "not run")."""
    ours, bare = r["ours_1w"], r["bare_1w"]

    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else float("inf")

    rows: list[tuple[str, float | None, str, bool | None]] = []
    d_rps = ratio(ours["distinct_c16"]["rps"], bare["distinct_c16"]["rps"])
    d_p99 = ratio(ours["distinct_c16"]["p99_ms"], bare["distinct_c16"]["p99_ms"])
    r_rps = ratio(ours["repeated_c16"]["rps"], bare["repeated_c16"]["rps"])
    heavy_cold = r["heavy_http"]["cold"]["median_ms"]
    scaling = ratio(r[f"ours_{workers}w"]["distinct_c16"]["rps"], ours["distinct_c16"]["rps"])
    first = r["first_call_after_start"]["median_ratio"]
    rows += [
        (
            "distinct patients: rps ours/bare",
            d_rps,
            f">= {TARGETS['distinct_rps_ratio']}",
            d_rps >= TARGETS["distinct_rps_ratio"],
        ),
        (
            "distinct patients: p99 ours/bare",
            d_p99,
            f"<= {TARGETS['distinct_p99_ratio']}",
            d_p99 <= TARGETS["distinct_p99_ratio"],
        ),
        (
            "one patient repeated: rps ours/bare",
            r_rps,
            f">= {TARGETS['repeated_rps_ratio']}",
            r_rps >= TARGETS["repeated_rps_ratio"],
        ),
        (
            "heavy patient cold, HTTP median ms",
            heavy_cold,
            f"<= {TARGETS['heavy_cold_ms']:g}",
            heavy_cold <= TARGETS["heavy_cold_ms"],
        ),
        (
            f"{workers} workers / 1, distinct patients",
            scaling,
            f">= {TARGETS['two_worker_scaling']}",
            scaling >= TARGETS["two_worker_scaling"],
        ),
        (
            "first call after start / warm (median)",
            first,
            f"<= {TARGETS['first_call_over_warm']:g}",
            first <= TARGETS["first_call_over_warm"],
        ),
    ]
    shed = sum(run["non_2xx"] for key in ("ours_1w", f"ours_{workers}w") for run in r[key].values())
    rows.append(("check: ours non-2xx (503 shed) in wrk runs", shed, "0 (validity)", shed == 0))
    if "soak" in r:
        s = r["soak"]["rss_slope_second_half_mb_per_min"]
        rows.append(
            (
                "soak: RSS slope, 2nd half, MB/min",
                s,
                f"<= {TARGETS['soak_slope_mb_per_min']:g}",
                s <= TARGETS["soak_slope_mb_per_min"],
            )
        )
        audit = r.get("audit_after_soak") or {}
        lost = audit.get("lost")
        if lost is not None:  # the audit writer fell behind the calls (its queue grows in RSS, then drops rows)
            rows.append(("check: audit rows lost by the end of the soak", lost, "0 (validity)", lost == 0))
    else:
        rows.append(("soak: memory flat", None, "--soak 300", None))
    if "inprocess" in r:
        cold = r["inprocess"]["cold"]["median_ms"]
        cold_warm = r["inprocess"]["ratios"]["cold_over_warm"]
        rows += [
            (
                "in process cold, median ms",
                cold,
                f"<= {TARGETS['inprocess_cold_ms']:g}",
                cold <= TARGETS["inprocess_cold_ms"],
            ),
            (
                "in process cold / warm",
                cold_warm,
                f"<= {TARGETS['inprocess_cold_over_warm']:g}",
                cold_warm <= TARGETS["inprocess_cold_over_warm"],
            ),
        ]
    return [
        {
            "target": name,
            "measured": None if value is None else round(value, 2),
            "goal": goal,
            "result": "not run" if ok is None else "PASS" if ok else "FAIL",
        }
        for name, value, goal, ok in rows
    ]


def report(r: dict[str, Any], workers: int) -> None:
    b = r["bodies"]
    print(
        f"\nmachine: {r['machine']['cpus']} cpus, Python {r['machine']['python']}, load average "
        f"{r['machine']['load_average_at_start'][0]:.1f} at start, {r['machine']['load_average_at_end'][0]:.1f} at end"
    )
    print(
        f"typical body: {b['typical']['resources']} resources, {b['typical']['bytes'] / 1000:.1f} kB "
        f"({b['typical']['medications']} orders, {b['typical']['conditions']} conditions, "
        f"{b['typical']['potassium']} K + {b['typical']['magnesium']} Mg); heavy body: {b['heavy']['resources']} "
        f"resources, {b['heavy']['bytes'] / 1000:.1f} kB; {r['cards_in_typical_response']} cards in the typical "
        f"response ({r['response_bytes']} bytes)"
    )
    print(f"card topics over 20 typical / 3 heavy patients: {r['topics_seen']}")
    print(
        f"\n{'1 worker unless said':<34}{'ours rps':>9}{'bare rps':>9}{'ratio':>7}{'ours p50':>9}{'ours p99':>9}"
        f"{'bare p50':>9}{'bare p99':>9}{'p99 ×':>7}{'cycles':>7}"
    )
    ours_w, bare_w = f"ours_{workers}w", f"bare_{workers}w"
    rows = [
        ("warm: 1 patient, 1 conn", "ours_1w", "bare_1w", "repeated_c1"),
        ("warm: 1 patient, 16 conns", "ours_1w", "bare_1w", "repeated_c16"),
        (f"cold: {r['options']['patients']} patients, 16 conns", "ours_1w", "bare_1w", "distinct_c16"),
        (f"cold, {workers} workers, 16 conns", ours_w, bare_w, "distinct_c16"),
    ]
    for label, ours_key, bare_key, run in rows:
        o, x = r[ours_key][run], r[bare_key][run]
        flag = "" if not (o["non_2xx"] or x["non_2xx"]) else f"  non-2xx ours {o['non_2xx']}, bare {x['non_2xx']}"
        print(
            f"{label:<34}{o['rps']:>9.0f}{x['rps']:>9.0f}{o['rps'] / x['rps']:>7.2f}{o['p50_ms']:>9.2f}"
            f"{o['p99_ms']:>9.2f}{x['p50_ms']:>9.2f}{x['p99_ms']:>9.2f}{o['p99_ms'] / max(x['p99_ms'], 0.001):>7.2f}"
            f"{o['cycles']:>7.2f}{flag}"
        )
    print(
        f"scaling: ours {workers} workers / 1 on distinct patients "
        f"{r[ours_w]['distinct_c16']['rps'] / r['ours_1w']['distinct_c16']['rps']:.2f}×, bare "
        f"{r[bare_w]['distinct_c16']['rps'] / r['bare_1w']['distinct_c16']['rps']:.2f}×"
    )
    h = r["heavy_http"]
    print(
        f"heavy patient, one request over HTTP: cold median {h['cold']['median_ms']} ms, p95 {h['cold']['p95_ms']} ms "
        f"(n={h['cold']['n']}); warm median {h['warm']['median_ms']} ms (n={h['warm']['n']})"
    )
    f = r["first_call_after_start"]
    print(
        f"first call after start ({len(f['runs'])} starts, each after /health/ready said 200): median "
        f"{f['median_first_ms']} ms vs warm {f['median_warm_ms']} ms: {f['median_ratio']}× (worst {f['max_ratio']}×); "
        f"start to ready {', '.join(str(x['ready_s']) for x in f['runs'])} s"
    )
    n = r["no_prefetch"]
    print(
        f"no prefetch, FHIR server delay {n['fhir_delay_ms']} ms: median {n['fetched']['median_ms']} ms vs "
        f"{n['with_prefetch']['median_ms']} ms with prefetch (+{n['extra_ms']} ms)"
    )
    line = f"worker RSS: {r['rss_start_mb']} MB at start, {r['rss_after_distinct_mb']} MB after the distinct run"
    if "soak" in r:
        s = r["soak"]
        line += (
            f"; soak {s['seconds']} s over {s['patients']} patients ({s['rps']:.0f} rps, p99 {s['p99_ms']:.1f} ms, "
            f"non-2xx {s['non_2xx']}, {s['cycles']} cycles): RSS first {s['rss_first_mb']}, last {s['rss_last_mb']}, "
            f"max {s['rss_max_mb']} MB; slope {s['rss_slope_mb_per_min']} MB/min overall, "
            f"{s['rss_slope_second_half_mb_per_min']} MB/min over the second half; audit {r.get('audit_after_soak')}"
        )
    print(line)
    if "inprocess" in r:
        print()
        inprocess.report(r["inprocess"])
    print(f"\n{'target (issue 13)':<42}{'measured':>10}  {'goal':<14}result")
    for t in r["targets"]:
        measured = "-" if t["measured"] is None else f"{t['measured']:g}"
        print(f"{t['target']:<42}{measured:>10}  {t['goal']:<14}{t['result']}")


if __name__ == "__main__":
    sys.exit(main())
