"""Overrides that stick (issue 12): which cards an unexpired override holds back, from an in-memory
snapshot of the unexpired rows refreshed in the background, so that the request path looks keys up
in memory instead of querying a database that the audit writer keeps busy (a SQLite read waits for
every write's commit). A mixin of `SqlRecorder`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from cds_service.auth.outage import ThrottledLog
from cds_service.storage import schema
from cds_service.storage.audit_writer import _WAKE, LOSS_LOG_INTERVAL_SECONDS, _Refresh
from cds_service.storage.db import utc
from cds_service.storage.gate import DbGate
from cds_service.storage.records import HookCallRecord, StorageUnavailable
from cds_service.storage.repeats import RepeatSnapshot
from cds_service.storage.sql_writes import read_suppressions

log = logging.getLogger("cds_service.storage")

# The override look-up waits at most this long on the request path before showing the cards.
SUPPRESSION_LOOKUP_TIMEOUT_SECONDS = 0.25
SUPPRESSION_SNAPSHOT_MAX = 100_000  # unexpired overrides held in memory (keys only: no patient data)
SUPPRESSION_REFRESH_TIMEOUT = 10.0


class OverrideSnapshot:
    """The override half of `SqlRecorder`; its attributes are set by `_init_overrides`."""

    def _init_overrides(self, settings: object | None) -> None:
        self._suppressions: dict[str, datetime] = {}
        self._suppression_watermark: datetime | None = None  # newest created_at read
        self._suppression_loaded_at: float | None = None  # monotonic time of the last good refresh
        self._suppression_task: asyncio.Task[None] | None = None
        self._suppression_lock = threading.Lock()  # feedback and refreshes write it from gate threads
        self._suppression_errors = ThrottledLog(log, LOSS_LOG_INTERVAL_SECONDS)
        self.suppression_refresh_seconds = float(getattr(settings, "suppression_refresh_seconds", 2.0))
        # Cards seen at order-select, not repeated at signing (issue 20): refreshed with the overrides,
        # held in the serving process (`ProcessRecorder` too: its writer process only writes).
        self.repeats = RepeatSnapshot()
        # Gates of their own, with their own breakers, for the override reads: a refresh that fails
        # or a stale-snapshot look-up that gives up after its short bound must neither make the
        # request gate (the JWT replay check, whose outage policy may refuse every call) nor the
        # writer's (audit rows would go to the spool) believe the database is down. The refresh
        # runs on the audit writer's turn (`_Refresh`).
        self.refresh_gate = DbGate("override-refresh", SUPPRESSION_REFRESH_TIMEOUT, threads=1)
        self.lookup_gate = DbGate("override-lookup", SUPPRESSION_LOOKUP_TIMEOUT_SECONDS, threads=2)

    async def suppressed_keys(self, keys: Collection[str]) -> set[str]:
        """Which of `keys` an unexpired override holds back, from the in-memory snapshot (no database
        call on the request path). While the snapshot is stale (its refreshes fail) one indexed query
        asks for the keys it does not hold. Fails open: when nothing can answer in time, the cards are
        shown (a card too many is safe, a missing one is not)."""
        now = datetime.now(UTC)
        held = {k for k in keys if (until := self._suppressions.get(k)) is not None and until > now}
        if self.suppressions_fresh():
            return held
        rest = [k for k in keys if k not in held]
        if not rest:
            return held
        try:
            found = await self.lookup_gate.call(self._suppressed_sync, rest, now)
        except (StorageUnavailable, SQLAlchemyError) as exc:
            self._suppression_errors.error("override look-up failed; cards shown: %s", type(exc).__name__)
            return held
        for key, until in found.items():
            self._remember_suppression(key, until)
        return held | set(found)

    def _remember_repeats(self, record: HookCallRecord) -> None:
        """This instance knows at once which cards order-select showed; the others on their next refresh."""
        for card in record.cards:
            if card.repeat_key and not card.suppressed and not card.not_repeated:
                self.repeats.remember(card.repeat_key, utc(record.received_at))

    async def repeated_keys(self, keys: Collection[str]) -> set[str]:
        """Which of `keys` were shown at order-select within the repeat window (from memory only)."""
        return self.repeats.held(keys, datetime.now(UTC))

    async def accepted_keys(self, keys: Collection[str]) -> dict[str, tuple[dict[str, Any], ...]]:
        """Which of `keys` had a suggestion accepted since order-select showed them, and its intents."""
        return self.repeats.accepted(keys, datetime.now(UTC))

    def suppressions_fresh(self) -> bool:
        """The snapshot was refreshed within three refresh periods."""
        loaded = self._suppression_loaded_at
        return loaded is not None and time.monotonic() - loaded <= 3 * self.suppression_refresh_seconds

    async def refresh_suppressions(self) -> bool:
        """Read the overrides stored since the last refresh (by any instance) into the snapshot, on
        the audit writer's turn (see `_Refresh`)."""
        request = _Refresh(datetime.now(UTC))
        try:
            if self._thread is None or not self._thread.is_alive():
                raise StorageUnavailable("the audit writer is not running")
            self._refreshes.append(request)
            with contextlib.suppress(queue.Full):  # a full queue: the writer is busy, and looks before each batch
                self._queue.put_nowait(_WAKE)
            await asyncio.wait_for(asyncio.wrap_future(request.future), SUPPRESSION_REFRESH_TIMEOUT)
        except Exception as exc:  # the snapshot stays as it is; look-ups go to the database meanwhile
            self._suppression_errors.error("override snapshot not refreshed: %s", type(exc).__name__)
            return False
        return True

    async def _refresh_suppressions_forever(self) -> None:
        while True:
            await asyncio.sleep(self.suppression_refresh_seconds)
            await self.refresh_suppressions()

    def _refresh_suppressions_sync(self, now: datetime) -> None:
        if not self.schema_ready:
            self._ensure_schema()
        self._apply_suppressions(read_suppressions(self.engine, now, self._suppression_watermark), now)
        self.repeats.refresh_sync(self.engine, now)

    def _apply_suppressions(self, rows: list[tuple[str, datetime, datetime]], now: datetime) -> None:
        """Overrides read by a refresh (here or in the writer process) into the snapshot."""
        for key, until, created in rows:
            self._remember_suppression(key, until)
            if self._suppression_watermark is None or created > self._suppression_watermark:
                self._suppression_watermark = created
        with self._suppression_lock:
            for key in [key for key, until in self._suppressions.items() if until <= now]:
                del self._suppressions[key]
        self._suppression_loaded_at = time.monotonic()

    def _suppressed_sync(self, keys: list[str], now: datetime) -> dict[str, datetime]:
        if not self.schema_ready:
            self._ensure_schema()
        table = schema.card_suppression
        query = select(table.c.key, table.c.expires_at).where(table.c.key.in_(keys), table.c.expires_at > now)
        with self.engine.connect() as conn:
            return {key: utc(until) for key, until in conn.execute(query)}

    def _remember_suppression(self, key: str, until: datetime) -> None:
        with self._suppression_lock:
            known = self._suppressions.get(key)
            if known is None and len(self._suppressions) >= SUPPRESSION_SNAPSHOT_MAX:
                self._suppression_errors.error("override snapshot full; further overrides are not held")
                return
            if known is None or until > known:
                self._suppressions[key] = until
