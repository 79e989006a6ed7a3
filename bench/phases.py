"""Issue 22's phases of bench/run.py: the peer (HealthChain, pinned, in its own venv), encounter-shaped
traffic, and the open-loop latency run. `server` and `wrk` are bench/run.py's (passed in, so this module
does not import it back)."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench import peer
from bench.encounter import encounter_items
from bench.openloop import open_loop

SERVICE = "/cds-services/muscle-spasm-order-select"
SERVICE_ENV = {"CDS_DEV": "true", "CDS_LOG_LEVEL": "WARNING"}  # as bench/run.py's
JSON_HEADERS = {"Content-Type": "application/json"}


def peer_phase(
    server: Callable[..., Any], wrk: Callable[..., dict[str, Any]], distinct: list[Path], seconds: int, work: Path
) -> dict[str, Any]:
    """HealthChain's no-op and validating handlers on the distinct patients, 16 connections, 1 worker."""
    python, status = peer.peer_python()
    result: dict[str, Any] = {"status": status, "version": peer.HEALTHCHAIN_VERSION}
    if python is None:
        print(f"peer skipped: {status}", flush=True)
        return result
    for mode in peer.MODES:
        with server(peer.PEER_APP, env={"BENCH_PEER_MODE": mode}, python=str(python)) as (base, proc, _):
            probe = httpx.post(base + SERVICE, content=distinct[0].read_bytes(),
                               headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
            if probe.status_code != 200:
                result["status"] += f"; {mode} answered {probe.status_code}: {probe.text[:200]}"
                continue
            result[mode] = wrk(base + SERVICE, distinct, 16, seconds, work, proc=proc)
    return result


def no_rules_config(work: Path) -> Path:
    """A site configuration switching every rule off (`[rules]`, one table per topic)."""
    from cds_service.cards import RULES_BY_TOPIC

    path = work / "every-rule-off.toml"
    path.write_text("[rules]\n" + "".join(f'"{topic}" = {{ enabled = false }}\n' for topic in sorted(RULES_BY_TOPIC)))
    return path


def no_rules_phase(
    server: Callable[..., Any],
    wrk: Callable[..., dict[str, Any]],
    distinct: list[Path],
    seconds: int,
    work: Path,
    ours: dict[str, Any],
) -> dict[str, Any]:
    """Ours with every rule switched off on the distinct patients, 16 connections, 1 worker: what
    reading the record costs (parse, prefetch checks, facts, audit, the edge) with no rule to run."""
    env = {**ours["env"], "CDS_CONFIG_FILE": str(no_rules_config(work))}
    with server("cds_service.app:create_app", **{**ours, "env": env}) as (base, proc, _):
        probe = httpx.post(base + SERVICE, content=distinct[0].read_bytes(), headers=JSON_HEADERS, timeout=30)
        probe.raise_for_status()
        if probe.json().get("cards"):
            raise RuntimeError("with every rule switched off the service still answered cards")
        return wrk(base + SERVICE, distinct, 16, seconds, work, proc=proc)


def encounter_phase(
    server: Callable[..., Any],
    wrk: Callable[..., dict[str, Any]],
    patients: int,
    seconds: int,
    work: Path,
    ours: dict[str, Any],
    bare: dict[str, Any],
) -> dict[str, Any]:
    """Each patient's chart opening, 3 selects and the sign (bench/encounter.py), ours and bare, a fresh
    process each (ours starts with nothing remembered)."""
    items = encounter_items(patients)
    result: dict[str, Any] = {"patients": patients, "calls_per_patient": 5}
    with server("cds_service.app:create_app", **ours) as (base, proc, _):
        result["ours"] = wrk(base, items, 16, seconds, work, proc=proc)
    with server("bench.bare_app:app", **bare) as (base, proc, _):
        result["bare"] = wrk(base, items, 16, seconds, work, proc=proc)
    return result


def open_loop_phase(
    server: Callable[..., Any], distinct: list[Path], rate: float, seconds: float, ours: dict[str, Any]
) -> dict[str, Any]:
    """Ours, 1 worker, a fresh process: `rate` calls/s for `seconds` over the distinct patients, latency
    from each call's scheduled time; then the audit counters once the writer has caught up."""
    items = [(SERVICE, f.read_bytes()) for f in distinct]
    with server("cds_service.app:create_app", **ours) as (base, _, _):
        before = httpx.get(base + "/health", timeout=10).json().get("audit") or {}
        result = open_loop(base, items, rate, seconds)
        audit = before
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the writer confirms what it wrote within a batch or two
            audit = httpx.get(base + "/health", timeout=10).json().get("audit") or {}
            if audit.get("pending", 0) == 0:
                break
            time.sleep(0.5)
    accounted = (audit.get("written", 0) - before.get("written", 0)) + audit.get("spooled", 0)
    result.update(
        patients=len(distinct),
        audit=audit,
        # rows the service counted lost, or answered calls without a row (written or spooled)
        audit_rows_lost=int(audit.get("lost", 0)) + max(0, result["ok"] - accounted),
    )
    return result


def first_calls(
    server: Callable[..., Any], body: bytes, starts: int, warm_n: int, cold: list[Path] | None = None
) -> dict[str, Any]:
    """Start the service `starts` times; each time, once /health/ready says 200, time the first hook
    call, then the median of `cold` patients not seen before (issue 22's reference) and the warm
    median of the same body, in the same process.

    The client first reads discovery on the connection the calls then use, as a CDS client does
    before calling, so that the first call is timed like the cold calls it is compared with: over
    an open connection. Opening it (TCP, httpx's first request) cost 1.5-2 ms at the client
    (measured on a warm service: a new client's first call 6.5 ms, its second 4.5 ms), which the
    ratio counted against the service's start; `discovery_ms` reports that first exchange."""
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
            discovery_started = time.perf_counter()
            client.get(base + "/cds-services").raise_for_status()
            discovery_ms = (time.perf_counter() - discovery_started) * 1000
            first = _post(client, base + SERVICE, body)
            cold_ms = (
                statistics.median(_post(client, base + SERVICE, f.read_bytes()) for f in cold or []) if cold else None
            )
            warm = statistics.median(_post(client, base + SERVICE, body) for _ in range(warm_n))
            runs.append(
                {
                    "ready_s": round(ready_s, 2),
                    "discovery_ms": round(discovery_ms, 2),
                    "first_ms": round(first, 2),
                    "cold_median_ms": None if cold_ms is None else round(cold_ms, 2),
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
        **_cold_ratio(runs),
    }


def _cold_ratio(runs: list[dict[str, Any]]) -> dict[str, Any]:
    colds = [r["cold_median_ms"] for r in runs if r.get("cold_median_ms")]
    if not colds:
        return {}
    cold = statistics.median(colds)
    return {
        "median_cold_ms": round(cold, 2),
        "median_ratio_cold": round(statistics.median(r["first_ms"] for r in runs) / cold, 2),
    }


def soak(
    wrk: Callable[..., dict[str, Any]],
    url: str,
    proc: subprocess.Popen[bytes],
    files: list[Path],
    seconds: int,
    work: Path,
) -> dict[str, Any]:
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


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of process `pid` and all its descendants alive now: the server's
    workers and the audit writer processes. Counted by the kernel, so it holds on a busy machine
    where wall-clock rates do not; read before and after a run, the difference over the calls
    answered is what one call cost the server, whatever the client did."""
    tick = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
    return total


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


def _post(client: httpx.Client, url: str, body: bytes) -> float:
    started = time.perf_counter()
    response = client.post(url, content=body, headers=JSON_HEADERS)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed
