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

Then encounters (bench/encounter.py: chart, 3 selects, sign for each of `--encounters` patients not
seen before): the first call's CPU, the CPU of calls 2-5 and their memo misses (validation, stored
orders, daily doses, dates, ingredient text: 0 when every fact of the record was reused), and the
fifth call sent once more straight after. Calls 2-5 show what a call costs when the facts layer
reuses everything it can: the floor that reuse of facts cannot go below (issue 22).
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
ENCOUNTER_SEEDS = 30_000  # patients sent as encounters: none of the typical or facts patients


def _stats(cpu_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(cpu_ms),
        "median_ms": round(statistics.median(cpu_ms), 3),
        "mean_ms": round(statistics.fmean(cpu_ms), 3),
    }


async def _timed(step: Any, body: bytes) -> float:
    started = time.process_time()
    await step(body)
    return (time.process_time() - started) * 1000


def _misses() -> int:
    from cds_service.facts.memo_stats import memo_stats

    return sum(memo["misses"] for memo in memo_stats().values())


async def _encounters(caller: Any, seeds: list[int]) -> dict[str, Any]:
    """Each patient's five calls in order (CPU and memo misses per call), then the fifth again."""
    import orjson

    from bench.encounter import encounter

    first, later, again, later_misses = [], [], [], []
    for seed in seeds:
        calls = [(path.rsplit("/", 1)[-1], orjson.dumps(request)) for path, request in encounter(seed)]
        for position, (service_id, body) in enumerate(calls):
            before = _misses()
            cpu_ms = await _timed(lambda b, s=service_id: caller.call(b, s), body)
            if position == 0:
                first.append(cpu_ms)
            else:
                later.append(cpu_ms)
                later_misses.append(_misses() - before)
        service_id, body = calls[-1]
        again.append(await _timed(lambda b, s=service_id: caller.call(b, s), body))
    return {
        "first": _stats(first),
        "later": _stats(later),
        "again": _stats(again),
        "later_memo_misses_per_call": round(statistics.fmean(later_misses), 2) if later_misses else None,
    }


async def _round(typical: list[bytes], facts_bodies: list[bytes], repeat: int, encounter_seeds: list[int]) -> Any:
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
            "encounter": await _encounters(caller, encounter_seeds),
        }
    await caller.http.aclose()
    return out


def run_round(spec: dict[str, Any], tree: str | None = None) -> dict[str, Any]:
    """One round in a fresh process running the service code of `tree` (default: this checkout)."""
    path = f"{Path(tree).resolve()}{os.pathsep}{ROOT}" if tree else str(ROOT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")} | {
        "CDS_LOG_LEVEL": "WARNING", "PYTHONPATH": path}  # fmt: skip
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], cwd=ROOT, env=env,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes, one line each")
    parser.add_argument("--encounters", type=int, default=200, help="patients sent as encounters (5 calls each)")
    parser.add_argument("--tree", help="directory whose cds_service is measured (default: this checkout)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        typical = [Path(p).read_bytes() for p in spec["typical"]]
        facts = [Path(p).read_bytes() for p in spec["facts"]]
        result = asyncio.run(_round(typical, facts, spec["repeat"], spec["encounter_seeds"]))
        print("RESULT " + json.dumps(result))
        return 0
    sys.path.insert(0, str(ROOT))
    from bench.generate import bodies
    from bench.inprocess import FACTS_SEEDS

    spec = {
        "typical": [str(p) for p in bodies("typical", range(args.patients))],
        "facts": [str(p) for p in bodies("typical", range(FACTS_SEEDS, FACTS_SEEDS + min(args.patients, 500)))],
        "repeat": args.repeat,
        "encounter_seeds": list(range(ENCOUNTER_SEEDS, ENCOUNTER_SEEDS + args.encounters)),
    }
    tree = args.tree or ROOT
    print(f"CPU ms per call (process_time), {args.patients} patients, {tree}; load {os.getloadavg()[0]:.2f}")
    print(
        f"{'round':<7}{'warm med':>10}{'cold med':>10}{'cold mean':>11}{'f+r cold med':>14}"
        f"{'enc 1st':>9}{'enc 2-5':>9}{'misses 2-5':>12}{'again':>8}"
    )
    for n in range(args.rounds):
        r = run_round(spec, args.tree)
        e = r["encounter"]
        print(
            f"{n + 1:<7}{r['warm']['median_ms']:>10.3f}{r['cold']['median_ms']:>10.3f}{r['cold']['mean_ms']:>11.3f}"
            f"{r['facts_rules_cold']['median_ms']:>14.3f}{e['first']['median_ms']:>9.3f}{e['later']['median_ms']:>9.3f}"
            f"{e['later_memo_misses_per_call']!s:>12}{e['again']['median_ms']:>8.3f}"
        )
    print(f"load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
