"""What the audit trail costs in CPU per hook call (issue 22): in the serving process and in the
audit writer process, on SQLite and on PostgreSQL.

Not a timed test: a measurement to compare two versions of the audit path on the same machine.

* `route`: the audit work a hook call does in the route after the rules have answered
  (`call_keys` and `_count_and_audit`: keyed hashes, the intents and drafts JSON, the record and
  its cards), on the outcome of a real typical order-select (bench/generate.py, one patient),
  handed to a recorder that keeps nothing. CPU microseconds per call.
* `recorder`: records shaped like that call's (2 cards, intents, drafts; fresh record key, hook
  instance and card uuids each) pushed through `ProcessRecorder` (the default when serving), then
  flushed: CPU seconds per 1,000 records in this process (`getrusage`, every thread: the call that
  queues, the sender, the status reader) and in the writer process (`/proc/<pid>/stat`: utime +
  stime, every thread). Two arrival patterns: `paced` (one record every 1/rate s, as calls arrive
  from a load generator: each record may cost a wake-up of its own) and `burst` (as fast as the
  recorder takes them: batches are full, back-pressure waits are counted). For `paced` the cost of
  the pacing loop alone (the same loop pushing into a recorder that keeps nothing) is measured too
  and subtracted (`server_net`).

    .venv/bin/python bench/audit_cost.py [--records 20000] [--paced 5000 --rate 250]
        [--db sqlite,postgres] [--out bench/results/audit-cost-<time>.json] [--label before]

PostgreSQL: 127.0.0.1:5432, database test, user postgres (trust); each run gets a schema of its own,
dropped afterwards. A database that cannot be reached is reported as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "bench-secret-0123456789abcdef"
SERVICE_ID = "muscle-spasm-order-select"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class _Sink:
    """A recorder that keeps only the last record (the route measurement, the pacing baseline)."""

    last: Any = None

    def record_hook_call(self, record: Any) -> None:
        self.last = record

    async def suppressed_keys(self, keys: Any) -> set[str]:
        return set()

    async def repeated_keys(self, keys: Any) -> set[str]:
        return set()

    async def accepted_keys(self, keys: Any) -> dict[str, Any]:
        return {}


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def _child_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime: every thread


async def _real_call() -> tuple[Any, Any, Any]:
    """One typical order-select through the route's own function: its outcome, client, settings."""
    import generate
    import httpx

    from cds_service.auth import AuthenticatedClient
    from cds_service.protocol.hooks import handle_hook_call
    from cds_service.ruleset import DEFAULT_RULE_SET
    from cds_service.settings import load_settings

    settings = load_settings(dev=True, storage_enabled=False, patient_hash_secret=SECRET)
    client = AuthenticatedClient(iss="bench", any_fhir_server=True)
    body = json.dumps(generate.build("typical", 7)).encode()
    async with httpx.AsyncClient() as http:
        outcome = await handle_hook_call(
            SERVICE_ID, body, client=client, settings=settings, http=http, base_url="http://bench",
            rule_set=DEFAULT_RULE_SET,
        )  # fmt: skip
    if outcome.status != 200 or len(outcome.cards) < 1:
        raise RuntimeError(f"the typical call answered {outcome.status} with {len(outcome.cards)} cards")
    return outcome, client, settings


async def measure_route(calls: int) -> tuple[dict[str, Any], Any]:
    """CPU µs per call of the route's audit work, and the record it builds (the template)."""
    from cds_service.protocol import routes

    outcome, client, settings = await _real_call()
    state = SimpleNamespace(settings=settings, recorder=_Sink())
    keys, held = await routes._overrides_that_hold(state, outcome, client, 30)

    def one() -> None:
        received_at = datetime.now(UTC)
        decided = routes.call_keys(outcome, client.iss, settings.patient_hash_secret, received_at)
        routes._count_and_audit(state, outcome, client, received_at, keys, held, decided, set())

    for _ in range(200):
        one()
    started = time.process_time()
    for _ in range(calls):
        one()
    spent = time.process_time() - started
    template = state.recorder.last
    return {"calls": calls, "cards": len(template.cards), "cpu_us_per_call": round(spent / calls * 1e6, 2)}, template


def _records(template: Any, count: int) -> list[Any]:
    """`count` records like `template`, each with its own keys and card uuids (built before timing)."""
    out = []
    for _ in range(count):
        cards = tuple(dataclasses.replace(card, uuid=str(uuid.uuid4())) for card in template.cards)
        out.append(
            dataclasses.replace(
                template, hook_instance=str(uuid.uuid4()), record_key=uuid.uuid4().hex, cards=cards,
                received_at=datetime.now(UTC),
            )
        )  # fmt: skip
    return out


def _push(recorder: Any, records: list[Any], rate: float | None) -> None:
    if rate is None:
        for record in records:
            recorder.record_hook_call(record)
        return
    interval = 1.0 / rate
    due = time.monotonic()
    for record in records:
        due += interval
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        recorder.record_hook_call(record)


def _pacing_cost(records: list[Any], rate: float) -> float:
    sink = _Sink()
    started = _self_cpu()
    _push(sink, records, rate)
    return _self_cpu() - started


async def measure_recorder(url: str, template: Any, count: int, rate: float | None, spool: Path) -> dict[str, Any]:
    from cds_service.settings import load_settings
    from cds_service.storage import create_recorder
    from cds_service.storage.writer_process import ProcessRecorder, writer_pid

    settings = load_settings(dev=True, database_url=url, patient_hash_secret=SECRET, audit_spool_dir=spool)
    recorder = create_recorder(settings)
    assert isinstance(recorder, ProcessRecorder)
    await recorder.start()
    try:
        _push(recorder, _records(template, 300), None)  # warm-up: imports, prepared statements, pool
        assert recorder.flush(60)
        records = _records(template, count)
        time.sleep(0.5)
        pid = writer_pid(recorder)
        assert pid is not None
        waits = recorder.backpressure_waits
        server0, child0, wall0 = _self_cpu(), _child_cpu(pid), time.monotonic()
        _push(recorder, records, rate)
        if not recorder.flush(300):
            raise RuntimeError("the writer did not confirm every record within 300 s")
        server, child, wall = _self_cpu() - server0, _child_cpu(pid) - child0, time.monotonic() - wall0
        stats = recorder.stats()
    finally:
        await recorder.aclose()
    per_k = 1000 / count
    out: dict[str, Any] = {
        "records": count,
        "rate_per_s": rate,
        "wall_s": round(wall, 2),
        "server_cpu_s_per_1000": round(server * per_k, 4),
        "writer_cpu_s_per_1000": round(child * per_k, 4),
        "backpressure_waits": recorder.backpressure_waits - waits,
        "written": stats["written"],
        "lost": stats["lost"],
        "spooled": stats["spooled"],
    }
    if rate is not None:
        pacing = _pacing_cost(records, rate)
        out["pacing_cpu_s_per_1000"] = round(pacing * per_k, 4)
        out["server_net_cpu_s_per_1000"] = round((server - pacing) * per_k, 4)
    return out


def _pg_schema() -> str | None:
    try:
        import psycopg

        name = f"audit_cost_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, connect_timeout=3, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return name
    except Exception as exc:
        print(f"PostgreSQL skipped: {type(exc).__name__}: {str(exc)[:120]}", file=sys.stderr)
        return None


def _drop_pg_schema(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


async def run(args: argparse.Namespace) -> dict[str, Any]:
    route, template = await measure_route(args.route_calls)
    print(f"route: {route['cpu_us_per_call']} µs CPU per call ({route['cards']} cards)", flush=True)
    report: dict[str, Any] = {"route": route, "databases": {}}
    for db in args.db.split(","):
        for mode, count, rate in (("paced", args.paced, args.rate), ("burst", args.records, None)):
            if count <= 0:
                continue
            with tempfile.TemporaryDirectory(prefix="audit-cost-") as tmp:
                spool = Path(tmp) / "spool"
                schema = None
                if db == "sqlite":
                    url = f"sqlite:///{tmp}/audit.db"
                else:
                    schema = _pg_schema()
                    if schema is None:
                        report["databases"][db] = "skipped: unreachable"
                        break
                    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
                try:
                    result = await measure_recorder(url, template, count, rate, spool)
                finally:
                    if schema is not None:
                        _drop_pg_schema(schema)
            report["databases"].setdefault(db, {})[mode] = result
            print(f"{db} {mode}: {json.dumps(result)}", flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000, help="records pushed as fast as taken (burst)")
    parser.add_argument("--paced", type=int, default=5_000, help="records pushed at --rate (0: skip)")
    parser.add_argument("--rate", type=float, default=250.0, help="records per second when paced (ours ~250 calls/s)")
    parser.add_argument("--route-calls", type=int, default=3_000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--label", default="", help="what was measured (e.g. the commit)")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    report = {
        "what": "audit trail CPU per hook call: server and writer process (bench/audit_cost.py)",
        "label": args.label,
        "commit": commit.stdout.strip(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        **report,
    }
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
