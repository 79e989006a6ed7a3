"""JWT `jti` replay protection: the contract any replay store implements.

CDS Hooks 2.0 asks the service to reject a token whose `jti` it has already accepted
within the token's lifetime. With several workers or instances the memory of seen `jti`s
must be shared (a database table); a single process can use `InMemoryReplayCache`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable


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
