"""Plain records passed between the protocol edge and the storage layer.

They carry only what the audit trail needs. The raw patient id travels in `HookCallRecord`
solely so the recorder can turn it into a keyed hash; it is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime

from cds_service.cdshooks import random_bytes


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
    # Under which key an override of this card suppresses it (None: never suppressed, e.g. critical).
    suppression_key: str | None = None
    suppressed: bool = False  # not shown: an earlier override of the same card still holds
    # Issue 20: set on order-select warnings and infos (an unchanged order's card is not repeated at
    # signing); the decision the card belongs to (analytics count decisions, not form edits).
    repeat_key: str | None = None
    decision_key: str | None = None
    intents: str | None = None  # JSON {suggestion uuid: {order, mg_per_day, supply_days, rxcui, remove}}
    not_repeated: bool = False  # not shown at signing: shown at order-select for the unchanged order


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
    drafts: str | None = None  # JSON [{order, rxcui, mg_per_day, supply_days}] of the drafts in scope
    # Identifies this record (not the hookInstance, which a retried call repeats): a record
    # replayed from the spool is written once however often it is replayed.
    # (128 random bits as hex, as uuid4().hex without the UUID object: one per hook call.)
    record_key: str = field(default_factory=lambda: random_bytes(16).hex())


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


def suppression_key(
    secret: str, client: str | None, patient_id: str | None, topic: str | None, fingerprint: str
) -> str | None:
    """The key an overridden card is remembered under: the same card (topic, drug and the facts that
    made it, as the rule's fingerprint says) for the same patient and client. Keyed with the patient
    hash secret, so the key reveals nothing; None without a patient or a topic."""
    if not patient_id or not topic or not fingerprint:
        return None
    message = "\x1f".join((client or "", patient_id, topic, fingerprint))
    return hmac.digest(secret.encode(), message.encode(), "sha256").hex()


def keyed(secret: str, *parts: str | None) -> str:
    """A keyed hash of `parts` (HMAC-SHA256 under the patient hash secret): reveals nothing stored."""
    message = "\x1f".join([part or "" for part in parts])
    # hmac.digest: the same HMAC-SHA256 in one C call (hmac.new built a Python object per key: several
    # per hook call, on the request path)
    return hmac.digest(secret.encode(), message.encode(), "sha256").hex()


def repeat_key(
    secret: str,
    client: str | None,
    patient_id: str | None,
    topic: str | None,
    fingerprint: str,
    about: tuple[str, ...],
) -> str | None:
    """The same card (topic and facts) about the same orders for the same patient and client."""
    if not patient_id or not topic or not fingerprint or not about:
        return None
    return keyed(secret, "repeat", client, patient_id, topic, fingerprint, *sorted(about))


def order_key(secret: str, client: str | None, patient_id: str | None, reference: str) -> str:
    """An order as a keyed hash: its reference means nothing outside the EHR, but is kept out anyway."""
    return keyed(secret, "order", client, patient_id, reference)


def patient_pseudonym(patient_id: str | None, secret: str) -> str | None:
    """HMAC-SHA256 of the patient id under the configured secret (hex): stable per secret, opaque."""
    if not patient_id:
        return None
    return hmac.digest(secret.encode(), patient_id.encode(), "sha256").hex()


class StorageUnavailable(Exception):
    """The database could not be reached for a request that needs it (feedback, analytics)."""


class StorageDisabled(Exception):
    """Storage is turned off (`CDS_STORAGE_ENABLED=false`): there is no audit trail to consult."""


# "Age 95", "aged 93", "95 years old", "95-year-old", "95 yo": ages over 89 identify a patient
# under HIPAA Safe Harbor (45 CFR 164.514(b)(2)(i)(C)) and are stored as "90+".
_AGE_BEFORE = re.compile(r"(?i)\b(age[sd]?|aged|patient is)(\s*:?\s*)(\d{2,3})\b")
_AGE_AFTER = re.compile(r"(?i)\b(\d{2,3})(\s*-?\s*(?:years?|yrs?|yo|y/o)\b)")


def scrub_ages(text: str) -> str:
    """`text` with every age above 89 replaced by "90+" (card summaries kept in the audit trail)."""

    def before(match: re.Match[str]) -> str:
        return match.group(0) if int(match.group(3)) < 90 else f"{match.group(1)}{match.group(2)}90+"

    def after(match: re.Match[str]) -> str:
        return match.group(0) if int(match.group(1)) < 90 else f"90+{match.group(2)}"

    return _AGE_AFTER.sub(after, _AGE_BEFORE.sub(before, text))
