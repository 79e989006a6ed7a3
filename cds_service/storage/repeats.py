"""Cards not to repeat at signing (issue 20): seen at order-select for the same unchanged order.

A prescriber who saw a warning while filling the form, and did not act on it, signs: showing the same
card again for the same order with the same facts is noise. Critical cards are always shown again.

Like the overrides, across instances and off the request path: each instance keeps, in memory, the
repeat keys of cards shown at order-select within the window (keyed hashes, no patient data), puts its
own at once, and reads what the other instances wrote on the audit writer's refresh. A card whose
suggestion was accepted *is* shown again, with what was accepted (`accepted`): the clinician meant to
change the order, and the order at signing is the same (the same key: the facts behind the card did not
change), so the suggestion was not applied. Accepted feedback clears its key for the rest of the window
(an order-select that shows the card again does not undo the acceptance), on every instance through
the same refresh.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, select

from cds_service.storage import schema
from cds_service.storage.db import utc

REPEAT_WINDOW = timedelta(hours=4)  # "the last few hours": one sitting with the order form
REPEAT_SNAPSHOT_MAX = 200_000
OVERLAP = timedelta(seconds=10)  # re-read this much before the newest row seen (clocks, late commits)


class RepeatSnapshot:
    """Repeat keys seen at order-select (when), and keys cleared by an accepted suggestion (when)."""

    def __init__(self, window: timedelta = REPEAT_WINDOW) -> None:
        self.window = window
        self._seen: dict[str, datetime] = {}
        self._cleared: dict[str, datetime] = {}
        self._accepted: dict[str, tuple[dict[str, object], ...]] = {}  # key -> intents of accepted suggestions
        self._seen_mark: datetime | None = None
        self._cleared_mark: datetime | None = None
        self._lock = threading.Lock()

    def remember(self, key: str, at: datetime) -> None:
        with self._lock:
            known = self._seen.get(key)
            if known is None and len(self._seen) >= REPEAT_SNAPSHOT_MAX:
                return  # full: the card is shown again, which is safe
            if known is None or at > known:
                self._seen[key] = at

    def clear(self, key: str, at: datetime, intents: Collection[dict[str, object]] = ()) -> None:
        """An accepted suggestion of the card with `key` (what applying it leads to: `intents`)."""
        with self._lock:
            if key in self._seen and (self._cleared.get(key) is None or at > self._cleared[key]):
                self._cleared[key] = at
            if key in self._seen and intents:
                self._accepted[key] = tuple(intents)

    def held(self, keys: Collection[str], now: datetime) -> set[str]:
        """The keys shown at order-select within the window, none of whose suggestions was accepted."""
        return {k for k in keys if self._within(k, now) and k not in self._cleared}

    def accepted(self, keys: Collection[str], now: datetime) -> dict[str, tuple[dict[str, object], ...]]:
        """Of `keys`, those whose card had a suggestion accepted within the window: its intents."""
        return {k: self._accepted.get(k, ()) for k in keys if self._within(k, now) and k in self._cleared}

    def _within(self, key: str, now: datetime) -> bool:
        seen = self._seen.get(key)
        return seen is not None and now - seen <= self.window

    def marks(self) -> tuple[datetime | None, datetime | None]:
        """The newest order-select and acceptance times read so far (where the next read starts)."""
        return self._seen_mark, self._cleared_mark

    def refresh_sync(self, engine: Engine, now: datetime) -> None:
        """Read the order-select keys and the accepted suggestions stored since the last refresh."""
        seen_rows, accepted_rows = read_repeat_rows(engine, now, self.window, *self.marks())
        self.apply_rows(seen_rows, accepted_rows, now)

    def apply_rows(self, seen_rows: list[tuple[Any, ...]], accepted_rows: list[tuple[Any, ...]], now: datetime) -> None:
        """Rows read by `read_repeat_rows` (here, or in the audit writer process) into the snapshot."""
        for key, at in seen_rows:
            at = utc(at)
            self.remember(key, at)
            self._seen_mark = at if self._seen_mark is None or at > self._seen_mark else self._seen_mark
        for key, at, intents, chosen in accepted_rows:
            at = utc(at)
            self.clear(key, at, accepted_intents(intents, chosen))
            self._cleared_mark = at if self._cleared_mark is None or at > self._cleared_mark else self._cleared_mark
        with self._lock:
            for key in [k for k, at in self._seen.items() if now - at > self.window]:
                del self._seen[key]
                self._cleared.pop(key, None)
                self._accepted.pop(key, None)


def read_repeat_rows(
    engine: Engine,
    now: datetime,
    window: timedelta = REPEAT_WINDOW,
    seen_mark: datetime | None = None,
    cleared_mark: datetime | None = None,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The order-select keys and the accepted suggestions stored since the marks, as plain tuples (they
    travel from the audit writer process). Read where the audit rows are written: on SQLite a read from
    another process holds a shared lock that the writer's commit waits for, and a reading thread of a busy
    server, starved of the interpreter lock, held it past the 5 s busy timeout (measured: "database is
    locked", rows spooled and replayed, at the start of both full benchmark runs of 7 December)."""
    cs, fb = schema.card_shown, schema.feedback
    since = now - window
    shown = select(cs.c.repeat_key, cs.c.shown_at).where(cs.c.repeat_key.is_not(None), cs.c.shown_at >= since)
    if seen_mark is not None:
        shown = shown.where(cs.c.shown_at >= seen_mark - OVERLAP)
    accepted = (
        select(cs.c.repeat_key, fb.c.received_at, cs.c.intents, fb.c.accepted_suggestions)
        .join(cs, and_(cs.c.service_id == fb.c.service_id, cs.c.card_uuid == fb.c.card_uuid))
        .where(fb.c.outcome == "accepted", cs.c.repeat_key.is_not(None), fb.c.received_at >= since)
    )
    if cleared_mark is not None:
        accepted = accepted.where(fb.c.received_at >= cleared_mark - OVERLAP)
    with engine.connect() as conn:
        seen_rows = [tuple(row) for row in conn.execute(shown).all()]
        accepted_rows = [tuple(row) for row in conn.execute(accepted).all()]
    return seen_rows, accepted_rows


def accepted_intents(intents: str | None, chosen: str | None) -> tuple[dict[str, object], ...]:
    """The intents (card_shown.intents, by suggestion uuid) of the suggestions a feedback accepted."""
    by_uuid = json.loads(intents or "{}")
    return tuple(by_uuid[u] for u in (chosen or "").split() if isinstance(by_uuid.get(u), dict))
