"""Count connection resets at the end of a SIGTERM drain, over many runs (issue 21, finding 6).

Each run starts a real `cds-service serve --dev [--workers N]`, drives it with 24 raw-socket clients
(24 by default, every fourth on keep-alive, as `tests/observability/test_drain_no_resets.py`), sends SIGTERM after
`--settle` seconds and records each call's outcome at the client: "200", "503", "refused" (the
listener is closed: a balancer retries elsewhere) or "reset…" (accepted, then dropped unanswered).
A reset is printed with its time relative to the SIGTERM. `--burn N` runs N CPU-burning processes
alongside (the race showed under load). `--widen S` makes each worker sleep S seconds between its
last backlog sweep and the listener's close (bench/drain_widen/sitecustomize.py, loaded by the
service's processes only), as a worker descheduled there would: the window the race needs, made wide.

    .venv/bin/python bench/drain_resets.py --runs 30 --workers 2 [--burn 1] [--widen 0.05]
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.observability.test_drain_no_resets import _read_status, _request
from tests.support.processes import clean_env, start_service, wait_ready

ENV = {
    "CDS_STORAGE_ENABLED": "false",
    "CDS_LOG_LEVEL": "WARNING",
    "CDS_DRAIN_DELAY_SECONDS": "0.5",
    "CDS_LARGE_REQUEST_PROCESSES": "0",
    "CDS_MAX_QUEUE_DELAY_MS": "10000",
    "CDS_MAX_REQUEST_WAIT_MS": "10000",
    "CDS_MAX_CONCURRENT_HOOK_CALLS": "256",
}


def _client(port: int, keep_alive: bool, outcomes: list[tuple[str, float]], stop: threading.Event) -> None:
    """As the test's client, with the time of each outcome."""
    sock: socket.socket | None = None
    refused_since: float | None = None
    payload = _request(port, keep_alive)
    calls_on_sock = 0
    connected_at = 0.0
    while not stop.is_set():
        if sock is None:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                connected_at = time.monotonic()
            except ConnectionRefusedError:
                outcomes.append(("refused", time.monotonic()))
                refused_since = refused_since or time.monotonic()
                if time.monotonic() - refused_since > 1.0:
                    return
                time.sleep(0.02)
                continue
        reused = sock is not None and calls_on_sock > 0
        try:
            calls_on_sock += 1
            sock.sendall(payload)
            status, closes = _read_status(sock)
            outcomes.append((str(status), time.monotonic()))
        except OSError as exc:
            fresh = f"fresh connection made at {connected_at:.4f}" if not reused else "reused connection"
            outcomes.append((f"reset: {type(exc).__name__}: {exc} ({fresh})", time.monotonic()))
            closes = True
        if closes or not keep_alive:
            sock.close()
            sock = None
            calls_on_sock = 0
    if sock is not None:
        sock.close()


def one_run(
    workdir: Path, args: list[str], settle: float, clients_n: int = 24, widen: float = 0.0
) -> tuple[Counter[str], list[str], float]:
    extra = {"DRAIN_WIDEN": str(widen), "PYTHONPATH": str(Path(__file__).with_name("drain_widen"))} if widen else {}
    served = start_service(clean_env(**ENV, **extra), workdir / "serve.log", "--dev", *args)
    stop = threading.Event()
    outcomes: list[tuple[str, float]] = []
    try:
        wait_ready(served)
        clients = [
            threading.Thread(target=_client, args=(served.port, n % 4 == 0, outcomes, stop), daemon=True)
            for n in range(clients_n)
        ]
        for client in clients:
            client.start()
        time.sleep(settle)
        sigterm_at = time.monotonic()
        served.proc.send_signal(signal.SIGTERM)
        served.proc.wait(timeout=60)
        stopped_after = time.monotonic() - sigterm_at
        for client in clients:
            client.join(timeout=5)
    finally:
        stop.set()
        served.stop()
    counts = Counter("reset" if o.startswith("reset") else o for o, _ in outcomes)
    first_refused = min((t for o, t in outcomes if o == "refused"), default=sigterm_at) - sigterm_at
    resets = [
        f"{_relative(o, sigterm_at)} at SIGTERM+{t - sigterm_at:.4f}s (first refusal at +{first_refused:.4f}s)"
        for o, t in outcomes
        if o.startswith("reset")
    ]
    return counts, resets, stopped_after


def _relative(outcome: str, sigterm_at: float) -> str:
    match = re.search(r"made at ([0-9.]+)", outcome)
    if match is None:
        return outcome
    return outcome.replace(match.group(0), f"made at SIGTERM+{float(match.group(1)) - sigterm_at:.4f}s")


def _burn(stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    while not stop.is_set():
        sum(i * i for i in range(10000))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--settle", type=float, default=1.5)
    parser.add_argument("--clients", type=int, default=24, help="raw-socket clients (every fourth on keep-alive)")
    parser.add_argument("--widen", type=float, default=0.0, help="seconds between the last sweep and the close")
    parser.add_argument("--burn", type=int, default=0, help="CPU-burning processes alongside")
    options = parser.parse_args()
    args = ["--workers", str(options.workers)] if options.workers > 1 else []
    stop_burn = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop_burn,), daemon=True) for _ in range(options.burn)]
    for burner in burners:
        burner.start()
    total: Counter[str] = Counter()
    runs_with_resets = 0
    try:
        for run in range(options.runs):
            with tempfile.TemporaryDirectory() as tmp:
                counts, resets, stopped_after = one_run(Path(tmp), args, options.settle, options.clients, options.widen)
            total.update(counts)
            runs_with_resets += bool(resets)
            print(f"run {run + 1}: {dict(sorted(counts.items()))} stopped after {stopped_after:.2f}s", flush=True)
            for reset in resets:
                print(f"    {reset}", flush=True)
    finally:
        stop_burn.set()
        for burner in burners:
            burner.join(timeout=5)
    calls = sum(n for outcome, n in total.items() if outcome != "refused")
    setup = f"workers {options.workers}, clients {options.clients}, burn {options.burn}, widen {options.widen}"
    print(f"total over {options.runs} runs ({setup}): "
          f"{dict(sorted(total.items()))}; resets {total['reset']} of {calls} calls, "
          f"in {runs_with_resets} run(s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
