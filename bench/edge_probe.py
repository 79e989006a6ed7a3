"""Overload at the client (issue 21): a real `cds-service serve --dev`, keep-alive clients posting
typical order-select calls back to back with 5 MB bodies mixed in, and a fresh-connection prober
(connect, post, read: what an EHR that just connected sees). Answered and refused calls are timed
separately at the client, with the TCP connect time of every fresh connection (a wait in the listen
backlog shows there, a wait in the event loop after the connect does not), and the server's
`cds_load_shed_total`.

    .venv/bin/python bench/edge_probe.py --label before [--connections 200 1000] [--seconds 6]

The machine is shared (2 cores, other engineers' suites): the load average before and after each
run is stored with it; compare only runs made close together. Results: bench/results/edge-probe-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.probe import probe  # noqa: E402
from tests.support.processes import clean_env, free_port, running  # noqa: E402

SELECT = "/cds-services/muscle-spasm-order-select"


def _bodies() -> tuple[bytes, bytes]:
    sys.path.insert(0, str(ROOT / "bench"))
    import generate

    typical = json.dumps(generate.build("typical")).encode()
    large = json.dumps(generate.build("large")).encode()
    return typical, large[:-1] + b" " * (5_000_000 - len(large)) + b"}"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return Path("/proc/loadavg").read_text().strip()


def _shed_total(metrics_port: int) -> tuple[float, dict[str, float]]:
    """`cds_load_shed_total`, and the server's event-loop lag histogram (where it exists) as
    cumulative fractions of samples at or under each bound."""
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    shed = sum(float(v) for v in re.findall(r"^cds_load_shed_total(?:\{[^}]*\})? (\S+)$", text, re.MULTILINE))
    buckets = {
        le: float(v)
        for le, v in re.findall(r'^cds_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.MULTILINE)
    }
    total = buckets.get("+Inf", 0.0)
    lag = {f"le_{le}": round(v / total, 4) for le, v in buckets.items() if total and le != "+Inf"}
    return shed, {"samples": total, **lag}


def _fresh_summary(calls: list[dict[str, Any]]) -> dict[str, Any]:
    def pct(values: list[float], q: float) -> float | None:
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3) if ordered else None

    out: dict[str, Any] = {}
    for kind in ("fresh", "warm"):
        mine = [c for c in calls if c["kind"] == kind]
        part: dict[str, Any] = {"calls": len(mine), "statuses": {}}
        for call in mine:
            part["statuses"][str(call["status"])] = part["statuses"].get(str(call["status"]), 0) + 1
        for field in ("connect_s", "answer_s"):
            for status in (200, 503):
                values = [c[field] for c in mine if c[field] is not None and c["status"] == status]
                part[f"{field}_{status}"] = {"n": len(values), "p50": pct(values, 0.5), "max": pct(values, 1.0)}
        out[kind] = part
    return out


def one_run(
    connections: int, seconds: float, large_connections: int, extra: dict[str, str], backoff: float = 0.05
) -> dict[str, Any]:
    typical, large = _bodies()
    keep = os.environ.get("EDGE_PROBE_KEEP_LOG")  # a path: the server's log is copied there (diagnosis)
    metrics_port = free_port()
    env = clean_env(CDS_STORAGE_ENABLED="false", CDS_LOG_LEVEL="WARNING", CDS_METRICS_PORT=str(metrics_port), **extra)
    with (
        tempfile.TemporaryDirectory(prefix="cds-edge-probe-") as work,
        running(env, Path(work) / "serve.log", "--dev") as server,
    ):
        load_before = _load()
        cpu_before, wall_before = _cpu_seconds(server.proc.pid), time.monotonic()
        body_file = Path(work) / "typical.json"
        body_file.write_bytes(typical)
        fresh = subprocess.Popen(  # a process of its own: free of the load client's event loop
            [sys.executable, "-m", "tests.support.probe", server.base + SELECT, "--body", str(body_file),
             "--fresh-only", "--seconds", str(seconds)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        result = asyncio.run(
            probe(server.base + SELECT, typical, connections=connections, seconds=seconds, large=large,
                  large_connections=large_connections, timeout=30, backoff=backoff)
        )  # fmt: skip
        load_after = _load()
        server_cpu = (_cpu_seconds(server.proc.pid) - cpu_before) / (time.monotonic() - wall_before)
        fresh_calls = json.loads(fresh.communicate(timeout=60)[0])
        shed, loop_lag = _shed_total(metrics_port)
        if keep:
            server.stop()
            Path(keep).write_bytes((Path(work) / "serve.log").read_bytes())
    summary = result.summary()
    summary["fresh_connection_probe"] = _fresh_summary(fresh_calls)
    summary["fresh_connection_calls"] = fresh_calls
    return {
        "connections": connections,
        "large_connections": large_connections,
        "seconds": seconds,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "server_cpu_share": round(server_cpu, 2),  # of one core, during the load: 1.0 = saturated by its own work
        "cds_load_shed_total": shed,
        "server_event_loop_lag": loop_lag,
        **summary,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--label", default="")
    parser.add_argument("--backoff", type=float, default=0.05, help="seconds a refused client waits (Retry-After: 1)")
    parser.add_argument("--env", action="append", default=[], help="extra CDS_*=value for the service")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "label": args.label,
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "machine": "2 cores SHARED with other engineers' jobs; the client runs on the same cores",
        "env": extra,
        "backoff_s": args.backoff,
        "runs": [one_run(c, args.seconds, 4 if c <= 200 else 8, extra, args.backoff) for c in args.connections],
    }
    out = ROOT / "bench" / "results" / f"edge-probe-{datetime.now(UTC).strftime('%Y-%m-%dT%H%M%S%z')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
