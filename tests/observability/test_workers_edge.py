"""Issue 21 under `cds-service serve --workers 2`: the drain without resets and the admission limits
hold in every worker, not only with one process. uvicorn's supervisor starts plain servers (no
backlog sweep) and kept its own copy of the listening socket open until it exited: connections
made after the last worker stopped accepting waited in a backlog no one read, then were reset.
Then 4 calls in ~209,000 still were (4 of 90 drains): each reached the backlog between the last
worker's sweep and its close; now the listener drops new connection requests before the sweep
(`protocol.server`). Real processes, clients on raw sockets and the client-side probe, bounded loops on loopback.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.observability.test_drain_no_resets import drain_under_clients
from tests.support.fhir import SERVICE_IDS, draft, hook_request
from tests.support.probe import probe
from tests.support.processes import clean_env, free_port, running

pytestmark = pytest.mark.ops


def test_sigterm_drain_with_two_workers_answers_every_accepted_connection(tmp_path: Path) -> None:
    env = clean_env(
        CDS_STORAGE_ENABLED="false",
        CDS_LOG_LEVEL="WARNING",
        CDS_DRAIN_DELAY_SECONDS="0.5",
        CDS_LARGE_REQUEST_PROCESSES="0",
        CDS_MAX_QUEUE_DELAY_MS="10000",
        CDS_MAX_REQUEST_WAIT_MS="10000",  # shedding is tested below; here every call is answered
        CDS_MAX_CONCURRENT_HOOK_CALLS="256",
    )
    exit_code, outcomes, log = drain_under_clients(env, tmp_path, "--workers", "2", settle_s=1.5, stop_s=60)
    counts = {outcome: outcomes.count(outcome) for outcome in set(outcomes)}
    assert exit_code in (0, -signal.SIGTERM), log[-2000:]
    assert counts.get("200", 0) > 20 and counts.get("refused", 0) > 0, counts
    assert not [o for o in outcomes if o.startswith("reset")], counts
    assert set(counts) <= {"200", "503", "refused"}, counts


def test_two_workers_each_shed_past_their_limit_and_every_refusal_is_counted(tmp_path: Path) -> None:
    """The limits are per worker (two workers admit twice CDS_MAX_CONCURRENT_HOOK_CALLS); the refusals
    of both workers reach `cds_load_shed_total` on the supervisor's metrics port."""
    from tests.protocol.test_overload_probe import _bodies

    typical, _ = _bodies()
    metrics_port = free_port()
    env = clean_env(
        CDS_STORAGE_ENABLED="false",
        CDS_LOG_LEVEL="WARNING",
        CDS_METRICS_PORT=str(metrics_port),
        CDS_MAX_CONCURRENT_HOOK_CALLS="2",
        CDS_LARGE_REQUEST_PROCESSES="0",
    )
    with running(env, tmp_path / "serve.log", "--dev", "--workers", "2") as server:
        result = asyncio.run(
            probe(f"{server.base}/cds-services/{SERVICE_IDS['order-select']}", typical, connections=40, seconds=3,
                  timeout=30)
        )  # fmt: skip
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    shed = re.findall(r'^cds_load_shed_total\{reason="([^"]+)"\} (\S+)$', text, re.MULTILINE)
    refused = result.of(status=503)
    statuses = {c.status for c in result.calls}
    assert statuses <= {200, 503}, result.summary()
    assert refused and result.of(status=200), result.summary()
    assert sum(float(n) for _, n in shed) == len(refused), (shed, len(refused))
    assert {reason for reason, n in shed if float(n)} == {"calls_in_progress"}, shed  # the limit, nothing else


def _workers(supervisor: int) -> set[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return {int(pid) for pid in children if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()}


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the workers from /proc")
def test_a_worker_retired_alone_leaves_the_listener_to_the_others(tmp_path: Path) -> None:
    """SIGTTOU retires one worker (SIGHUP, a restart, retires each in turn): it drains without
    stopping the listening socket it shares with the other (that is only done when the whole
    service stops), so the service keeps taking new connections."""
    env = clean_env(CDS_STORAGE_ENABLED="false", CDS_LOG_LEVEL="WARNING", CDS_DRAIN_DELAY_SECONDS="0.2")
    request = hook_request("order-sign", drafts=[draft("197381", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)])
    url = f"/cds-services/{SERVICE_IDS['order-sign']}"
    with running(env, tmp_path / "serve.log", "--dev", "--workers", "2") as server:
        assert len(_workers(server.proc.pid)) == 2
        server.proc.send_signal(signal.SIGTTOU)
        for _ in range(600):  # the retired worker has ended (bounded: 30 s)
            if len(_workers(server.proc.pid)) == 1:
                break
            time.sleep(0.05)
        assert len(_workers(server.proc.pid)) == 1, server.log.read_text()[-2000:]
        statuses = [httpx.post(server.base + url, json=request, timeout=5).status_code for _ in range(20)]
    assert statuses == [200] * 20, statuses
