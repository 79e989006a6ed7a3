"""In-process cost of one hook call, no HTTP (issue 13): the function the HTTP route calls
(`cds_service.protocol.hooks.handle_hook_call`: parse, prefetch without a FHIR server, facts, rules,
response body), and beside it the pure facts + rules time (`build_facts` + `engine.evaluate` on an
already parsed request).

Each phase runs in a fresh Python process, so "first call" is real:

* `first`: the first call after import, before any warm-up (import time reported apart);
* `after-warm-up`: the app's own start (its lifespan: warm-up, then ready), then the first call;
  in the same process, then:
  - warm: one typical patient repeated (median),
  - cold: each of the N distinct typical patients once, never seen before (median, p95),
  - facts + rules alone, cold (other distinct patients) and warm,
  - heavy patient cold (each call a heavy patient not seen before, n≈20) and warm.

The first call of each fresh process uses a patient the process has not seen. Bodies come from
bench/generate.py (cached); the service evaluates at the real clock. `python bench/inprocess.py
--patients 2000` prints a table; bench/run.py calls `measure()`.
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
SERVICE_ID = "muscle-spasm-order-select"
FACTS_SEEDS = 50_000  # seeds of the patients used for the facts + rules breakdown (never the N patients)
HEAVY_SEEDS = 0


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def summary(times_ms: list[float]) -> dict[str, float]:
    ordered = sorted(times_ms)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(p95, 3),
        "max_ms": round(ordered[-1], 3),
    }


class Caller:
    """Calls `handle_hook_call` as the route does (dev client, no FHIR server), and the facts + rules
    step alone. Imports happen in `__init__` (timed by the caller)."""

    def __init__(self) -> None:
        import httpx

        from cds_service.auth import AuthenticatedClient
        from cds_service.engine import evaluate
        from cds_service.facts.build import build_facts, read_drafts
        from cds_service.protocol.hooks import find_service, handle_hook_call
        from cds_service.protocol.parsing import parse_hook_request, parse_json_body
        from cds_service.protocol.prefetch import resolve_prefetch
        from cds_service.ruleset import DEFAULT_RULE_SET
        from cds_service.settings import load_settings

        self.settings = load_settings(dev=True, storage_enabled=False)
        self.client = AuthenticatedClient(iss="bench", any_fhir_server=True)
        self.http = httpx.AsyncClient()
        self.service = find_service(SERVICE_ID)
        self._handle = handle_hook_call
        self._parse = (parse_json_body, parse_hook_request)
        self._drafts = read_drafts
        self._resolve = resolve_prefetch
        self._facts = build_facts
        self._evaluate = evaluate
        self.rule_set = DEFAULT_RULE_SET

    async def call(self, body: bytes, service_id: str = SERVICE_ID) -> float:
        """One hook call through the route's function: its time in ms (asserting a 200 with cards)."""
        started = time.perf_counter()
        outcome = await self._handle(
            service_id, body, client=self.client, settings=self.settings, http=self.http,
            base_url="http://bench", rule_set=self.rule_set,
        )  # fmt: skip
        elapsed = _ms(time.perf_counter() - started)
        if outcome.status != 200 or "cards" not in outcome.body:
            raise RuntimeError(f"hook call answered {outcome.status}: {str(outcome.body)[:300]}")
        return elapsed

    async def facts_and_rules(self, body: bytes) -> float:
        """Parse and prefetch untimed, then build_facts + evaluate timed (ms)."""
        from datetime import UTC, datetime

        parse_body, parse_request = self._parse
        request = parse_request(
            parse_body(body, max_bytes=self.settings.max_body_bytes, max_depth=self.settings.max_json_depth),
            self.service,
        )
        now = datetime.now(UTC)
        drafts = self._drafts(self.service.hook, request.context, now)
        resolved = await self._resolve(request, drafts, fetcher=None, refusal="benchmark: no FHIR server")
        started = time.perf_counter()
        facts = self._facts(
            self.service.hook, request.context, resolved.prefetch, now, drafts=drafts,
            extra_resources=resolved.extra_resources, gaps=resolved.gaps,
        )  # fmt: skip
        self._evaluate(facts, self.rule_set.rules, self.rule_set.thresholds)
        return _ms(time.perf_counter() - started)


async def _phase_first(bodies: list[bytes]) -> dict[str, Any]:
    started = time.perf_counter()
    caller = Caller()
    imported = _ms(time.perf_counter() - started)
    first = await caller.call(bodies[0])
    second = await caller.call(bodies[1]) if len(bodies) > 1 else None
    return {"import_ms": imported, "first_call_ms": first, "second_call_ms": second}


async def _phase_steady(typical: list[bytes], facts_bodies: list[bytes], heavy: list[bytes], repeat: int) -> Any:
    from cds_service.app import create_app

    caller = Caller()
    app = create_app(caller.settings)
    started = time.perf_counter()
    async with app.router.lifespan_context(app):  # the app's start: warm-up, then ready
        ready = _ms(time.perf_counter() - started)
        out: dict[str, Any] = {"startup_to_ready_ms": ready}
        out["first_call_after_warm_up_ms"] = await caller.call(typical[-1])  # a patient not seen
        warm_body = typical[0]
        for _ in range(5):
            await caller.call(warm_body)
        out["warm"] = summary([await caller.call(warm_body) for _ in range(repeat)])
        out["cold"] = summary([await caller.call(body) for body in typical[1:-1]])
        out["facts_rules_cold"] = summary([await caller.facts_and_rules(body) for body in facts_bodies])
        out["facts_rules_warm"] = summary([await caller.facts_and_rules(warm_body) for _ in range(repeat)])
        out["heavy_cold"] = summary([await caller.call(body) for body in heavy[1:]])
        for _ in range(3):
            await caller.call(heavy[0])
        out["heavy_warm"] = summary([await caller.call(heavy[0]) for _ in range(max(10, len(heavy) - 1))])
    await caller.http.aclose()
    return out


def _read(paths: list[str]) -> list[bytes]:
    return [Path(p).read_bytes() for p in paths]


def _child(args: argparse.Namespace) -> int:
    spec = json.loads(Path(args.child).read_text())
    typical, facts_bodies, heavy = _read(spec["typical"]), _read(spec["facts"]), _read(spec["heavy"])
    if args.phase == "first":
        result = asyncio.run(_phase_first(typical))
    else:
        result = asyncio.run(_phase_steady(typical, facts_bodies, heavy, spec["repeat"]))
    sys.stdout.write("\nRESULT " + json.dumps(result) + "\n")
    return 0


def _run_child(spec_file: Path, phase: str, timeout: float) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env |= {"CDS_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(spec_file), "--phase", phase],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"inprocess phase {phase} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return dict(json.loads(lines[-1].removeprefix("RESULT ")))


def measure(
    patients: int = 2000, heavy_patients: int = 20, repeat: int = 200, *, first_runs: int = 3
) -> dict[str, Any]:
    """All in-process figures; each phase in a fresh process (`first_runs` fresh processes for the
    first call after import, their median reported with each run)."""
    import tempfile

    sys.path.insert(0, str(ROOT))
    from bench.generate import bodies

    typical = bodies("typical", range(max(patients, 3)))
    facts = bodies("typical", range(FACTS_SEEDS, FACTS_SEEDS + min(max(patients, 3), 500)))
    heavy = bodies("heavy", range(HEAVY_SEEDS, HEAVY_SEEDS + heavy_patients + 1))
    spec = {"typical": [str(p) for p in typical], "facts": [str(p) for p in facts], "heavy": [str(p) for p in heavy],
            "repeat": repeat}  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    spec_file = Path(handle.name)
    try:
        firsts = [_run_child(spec_file, "first", 300) for _ in range(first_runs)]  # each process is fresh
        steady = _run_child(spec_file, "after-warm-up", 1800)
    finally:
        spec_file.unlink(missing_ok=True)
    first_ms = [f["first_call_ms"] for f in firsts]
    result: dict[str, Any] = {
        "patients": patients,
        "first_after_import": {
            "runs": firsts,
            "median_first_call_ms": round(statistics.median(first_ms), 3),
            "median_import_ms": round(statistics.median(f["import_ms"] for f in firsts), 3),
        },
        **steady,
    }
    warm = steady["warm"]["median_ms"]
    result["ratios"] = {
        "cold_over_warm": round(steady["cold"]["median_ms"] / warm, 2),
        "first_after_import_over_warm": round(result["first_after_import"]["median_first_call_ms"] / warm, 2),
        "first_after_warm_up_over_warm": round(steady["first_call_after_warm_up_ms"] / warm, 2),
        "facts_rules_cold_over_warm": round(
            steady["facts_rules_cold"]["median_ms"] / steady["facts_rules_warm"]["median_ms"], 2
        ),
        "heavy_cold_over_warm": round(steady["heavy_cold"]["median_ms"] / steady["heavy_warm"]["median_ms"], 2),
    }
    return result


def report(r: dict[str, Any]) -> None:
    f = r["first_after_import"]
    print(f"in process (no HTTP), handle_hook_call; {r['patients']} distinct typical patients")
    print(f"{'':<34}{'median ms':>10}{'p95 ms':>9}{'n':>6}")
    rows = [
        ("warm (one patient repeated)", r["warm"]),
        ("cold (patient not seen before)", r["cold"]),
        ("facts+rules only, warm", r["facts_rules_warm"]),
        ("facts+rules only, cold", r["facts_rules_cold"]),
        ("heavy patient, warm", r["heavy_warm"]),
        ("heavy patient, cold", r["heavy_cold"]),
    ]
    for label, s in rows:
        print(f"{label:<34}{s['median_ms']:>10.2f}{s['p95_ms']:>9.2f}{s['n']:>6}")
    ratios = r["ratios"]
    print(f"cold/warm {ratios['cold_over_warm']}×; facts+rules cold/warm {ratios['facts_rules_cold_over_warm']}×")
    print(
        f"first call after import (no warm-up): {f['median_first_call_ms']:.1f} ms (median of {len(f['runs'])} fresh "
        f"processes; import {f['median_import_ms']:.0f} ms apart), {ratios['first_after_import_over_warm']}× warm"
    )
    print(
        f"first call after the app's warm-up (start to ready {r['startup_to_ready_ms']:.0f} ms): "
        f"{r['first_call_after_warm_up_ms']:.2f} ms, {ratios['first_after_warm_up_over_warm']}× warm"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=2000, help="distinct typical patients for the cold figure")
    parser.add_argument("--heavy-patients", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=200, help="calls for each warm figure")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=["first", "after-warm-up"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)
    result = measure(args.patients, args.heavy_patients, args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
