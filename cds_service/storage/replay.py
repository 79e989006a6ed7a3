"""JWT `jti` replay cache on the shared database, so several instances reject the same token.

The unique constraint on (issuer, jti) makes the check atomic across processes: the first INSERT
wins, a second one violates the constraint and is a replay. A row whose token has expired may
be reused (its `jti` can no longer authenticate anything). Every check runs through the
recorder's `DbGate` (bounded time, breaker); a failure raises, and the authenticator's outage
policy (`CDS_REPLAY_OUTAGE`) decides between refusing the token and per-process memory.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError

from cds_service.storage import schema
from cds_service.storage.db import utc
from cds_service.storage.gate import DbGate

PURGE_INTERVAL_SECONDS = 300.0


class SqlReplayCache:
    """`ReplayCache` on the `seen_jti` table (created by the storage migrations)."""

    def __init__(
        self, engine: Engine, gate: DbGate | None = None, purge_interval_seconds: float = PURGE_INTERVAL_SECONDS
    ) -> None:
        self.engine = engine
        self.gate = gate or DbGate("replay", 2.5)
        self.purge_interval_seconds = purge_interval_seconds
        self._next_purge = 0.0

    async def check_and_store(self, jti: str, issuer: str, expires_at: datetime) -> bool:
        """True if unseen (and now recorded); raises when the database cannot answer in time."""
        return await self.gate.call(self._check_and_store, jti, issuer, utc(expires_at))

    def _check_and_store(self, jti: str, issuer: str, expires_at: datetime) -> bool:
        now = datetime.now(UTC)
        self._maybe_purge(now)
        try:
            with self.engine.begin() as conn:
                conn.execute(schema.seen_jti.insert().values(issuer=issuer, jti=jti, expires_at=expires_at))
            return True
        except IntegrityError:
            pass
        # Seen before: a replay unless that earlier token has expired (then the row is stale).
        with self.engine.begin() as conn:
            revived = conn.execute(
                update(schema.seen_jti)
                .where(
                    schema.seen_jti.c.issuer == issuer,
                    schema.seen_jti.c.jti == jti,
                    schema.seen_jti.c.expires_at <= now,
                )
                .values(expires_at=expires_at)
            )
        return revived.rowcount == 1

    def _maybe_purge(self, now: datetime) -> None:
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self.purge_interval_seconds
        with self.engine.begin() as conn:
            conn.execute(delete(schema.seen_jti).where(schema.seen_jti.c.expires_at < now))
