"""What the override-suppression look-up costs on the request path (issue 12: at most 1 ms at p99).

A hook call with non-critical cards asks the recorder which of their keys an unexpired override
holds back: this instance's cache first, then one indexed query through the bounded database gate.
This measures that call as the edge makes it (asyncio, gate thread, query) with keys that miss the
cache every time (the expensive case: another instance may have stored an override), on SQLite and
on PostgreSQL, against a table holding many overrides.

    python bench/suppression.py [--calls 3000] [--rows 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds_service.storage import schema  # noqa: E402
from cds_service.storage.recorder import SqlRecorder  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


async def measure(url: str, calls: int, rows: int) -> dict[str, Any]:
    recorder = SqlRecorder(url, "bench-secret")
    await recorder.start()
    now = datetime.now(UTC)
    stored = [secrets.token_hex(32) for _ in range(rows)]
    with recorder.engine.begin() as conn:
        conn.execute(
            schema.card_suppression.insert(),
            [{"key": k, "client": "bench", "topic": "t", "created_at": now, "expires_at": now + timedelta(days=30)}
             for k in stored],
        )  # fmt: skip
    for _ in range(50):  # warm the connection pool and the gate's threads
        await recorder.suppressed_keys({secrets.token_hex(32)})
    times = []
    for i in range(calls):
        # Two cards a call, one of them overridden (found in the table), never in this cache.
        keys = {secrets.token_hex(32), stored[i % rows]}
        recorder._suppressions.clear()
        started = time.perf_counter()
        found = await recorder.suppressed_keys(keys)
        times.append((time.perf_counter() - started) * 1000)
        assert len(found) == 1
    await recorder.aclose()
    times.sort()
    return {
        "calls": calls,
        "rows": rows,
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 3),
        "max_ms": round(times[-1], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = asyncio.run(measure(f"sqlite:///{tmp}/bench.db", args.calls, args.rows))
    try:
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        try:
            url = f"{PG_URL}?options=-csearch_path%3D{name}"
            results["postgresql"] = asyncio.run(measure(url, args.calls, args.rows))
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    except Exception as exc:  # no PostgreSQL here: report SQLite alone
        results["postgresql"] = {"skipped": type(exc).__name__}
    for backend in ("sqlite", "postgresql"):
        r = results[backend]
        if "p99_ms" in r:
            verdict = "PASS" if r["p99_ms"] <= 1.0 else "FAIL"
            print(f"{verdict}  {backend:<10} look-up p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms (target p99 <= 1 ms), "
                  f"{r['calls']} calls, {r['rows']} overrides stored")  # fmt: skip
        else:
            print(f"-     {backend:<10} skipped: {r['skipped']}")
    out = ROOT / "bench" / "results" / f"suppression-{results['when'].replace(':', '')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
