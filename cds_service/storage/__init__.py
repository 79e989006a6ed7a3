"""Audit trail, feedback and analytics storage (SQLite by default, PostgreSQL for several instances).

The edge hands every finished hook call to `app.state.recorder.record_hook_call(...)`; the
recorder must return at once and write off the request path, so that a slow or stopped database
never costs a clinician a card.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from cds_service.storage.records import (
    CardRecord,
    FeedbackEntry,
    FeedbackProblem,
    FeedbackResult,
    HookCallRecord,
    StorageDisabled,
    StorageUnavailable,
    patient_pseudonym,
    suppression_key,
)

if TYPE_CHECKING:
    from cds_service.auth.replay import ReplayCache
    from cds_service.settings import Settings

__all__ = [
    "CardRecord",
    "FeedbackEntry",
    "FeedbackProblem",
    "FeedbackResult",
    "HookCallRecord",
    "NullRecorder",
    "Recorder",
    "StorageDisabled",
    "StorageUnavailable",
    "create_recorder",
    "patient_pseudonym",
    "suppression_key",
]

log = logging.getLogger("cds_service.storage")

DEFAULT_PATIENT_HASH_SECRET = "change-me"


class Recorder(Protocol):
    """What the edge needs from storage: audit, feedback, counters and the shared replay store."""

    replay_cache: ReplayCache | None  # a store shared by instances, or None (the authenticator's own)

    def record_hook_call(self, record: HookCallRecord) -> None:
        """Queue an audit record and return at once (written off the request path)."""
        ...

    async def record_feedback(
        self, service_id: str, entries: Sequence[FeedbackEntry], client: str | None, *, suppression_days: int = 0
    ) -> FeedbackResult:
        """Store feedback about cards issued to `client`; an override with a reason suppresses that card
        for `suppression_days` (never a critical one). Raises StorageUnavailable or StorageDisabled."""
        ...

    async def suppressed_keys(self, keys: Collection[str]) -> set[str]:
        """The keys an unexpired override holds back (fails open: empty when it cannot tell)."""
        ...

    async def repeated_keys(self, keys: Collection[str]) -> set[str]:
        """The repeat keys of cards shown at order-select lately, not to repeat at signing (memory only)."""
        ...

    async def accepted_keys(self, keys: Collection[str]) -> dict[str, tuple[dict[str, Any], ...]]:
        """Of `keys`, those whose card shown at order-select lately had a suggestion accepted: the
        accepted suggestions' intents (memory only)."""
        ...

    def stats(self) -> dict[str, Any] | None:
        """Audit counters for /health (pending, written, spooled, replayed, lost, database);
        None when nothing is recorded."""
        ...

    def degraded(self) -> bool:
        """True while the audit trail is not being written as it should (spooling, losing)."""
        ...

    def behind(self) -> bool:
        """True while the audit writer is at its back-pressure threshold: new hook calls are refused."""
        ...

    async def start(self) -> None: ...

    async def aclose(self, timeout: float = 5.0) -> None:
        """Write what is queued within `timeout` (the rest to the spool), then close."""
        ...


class NullRecorder:
    """Records nothing (storage disabled): no audit trail, so feedback cannot be checked either."""

    replay_cache: ReplayCache | None = None

    def record_hook_call(self, record: HookCallRecord) -> None:
        return None

    async def record_feedback(
        self, service_id: str, entries: Sequence[FeedbackEntry], client: str | None, *, suppression_days: int = 0
    ) -> FeedbackResult:
        raise StorageDisabled

    async def suppressed_keys(self, keys: Collection[str]) -> set[str]:
        return set()

    async def repeated_keys(self, keys: Collection[str]) -> set[str]:
        return set()  # no audit trail: nothing is known of what order-select showed

    async def accepted_keys(self, keys: Collection[str]) -> dict[str, tuple[dict[str, Any], ...]]:
        return {}

    def stats(self) -> dict[str, Any] | None:
        return None

    def degraded(self) -> bool:
        return False

    def behind(self) -> bool:
        return False

    async def start(self) -> None:
        return None

    async def aclose(self, timeout: float = 5.0) -> None:
        return None


def create_recorder(settings: Settings) -> Recorder:
    """The recorder the settings ask for; call `await recorder.start()` before use."""
    if not settings.storage_enabled:
        return NullRecorder()
    from cds_service.storage.recorder import SqlRecorder

    if settings.patient_hash_secret == DEFAULT_PATIENT_HASH_SECRET and not settings.dev:
        log.warning(
            "CDS_PATIENT_HASH_SECRET is the default: patient pseudonyms in the audit trail can be "
            "reversed by anyone who guesses patient ids; set a long random secret"
        )
    if settings.audit_writer == "process":
        from cds_service.storage.writer_process import ProcessRecorder

        return ProcessRecorder(settings.database_url, settings.patient_hash_secret, settings=settings)
    return SqlRecorder(settings.database_url, settings.patient_hash_secret, settings=settings)
