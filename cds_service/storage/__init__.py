"""Audit trail, feedback and analytics storage (SQLite by default, PostgreSQL for several instances).

The edge hands every finished hook call to `app.state.recorder.record_hook_call(...)`; the
recorder must return at once and write off the request path, so that a slow or stopped database
never costs a clinician a card.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CardRecord:
    uuid: str
    topic: str | None
    indicator: str
    summary: str
    suggestion_uuids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HookCallRecord:
    hook_instance: str
    service_id: str
    hook: str
    received_at: datetime
    latency_ms: float
    outcome: str  # "ok" | "412" | "400" | "error"
    patient_id: str | None  # raw id: the recorder stores only its keyed hash
    client: str | None  # authenticated client issuer
    cards: tuple[CardRecord, ...] = field(default_factory=tuple)


class NullRecorder:
    """Records nothing (storage disabled)."""

    def record_hook_call(self, record: HookCallRecord) -> None:
        return None

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
