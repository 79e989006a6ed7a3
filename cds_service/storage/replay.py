"""JWT `jti` replay cache on the shared database, so several instances reject the same token.

The unique constraint on (issuer, jti) makes the check atomic across processes: the first INSERT
wins, a second one violates the constraint and is a replay. A row whose token has expired may
be reused (its `jti` can no longer authenticate anything). If the database is unreachable the
cache falls back to per-process memory: replay protection narrows to one process for the
outage instead of every hook call failing with 401 (which would cost clinicians their cards).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cds_service.auth.replay import InMemoryReplayCache
from cds_service.storage import schema
from cds_service.storage.db import describe_db_error, utc

log = logging.getLogger("cds_service.storage")

PURGE_INTERVAL_SECONDS = 300.0


class SqlReplayCache:
    """`ReplayCache` on the `seen_jti` table (created by the storage migrations)."""

    def __init__(self, engine: Engine, purge_interval_seconds: float = PURGE_INTERVAL_SECONDS) -> None:
        self.engine = engine
        self.purge_interval_seconds = purge_interval_seconds
        self._next_purge = 0.0
        self._fallback = InMemoryReplayCache()
        self.fallback_uses = 0

    async def check_and_store(self, jti: str, issuer: str, expires_at: datetime) -> bool:
        try:
            return await asyncio.to_thread(self._check_and_store, jti, issuer, utc(expires_at))
        except SQLAlchemyError as exc:
            self.fallback_uses += 1
            log.error("replay cache database unavailable, using process memory: %s", describe_db_error(exc))
            return await self._fallback.check_and_store(jti, issuer, expires_at)

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
