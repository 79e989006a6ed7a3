"""JWT `jti` replay protection: the contract any replay store implements.

CDS Hooks 2.0 asks the service to reject a token whose `jti` it has already accepted
within the token's lifetime. With several workers or instances the memory of seen `jti`s
must be shared (the database's `seen_jti` table, or Redis); a single process can use
`InMemoryReplayCache`. `GuardedReplayCache` decides what a store outage means.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from cds_service.auth.outage import Breaker, ThrottledLog

log = logging.getLogger("cds_service.auth")


@runtime_checkable
class ReplayCache(Protocol):
    """Remembers `(issuer, jti)` pairs until the token they came with has expired."""

    async def check_and_store(self, jti: str, issuer: str, expires_at: datetime) -> bool:
        """Record `(issuer, jti)` and return True if it was unseen; False means a replay.

        Must be atomic: two concurrent calls with the same pair return True at most once.
        `expires_at` is timezone-aware UTC (the token's `exp` plus clock skew); the entry
        may be forgotten after it.
        """
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InMemoryReplayCache:
    """Per-process replay cache; correct only with one worker and one instance.

    `check_and_store` never awaits between the lookup and the insert, so it is atomic under
    asyncio without a lock (and usable from several event loops, as TestClient does).
    When full it forgets the entries that expire soonest: bounded memory beats an outage.
    """

    def __init__(self, clock: Callable[[], datetime] = _utcnow, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._seen: dict[tuple[str, str], datetime] = {}

    async def check_and_store(self, jti: str, issuer: str, expires_at: datetime) -> bool:
        now = self._clock()
        key = (issuer, jti)
        known_until = self._seen.get(key)
        if known_until is not None and known_until > now:
            return False
        if len(self._seen) >= self._max_entries:
            self._purge(now)
        self._seen[key] = expires_at
        return True

    def _purge(self, now: datetime) -> None:
        """Drop expired entries; if still full, drop the soonest-expiring (they are least useful)."""
        self._seen = {k: v for k, v in self._seen.items() if v > now}
        overflow = len(self._seen) - self._max_entries + 1
        if overflow > 0:
            for key, _ in sorted(self._seen.items(), key=lambda item: item[1])[:overflow]:
                del self._seen[key]


class ReplayStoreUnavailable(Exception):
    """The shared replay store failed and the outage policy is to refuse tokens."""


class RedisReplayCache:
    """`ReplayCache` on Redis: `SET key 1 NX EX ttl` is atomic across every instance.

    One asyncio client per event loop (a redis-py connection belongs to the loop that opened
    it). Each call is bounded by `timeout` (connect, read and overall) and a breaker, so a
    frozen Redis costs a call at most `timeout` and the next calls nothing until it is back.
    Keys hold a hash of the issuer and the `jti` (never the token) and expire with the token.
    """

    def __init__(self, url: str, *, timeout: float, cooldown: float = 2.0) -> None:
        self.url = url
        self.timeout = timeout
        self.breaker = Breaker(cooldown)
        self._clients: dict[int, Any] = {}

    def _client(self) -> Any:
        import redis.asyncio as redis  # the store is optional: import only when chosen

        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            client = redis.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout, retry=None
            )
            self._clients[loop_id] = client
        return client

    @staticmethod
    def key(jti: str, issuer: str) -> str:
        return f"cds:jti:{hashlib.sha256(issuer.encode()).hexdigest()[:24]}:{jti}"

    async def check_and_store(self, jti: str, issuer: str, expires_at: datetime) -> bool:
        if self.breaker.is_open:
            raise ConnectionError("redis failed recently; not retried yet")
        ttl = max(1, math.ceil((expires_at - _utcnow()).total_seconds()))
        try:
            async with asyncio.timeout(self.timeout):
                stored = await self._client().set(self.key(jti, issuer), b"1", nx=True, ex=ttl)
        except Exception:
            self.breaker.trip()
            self._clients.pop(id(asyncio.get_running_loop()), None)  # reconnect afresh next time
            raise
        return bool(stored)

    async def ping(self) -> bool:
        """Readiness probe: Redis answers PING within `timeout`. Never raises."""
        if self.breaker.is_open:
            return False
        try:
            async with asyncio.timeout(self.timeout):
                return bool(await self._client().ping())
        except Exception:
            self._clients.pop(id(asyncio.get_running_loop()), None)
            return False

    async def aclose(self) -> None:
        client = self._clients.pop(id(asyncio.get_running_loop()), None)
        if client is not None:
            await client.aclose()


class GuardedReplayCache:
    """A shared store with an outage policy (`CDS_REPLAY_OUTAGE`).

    `reject` (default): when the store fails, the token is refused (401) — with several
    instances, per-process memory would let a token used on A be accepted again on B.
    `memory`: this process's memory takes over for the outage (replays across instances pass).
    Either way the outage is logged at most once per interval, with the count held back.
    """

    def __init__(self, store: ReplayCache, policy: str = "reject", *, name: str = "replay store") -> None:
        if policy not in ("reject", "memory"):
            raise ValueError(f"replay outage policy must be reject or memory, not {policy!r}")
        self.store = store
        self.policy = policy
        self.name = name
        self._memory = InMemoryReplayCache()
        self._log = ThrottledLog(log)
        self.failures = 0
        self.fallback_uses = 0

    async def check_and_store(self, jti: str, issuer: str, expires_at: datetime) -> bool:
        try:
            return await self.store.check_and_store(jti, issuer, expires_at)
        except Exception as exc:
            self.failures += 1
            action = "tokens are refused" if self.policy == "reject" else "this process's memory is used"
            self._log.error(
                "JWT replay store (%s) unavailable; %s until it answers",
                self.name,
                action,
                error_type=type(exc).__name__,
            )
            if self.policy == "memory":
                self.fallback_uses += 1
                return await self._memory.check_and_store(jti, issuer, expires_at)
            raise ReplayStoreUnavailable(self.name) from exc

    async def aclose(self) -> None:
        closer = getattr(self.store, "aclose", None)
        if closer is not None:
            await closer()
