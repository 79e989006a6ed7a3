"""In-process cost of the ASGI edge per call (issue 22 item 3): the middleware layers around the
routes, measured around an app that answers at once, so that only the layers are timed.

`python bench/edge_cost.py [--calls N] [--before PATH]` prints microseconds per call for the folded
layer (`cds_service.protocol.edge.Edge`) and, with `--before` naming a checkout of the previous
code (e.g. `git archive e8911ba | tar -x -C /tmp/before`), for the three layers it replaced
(hook-call metrics, request context, load shedding), for a hook call and for a GET.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVICES = {"muscle-spasm-order-select": "order-select"}
HOOK = {"type": "http", "method": "POST", "path": "/cds-services/muscle-spasm-order-select", "headers": []}
GET = {"type": "http", "method": "GET", "path": "/health", "headers": []}


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


async def _receive() -> Any:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


def folded() -> Any:
    from cds_service.protocol.edge import Edge

    return Edge(_answer, services=SERVICES, limit=10_000, max_delay=10.0)


def stacked(before: Path) -> Any:
    """The previous stack, outermost first: HookCallMetrics > RequestContextMiddleware > LoadShedding."""
    spec = importlib.util.spec_from_file_location("before_app", before / "cds_service" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    metrics_spec = importlib.util.spec_from_file_location(
        "before_metrics", before / "cds_service" / "observability" / "metrics.py"
    )
    assert metrics_spec is not None and metrics_spec.loader is not None
    from cds_service.observability import metrics

    hook_call_metrics = getattr(metrics, "HookCallMetrics", None)
    if hook_call_metrics is None:  # removed with the fold: take the previous definition's source
        namespace: dict[str, Any] = {}
        source = (before / "cds_service" / "observability" / "metrics.py").read_text()
        start = source.index("class HookCallMetrics")
        end = source.index("\n# ---", start)
        exec(compile("from __future__ import annotations\n" + source[start:end], "metrics", "exec"),
             {**vars(metrics), **namespace}, namespace)  # fmt: skip
        hook_call_metrics = namespace["HookCallMetrics"]
    shedding = module.LoadShedding(_answer, limit=10_000, max_delay=10.0)
    return hook_call_metrics(module.RequestContextMiddleware(shedding), services=SERVICES)


async def _per_call_us(app: Any, scope: dict[str, Any], calls: int) -> float:
    for _ in range(500):  # warm-up
        await app(dict(scope), _receive, _send)
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            await app(dict(scope), _receive, _send)
        runs.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(runs)


async def _bare(calls: int, scope: dict[str, Any]) -> float:
    return await _per_call_us(_answer, scope, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--before", type=Path, help="a checkout of the code before the fold")
    args = parser.parse_args()
    apps = {"folded (Edge)": folded()}
    if args.before is not None:
        apps["stacked (3 layers)"] = stacked(args.before)
    for label, scope in (("hook call", HOOK), ("GET", GET)):
        bare = asyncio.run(_bare(args.calls, scope))
        for name, app in apps.items():
            total = asyncio.run(_per_call_us(app, scope, args.calls))
            print(f"{label:9} {name:20} {total - bare:6.1f} us per call (app alone {bare:.1f} us)")


if __name__ == "__main__":
    main()
