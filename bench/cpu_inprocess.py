"""CPU time of one hook call in process (no HTTP), for comparisons on a busy machine.

`bench/inprocess.py` reports wall time of a single-threaded loop: on the 2-core machine other
sessions' work stretches it. This runs the same bodies through the same `Caller` (after the app's
own warm-up) and reports, per call, the process CPU time (`time.process_time`, all threads of
this process; a typical call runs on the event loop's thread) — what other load barely moves.

    python bench/cpu_inprocess.py --patients 500 [--rounds 3] [--tree DIR]

`--tree DIR` runs the service code found in DIR (e.g. the compiled copy bench/mypyc_build.sh makes);
the bench code and bodies stay this checkout's. Alternate trees run to run on a busy machine.

Prints median / mean ms of CPU for: warm (one patient repeated), cold (each patient once, never
seen before), facts + rules only (cold). Each round is a fresh process; the figures are per round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _stats(cpu_ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(cpu_ms), 3), "mean_ms": round(statistics.fmean(cpu_ms), 3)}


async def _timed(step: Any, body: bytes) -> float:
    started = time.process_time()
    await step(body)
    return (time.process_time() - started) * 1000


async def _round(typical: list[bytes], facts_bodies: list[bytes], repeat: int) -> dict[str, Any]:
    from bench.inprocess import Caller
    from cds_service.app import create_app

    caller = Caller()
    app = create_app(caller.settings)
    async with app.router.lifespan_context(app):
        warm_body = typical[0]
        for _ in range(5):
            await caller.call(warm_body)
        out = {
            "warm": _stats([await _timed(caller.call, warm_body) for _ in range(repeat)]),
            "cold": _stats([await _timed(caller.call, body) for body in typical[1:]]),
            "facts_rules_cold": _stats([await _timed(caller.facts_and_rules, body) for body in facts_bodies]),
        }
    await caller.http.aclose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes, one line each")
    parser.add_argument("--tree", help="directory whose cds_service is measured (default: this checkout)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        typical = [Path(p).read_bytes() for p in spec["typical"]]
        facts = [Path(p).read_bytes() for p in spec["facts"]]
        print("RESULT " + json.dumps(asyncio.run(_round(typical, facts, spec["repeat"]))))
        return 0
    sys.path.insert(0, str(ROOT))
    from bench.generate import bodies
    from bench.inprocess import FACTS_SEEDS

    spec = {
        "typical": [str(p) for p in bodies("typical", range(args.patients))],
        "facts": [str(p) for p in bodies("typical", range(FACTS_SEEDS, FACTS_SEEDS + min(args.patients, 500)))],
        "repeat": args.repeat,
    }
    path = f"{Path(args.tree).resolve()}{os.pathsep}{ROOT}" if args.tree else str(ROOT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")} | {
        "CDS_LOG_LEVEL": "WARNING", "PYTHONPATH": path}  # fmt: skip
    tree = args.tree or ROOT
    print(f"CPU ms per call (process_time), {args.patients} patients, {tree}; load {os.getloadavg()[0]:.2f}")
    print(f"{'round':<7}{'warm med':>10}{'cold med':>10}{'cold mean':>11}{'f+r cold med':>14}")
    for n in range(args.rounds):
        done = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(spec)], cwd=ROOT, env=env,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(done.stderr[-3000:])
        r = json.loads(lines[-1].removeprefix("RESULT "))
        print(
            f"{n + 1:<7}{r['warm']['median_ms']:>10.3f}{r['cold']['median_ms']:>10.3f}{r['cold']['mean_ms']:>11.3f}"
            f"{r['facts_rules_cold']['median_ms']:>14.3f}"
        )
    print(f"load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
