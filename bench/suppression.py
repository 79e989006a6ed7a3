"""What the override-suppression look-up costs on the request path (issue 12: at most 1 ms at p99).

A hook call with non-critical cards asks the recorder which of their keys an unexpired override
holds back. The recorder answers from an in-memory snapshot of the unexpired overrides, which a
background task refreshes from the database every `suppression_refresh_seconds` (what other
instances stored since the last refresh). This measures, on SQLite and on PostgreSQL with a table
holding many overrides: the look-up as the edge makes it (half the keys held), and the background
refresh that keeps the snapshot current (each with a few new overrides from "another instance").

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
    now = datetime.now(UTC)
    stored = [secrets.token_hex(32) for _ in range(rows)]
    await recorder.start()
    with recorder.engine.begin() as conn:
        conn.execute(
            schema.card_suppression.insert(),
            # overrides taken over the past days (the refresh re-reads only the newest seconds)
            [{"key": k, "client": "bench", "topic": "t", "created_at": now - timedelta(minutes=n % 20000),
              "expires_at": now + timedelta(days=30)} for n, k in enumerate(stored)],
        )  # fmt: skip
    await recorder.refresh_suppressions()
    for _ in range(50):
        await recorder.suppressed_keys({secrets.token_hex(32)})
    times = []
    for i in range(calls):
        keys = {secrets.token_hex(32), stored[i % rows]}  # two cards a call, one of them overridden
        started = time.perf_counter()
        found = await recorder.suppressed_keys(keys)
        times.append((time.perf_counter() - started) * 1000)
        assert len(found) == 1
    refreshes = []
    for _ in range(50):  # another instance stores three overrides between two refreshes
        fresh = [secrets.token_hex(32) for _ in range(3)]
        with recorder.engine.begin() as conn:
            conn.execute(schema.card_suppression.insert(), [
                {"key": k, "client": "bench", "topic": "t", "created_at": datetime.now(UTC),
                 "expires_at": datetime.now(UTC) + timedelta(days=30)} for k in fresh])  # fmt: skip
        started = time.perf_counter()
        assert await recorder.refresh_suppressions()
        refreshes.append((time.perf_counter() - started) * 1000)
        assert await recorder.suppressed_keys(set(fresh)) == set(fresh)
    await recorder.aclose()
    times.sort()
    refreshes.sort()
    return {
        "calls": calls,
        "rows": rows,
        "p50_ms": round(statistics.median(times), 4),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 4),
        "max_ms": round(times[-1], 4),
        "refresh_p50_ms": round(statistics.median(refreshes), 2),
        "refresh_max_ms": round(refreshes[-1], 2),
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
                  f"{r['calls']} calls, {r['rows']} overrides stored; background refresh with 3 new: "
                  f"p50 {r['refresh_p50_ms']} ms, max {r['refresh_max_ms']} ms")  # fmt: skip
        else:
            print(f"-     {backend:<10} skipped: {r['skipped']}")
    out = ROOT / "bench" / "results" / f"suppression-{results['when'].replace(':', '')}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
