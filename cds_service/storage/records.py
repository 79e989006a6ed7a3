"""Plain records passed between the protocol edge and the storage layer.

They carry only what the audit trail needs. The raw patient id travels in `HookCallRecord`
solely so the recorder can turn it into a keyed hash; it is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CardRecord:
    uuid: str
    topic: str | None
    indicator: str
    summary: str
    suggestion_uuids: tuple[str, ...] = ()
    # (code, display) of the card's overrideReasons: lets the report name a reason that a client
    # echoed without its display (the sandbox sends only code and system).
    override_reasons: tuple[tuple[str, str], ...] = ()


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


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    """One feedback item, normalized from any client dialect (spec, Epic, sandbox)."""

    card_uuid: str
    outcome: str  # "accepted" | "overridden"
    outcome_at: datetime  # UTC
    accepted_suggestions: tuple[str, ...] = ()
    reason_code: str | None = None
    reason_system: str | None = None
    reason_display: str | None = None
    has_comment: bool = False  # the free text itself is not stored: it may name the patient
    index: int = 0  # position in the request, for error messages

    def identity(self) -> str:
        """A digest of what the clinician did: equal digests mean the same item was re-sent."""
        parts = (
            self.card_uuid,
            self.outcome,
            self.outcome_at.isoformat(),
            ",".join(sorted(self.accepted_suggestions)),
            self.reason_system or "",
            self.reason_code or "",
            "1" if self.has_comment else "0",
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class FeedbackProblem:
    index: int
    field: str  # e.g. "card", "acceptedSuggestions[0].id"
    message: str
    not_found: bool = False  # unknown card: the client may send feedback for a card we never issued


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    stored: int
    duplicates: int
    problems: tuple[FeedbackProblem, ...] = ()


def patient_pseudonym(patient_id: str | None, secret: str) -> str | None:
    """HMAC-SHA256 of the patient id under the configured secret (hex): stable per secret, opaque."""
    if not patient_id:
        return None
    return hmac.new(secret.encode(), patient_id.encode(), hashlib.sha256).hexdigest()


class StorageUnavailable(Exception):
    """The database could not be reached for a request that needs it (feedback, analytics)."""


class StorageDisabled(Exception):
    """Storage is turned off (`CDS_STORAGE_ENABLED=false`): there is no audit trail to consult."""
