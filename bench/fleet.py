"""Several instances behind HAProxy (issue 15, item 4): throughput and p99 with 1, 2 and 3 instances,
and hook calls per second per core on distinct patients (for the sizing guide in docs/operations.md).

Each instance is `cds-service serve` with one worker, authenticated (a fresh ES384 client JWT per
request, the Redis replay store), sharing one PostgreSQL schema (created on the shared test server
and dropped afterwards) and a redis-server of the run's own, behind HAProxy on loopback configured
as tests/support/fleet.py (health checks on /health/ready, L7 retries). wrk drives typical
order-select requests of 64 distinct patients at 16 connections for `--seconds` per instance count.
Then, for the per-core figure, one instance in --dev mode is driven directly (no balancer, no JWT)
and its resident memory is read after the run.

The machine has 2 cores shared by everything here (instances, HAProxy, PostgreSQL, Redis, wrk) and
by other engineers' jobs: more instances than cores cannot scale, and absolute figures move between
runs. The point of 2 and 3 instances is correctness under a balancer, measured, not speed-up.
Results: bench/results/fleet-<time>.json. Loopback only; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import build  # noqa: E402
from bench.run import worker_rss_mb  # noqa: E402
from bench.wrk import run_wrk  # noqa: E402
from tests.support.auth import app_token  # noqa: E402
from tests.support.fleet import fleet  # noqa: E402
from tests.support.processes import clean_env, running  # noqa: E402

SERVICE = "/cds-services/muscle-spasm-order-select"


def wrk_fleet(url: str, bodies: list[Path], tokens: Path | None, connections: int, seconds: int) -> dict[str, Any]:
    """wrk POSTing a random body of `bodies`; with `tokens`, each request takes an unused token."""
    script = bodies[0].parent / f"fleet-{'auth' if tokens else 'dev'}.lua"
    loads = "".join(
        f'do local f = io.open("{b}", "rb"); bodies[#bodies + 1] = f:read("*a"); f:close() end\n' for b in bodies
    )
    lua = ['wrk.method = "POST"', "bodies = {}", loads]
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
            ' ["Authorization"] = "Bearer " .. toks[i]}, bodies[math.random(#bodies)])',
            "end",
        ]
    else:
        lua += [
            "function request()",
            '  return wrk.format(nil, nil, {["Content-Type"] = "application/json"}, bodies[math.random(#bodies)])',
            "end",
        ]
    script.write_text("\n".join(lua) + "\n")
    found = run_wrk(script, url, connections=connections, seconds=seconds)
    return {k: v for k, v in found.items() if k != "socket_timeouts"}


def counts(fleet_: Any) -> dict[str, dict[str, float]]:
    """Per instance: calls answered 200, shed (503 at once), refused JWTs."""
    from tests.support.metrics import value

    found = {}
    for name in fleet_.instances:
        text = fleet_.metrics(name)
        found[name] = {
            "ok": value(text, "cds_hook_calls_total", status="200"),
            "shed": value(text, "cds_load_shed_total"),
            "jwt_rejected": value(text, "cds_jwt_rejections_total"),
        }
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--instances", default="1,2,3", help="instance counts to measure")
    parser.add_argument("--tokens", type=int, default=12000, help="client JWTs minted per instance count")
    args = parser.parse_args()
    for tool in ("wrk", "haproxy", "redis-server"):
        if not shutil.which(tool):
            print(f"{tool} is not installed: apt-get install -y {tool}", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="cds-bench-fleet-"))
    bodies = []
    for seed in range(64):  # distinct patients: nothing one request taught the memos helps the next
        path = work / f"typical-{seed}.json"
        path.write_text(json.dumps(build("typical", seed=2000 + seed)))
        bodies.append(path)
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "note": "2 cores shared by the instances, HAProxy, PostgreSQL, Redis, wrk and other engineers' jobs",
            "load_average_at_start": os.getloadavg(),
        },
        "request_bytes": bodies[0].stat().st_size,
        "connections": args.connections,
        "seconds": args.seconds,
        "fleet": {},
    }
    for count in [int(n) for n in args.instances.split(",")]:
        tokens = work / f"tokens-{count}.txt"
        tokens.write_text("\n".join(app_token(SERVICE, lifetime=3000) for _ in range(args.tokens)) + "\n")
        run_dir = work / f"fleet-{count}"
        run_dir.mkdir()
        with fleet(run_dir, count, CDS_MAX_QUEUE_DELAY_MS="250") as running_fleet:  # the default
            before = counts(running_fleet)
            measured = wrk_fleet(running_fleet.balancer + SERVICE, bodies, tokens, args.connections, args.seconds)
            after = counts(running_fleet)
            measured["per_instance"] = {
                name: {k: after[name][k] - before[name][k] for k in after[name]} for name in after
            }
            measured["ok_rps"] = round(sum(v["ok"] for v in measured["per_instance"].values()) / args.seconds, 1)
            measured["rss_mb_per_instance"] = {
                name: worker_rss_mb(served.proc) for name, served in running_fleet.instances.items()
            }
        results["fleet"][str(count)] = measured
        print(
            f"{count} instance(s): {measured['ok_rps']:.0f} calls/s answered 200 ({measured['rps']:.0f} in all), "
            f"p50 {measured['p50_ms']:.1f} ms, p99 {measured['p99_ms']:.1f} ms, non-2xx {measured['non_2xx']}, "
            f"per instance {measured['per_instance']}"
        )
        time.sleep(1)

    # Per core: one instance, one worker, --dev (no JWT), driven directly.
    env = clean_env(
        CDS_DATABASE_URL=f"sqlite:///{work}/direct.db",
        CDS_AUDIT_SPOOL_DIR=str(work / "spool-direct"),
        CDS_LOG_LEVEL="WARNING",
    )
    with running(env, work / "direct.log", "--dev") as served:
        httpx.post(served.base + SERVICE, content=bodies[0].read_bytes(), headers={"Content-Type": "application/json"})
        direct = wrk_fleet(served.base + SERVICE, bodies, None, args.connections, args.seconds)
        direct["rss_mb_after"] = worker_rss_mb(served.proc)
    results["one_worker_direct_dev"] = direct
    results["machine"]["load_average_at_end"] = os.getloadavg()
    print(f"one worker, direct, --dev: {direct['rps']:.0f} calls/s, p99 {direct['p99_ms']:.1f} ms, "
          f"RSS {direct['rss_mb_after']} MB")  # fmt: skip
    out = ROOT / "bench" / "results" / f"fleet-{results['when'].replace(':', '')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
