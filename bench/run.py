"""Benchmark: our service against a bare FastAPI endpoint, measured side by side in one run (issue 13).

Bodies come from bench/generate.py: the prefetch an EHR following our discovery templates sends for
a patient's full record (typical: order-select with a cyclobenzaprine draft, 40 orders, 20
conditions, newest 10 K + 10 Mg: 81 resources, ~59 KB; heavy: 100 + 10 + 10 + 100 + 1 resources
from a record of 500 orders, 5,000 labs, 200 conditions). Both servers run under uvicorn on loopback
and get the same bodies:

* warm: one patient repeated, wrk at 1 and 16 connections, 1 worker;
* cold: `--patients N` distinct patients (default 2,000) cycled by wrk at 16 connections, 1 worker;
* ours with every rule switched off (a site `[rules]` table) on the same distinct patients, 1 worker:
  what reading the record costs with no rule to run, beside the peer's no-op;
* 2 workers (`--workers`) on the same distinct patients, and ours 2-worker/1-worker;
* heavy patient, single requests: cold (each a heavy patient not seen before) and warm (one repeated);
* first call after start: the service started `--starts` times, each waited for until
  /health/ready answers 200, the first hook call (over a connection opened by a discovery request)
  timed against the median of patients not seen before and the warm median of the same body;
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
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import inprocess, peer, phases  # noqa: E402
from bench.generate import bodies, describe  # noqa: E402
from bench.phases import _post, worker_rss_mb  # noqa: E402
from bench.wrk import run_wrk  # noqa: E402

PY = sys.executable
SERVICE = "/cds-services/muscle-spasm-order-select"
JSON_HEADERS = {"Content-Type": "application/json"}
SERVICE_ENV = {"CDS_DEV": "true", "CDS_LOG_LEVEL": "WARNING"}  # each start gets a fresh SQLite file

# The targets.
from bench.report import TARGETS, report, targets  # noqa: E402, F401  (re-exported for tests)


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
    python: str = PY,
) -> Any:
    """uvicorn serving `app`; yields (base URL, process, seconds from spawn to ready). Ready: a GET of
    `ready_path` answers 200 (ours: /health/ready, 200 only once warmed up)."""
    port = free_port()
    env = dict(env or {})
    if "CDS_DEV" in env:  # our service: a fresh audit database per start, so runs do not inherit each other's rows
        env.setdefault("CDS_DATABASE_URL", f"sqlite:///{tempfile.mkdtemp(prefix='cds-bench-db-')}/audit.db")
    cmd = [
        python,
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


def wrk_script(files: list[Path] | list[tuple[str, Path]], work: Path) -> Path:
    """A Lua script POSTing the bodies in turn, each to the URL's path or to its own (path, file): each wrk
    thread formats every request once (in `init`, outside the timed run) and cycles through them from
    its own offset."""
    items = [item if isinstance(item, tuple) else ("", item) for item in files]
    manifest = work / f"bodies-{len(items)}-{abs(hash(tuple(items))) % 10**8}.txt"
    manifest.write_text("".join(f"{path}\t{f}\n" for path, f in items))
    script = manifest.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        "local threads = 0\n"
        "function setup(thread) thread:set('tid', threads); threads = threads + 1 end\n"
        "function init(args)\n"
        "  reqs = {}\n"
        f'  for line in io.lines("{manifest}") do\n'
        '    local path, file = line:match("^([^\t]*)\t(.*)$")\n'
        '    if path == "" then path = nil end\n'
        '    local f = io.open(file, "rb"); reqs[#reqs + 1] = wrk.format(nil, path, nil, f:read("*a")); f:close()\n'
        "  end\n"
        "  i = ((tid or 0) * math.floor(#reqs / 2)) % #reqs\n"
        "end\n"
        "function request() i = i % #reqs + 1; return reqs[i] end\n"
    )
    return script


def wrk(
    url: str,
    files: Path | list[Path] | list[tuple[str, Path]],
    connections: int,
    seconds: int,
    work: Path,
    proc: subprocess.Popen[bytes] | None = None,
) -> dict[str, Any]:
    """wrk POSTing one body, or cycling through `files` (distinct patients; (path, file) for encounters).
    With the server's `proc`, also the server's CPU per answered call (its process tree, from /proc)."""
    files = files if isinstance(files, list) else [files]
    script = wrk_script(files, work)
    cpu_before = phases.tree_cpu_seconds(proc.pid) if proc is not None else 0.0
    found = run_wrk(script, url, connections=connections, seconds=seconds, threads=min(connections, 2))
    if proc is not None and found["requests"]:
        cpu = phases.tree_cpu_seconds(proc.pid) - cpu_before
        found["server_cpu_ms_per_call"] = round(cpu * 1000 / found["requests"], 3)
    return {
        **{k: v for k, v in found.items() if k != "socket_timeouts"},
        "patients": len(files),
        "cycles": round(found["requests"] / len(files), 2),  # > 1: patients came round again
        "connections": connections,
        "seconds": seconds,
    }


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
    parser.add_argument("--no-peer", action="store_true", help="skip HealthChain (bench/peer.py)")
    parser.add_argument("--openloop", type=float, default=None, help="seconds of the open-loop run (default 300)")
    parser.add_argument("--rate", type=float, default=100.0, help="calls/s of the open-loop run")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args()
    patients = args.patients or (200 if args.quick else 2000)
    seconds = args.seconds or (3 if args.quick else 8)
    heavy_n = args.heavy or (5 if args.quick else 20)
    starts = args.starts or (2 if args.quick else 5)
    openloop_s = args.openloop if args.openloop is not None else (15 if args.quick else 300)
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
        ours["distinct_c16"] = wrk(url, distinct, 16, seconds, work, proc=proc)
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
            results["soak"] = phases.soak(wrk, url, proc, distinct, args.soak, work)
            results["audit_after_soak"] = httpx.get(base + "/health", timeout=10).json().get("audit")
        results["rss_end_mb"] = worker_rss_mb(proc)

    step("bare, 1 worker")
    bare_env = {"BENCH_RESPONSE_FILE": str(work / "response.json")}
    with server("bench.bare_app:app", env=bare_env) as (base, proc, _):
        bare = results["bare_1w"] = {}
        bare["repeated_c1"] = wrk(base + SERVICE, typical, 1, seconds, work)
        bare["repeated_c16"] = wrk(base + SERVICE, typical, 16, seconds, work)
        bare["distinct_c16"] = wrk(base + SERVICE, distinct, 16, seconds, work, proc=proc)

    if args.no_peer:
        results["peer"] = {"status": "skipped (--no-peer)"}
    else:
        step(f"peer: HealthChain {peer.HEALTHCHAIN_VERSION}, no-op and validating handlers, 1 worker")
        results["peer"] = phases.peer_phase(server, wrk, distinct, seconds, work)

    step("ours with every rule switched off, 1 worker")
    results["ours_no_rules"] = phases.no_rules_phase(server, wrk, distinct, seconds, work, ours_ready)

    step(f"encounter traffic: {patients} patients x 5 calls, ours and bare, 1 worker")
    results["encounter"] = phases.encounter_phase(server, wrk, patients, seconds, work, ours_ready, {"env": bare_env})

    step(f"{args.workers} workers, ours and bare")
    w = args.workers
    with server("cds_service.app:create_app", workers=w, **ours_ready) as (base, proc, _):  # type: ignore[arg-type]
        results[f"ours_{w}w"] = {"distinct_c16": wrk(base + SERVICE, distinct, 16, seconds, work, proc=proc)}
    with server("bench.bare_app:app", workers=w, env=bare_env) as (base, proc, _):
        results[f"bare_{w}w"] = {"distinct_c16": wrk(base + SERVICE, distinct, 16, seconds, work, proc=proc)}

    step(f"first call after start, {starts} starts")
    results["first_call_after_start"] = phases.first_calls(server, typical.read_bytes(), starts, 20, distinct[-10:])

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

    if openloop_s > 0:
        step(f"open loop: {args.rate:g} calls/s for {openloop_s:g} s over {patients} patients, ours, 1 worker")
        results["open_loop"] = phases.open_loop_phase(server, distinct, args.rate, openloop_s, ours_ready)

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


if __name__ == "__main__":
    sys.exit(main())
