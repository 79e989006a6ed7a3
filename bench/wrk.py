"""Run `wrk` with a Lua script and read its report: one place for the command and the parsing that
the benchmarks (run.py, fleet.py, overload.py) share."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def run_wrk(
    script: Path, url: str, *, connections: int, seconds: int, threads: int = 2, timeout: str = "10s"
) -> dict[str, Any]:
    """wrk's figures: rps, p50/p90/p99 in ms, requests, non-2xx, socket errors and timeouts."""
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", timeout, "--latency",
         "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    ).stdout  # fmt: skip
    return parse_report(out)


def parse_report(out: str) -> dict[str, Any]:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    latencies = {p: to_ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+([\d.]+\w+)", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: (.*)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latencies.get("50", 0.0),
        "p90_ms": latencies.get("90", 0.0),
        "p99_ms": latencies.get("99", 0.0),
        "requests": int(total.group(1)) if total else 0,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": sockets.group(1) if sockets else "",
        "socket_timeouts": int(timeouts.group(1)) if timeouts else 0,
    }


def to_ms(text: str) -> float:
    """'1.5ms' → 1.5, '820.00us' → 0.82, '2.1s' → 2100."""
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS_MS[unit]
