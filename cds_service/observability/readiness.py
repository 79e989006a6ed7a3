"""Liveness, readiness and draining.

- live: the process answers HTTP. Nothing else: a slow database must not get every pod restarted.
- ready: able to take hook calls now. A process is ready once its start-up is done (migrations
  attempted, warm-up run: the process does not even listen before that), not after SIGTERM
  (draining), and not while a *required* dependency is down.

Required means: without it this instance answers wrongly, not merely with less audit. Given the
audit spool, the audit database is NOT required: while it is down, rows wait on disk and are
written once when it is back, and the cards are unaffected (`/health` says `degraded`). It is
required only when
  * the JWT replay store is the database (or Redis) under `CDS_REPLAY_OUTAGE=reject`: every
    authenticated call would be refused with 401 while it is down, and a 503 from a balancer
    with no ready instance is the truthful answer (retryable, not "your token is bad"); or
  * the audit trail has no spool (`CDS_AUDIT_SPOOL_MAX_BYTES=0`): each call would lose its row.
Dependencies are probed in the background (`refresh`, every couple of seconds, bounded): the
readiness endpoint itself never waits for a database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("cds_service.readiness")

PROBE_INTERVAL_SECONDS = 2.0


@dataclass
class Dependency:
    """A required dependency: `probe()` answers True when it works (bounded by the probe itself)."""

    name: str
    why: str
    probe: Callable[[], Awaitable[bool]]
    ok: bool = True
    checked_at: float = field(default=float("-inf"))
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        try:
            ok = bool(await self.probe())
        except Exception:  # a probe that raises is a failed probe
            ok = False
        if ok != self.ok:
            log.warning(
                "readiness: %s %s", self.name, "is back" if ok else "is down: not ready", extra={"reason": self.why}
            )
        self.ok = ok
        self.checked_at = time.monotonic()


class Readiness:
    def __init__(self, dependencies: list[Dependency] | None = None) -> None:
        self.phase = "starting"  # starting -> ready -> draining
        self.dependencies = dependencies or []
        self.warm_up_ms: float | None = None
        self.draining_since: float | None = None

    def mark_ready(self, warm_up_ms: float) -> None:
        self.warm_up_ms = round(warm_up_ms, 1)
        if self.phase == "starting":
            self.phase = "ready"

    def start_draining(self, why: str | None = None) -> None:
        if self.phase != "draining":
            self.phase = "draining"
            self.draining_since = time.monotonic()
            if why:
                log.warning("draining (%s): /health/ready answers 503 from now on", why)

    @property
    def draining(self) -> bool:
        return self.phase == "draining"

    def is_ready(self) -> bool:
        return self.phase == "ready" and all(d.ok for d in self.dependencies)

    def refresh(self, interval: float = PROBE_INTERVAL_SECONDS) -> None:
        """Start a probe of each dependency last checked more than `interval` ago (one at a time each)."""
        now = time.monotonic()
        for dependency in self.dependencies:
            if (dependency._task is None or dependency._task.done()) and now - dependency.checked_at >= interval:
                dependency._task = asyncio.get_running_loop().create_task(
                    dependency._run(), name=f"probe-{dependency.name}"
                )

    async def settle(self) -> None:
        """Probe every dependency now and wait for the answers (start-up, tests)."""
        for dependency in self.dependencies:
            dependency.checked_at = float("-inf")
        self.refresh()
        tasks = [d._task for d in self.dependencies if d._task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        """Cancel probes still running (shutdown)."""
        for dependency in self.dependencies:
            if dependency._task is not None and not dependency._task.done():
                dependency._task.cancel()

    def report(self) -> tuple[bool, dict[str, object]]:
        ready = self.is_ready()
        body: dict[str, object] = {
            "status": "ready" if ready else ("not ready" if self.phase == "ready" else self.phase)
        }
        if self.dependencies:
            body["required"] = {d.name: "up" if d.ok else "down" for d in self.dependencies}
        if self.warm_up_ms is not None:
            body["warm_up_ms"] = self.warm_up_ms
        return ready, body
