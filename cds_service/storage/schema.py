"""Tables of the audit trail, feedback and JWT replay cache (the Alembic migrations create them).

No patient data: `hook_call.patient_hash` is a keyed hash, feedback keeps whether a comment was
written but not the comment itself.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

hook_call = Table(
    "hook_call",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hook_instance", String(200), nullable=False),
    Column("service_id", String(200), nullable=False),
    Column("hook", String(100), nullable=False),
    Column("client", String(500)),
    Column("patient_hash", String(64)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("record_key", String(64)),  # per record: a replayed spool writes each record once
    # The draft orders in scope as the call saw them (JSON [{order, rxcui, mg_per_day, supply_days}], the
    # order as a keyed hash): whether an accepted suggestion was applied is read from the next call.
    Column("drafts", Text),
    Index("ix_hook_call_received_at", "received_at"),
    Index("ix_hook_call_hook_instance", "hook_instance"),
    Index("uq_hook_call_record_key", "record_key", unique=True),
)

card_shown = Table(
    "card_shown",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hook_call_id", Integer, ForeignKey("hook_call.id", ondelete="CASCADE"), nullable=False),
    Column("service_id", String(200), nullable=False),
    Column("card_uuid", String(200), nullable=False),
    Column("topic", String(200)),
    Column("indicator", String(16), nullable=False),
    Column("summary", String(300), nullable=False),
    Column("suggestion_uuids", Text, nullable=False, default=""),  # space-separated
    Column("override_reasons", Text, nullable=False, default="[]"),  # JSON [[code, display], ...]
    Column("shown_at", DateTime(timezone=True), nullable=False),
    Column("suppression_key", String(64)),  # what an override of this card would suppress (None: never)
    Column("suppressed", Boolean, nullable=False, default=False),  # held back by an earlier override
    # Issue 20. The same card about the same orders for the same patient and client (keyed hash); set on
    # order-select warnings and infos: an unchanged order's card is not repeated at order-sign.
    Column("repeat_key", String(64)),
    # One decision: the same card about the same orders in one encounter (or hour); analytics count these.
    Column("decision_key", String(64)),
    Column("intents", Text),  # JSON {suggestion uuid: what applying it leads to}
    Column("not_repeated", Boolean, nullable=False, default=False),  # held back at signing: seen at select
    Index("ix_card_shown_service_card", "service_id", "card_uuid"),
    Index("ix_card_shown_shown_at", "shown_at"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_id", String(200), nullable=False),
    Column("card_uuid", String(200), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", Text, nullable=False, default=""),  # space-separated uuids
    Column("reason_code", String(200)),
    Column("reason_system", String(500)),
    Column("reason_display", String(500)),
    Column("has_comment", Boolean, nullable=False, default=False),
    Column("outcome_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("client", String(500)),
    Column("item_digest", String(64), nullable=False),
    UniqueConstraint("service_id", "item_digest", name="uq_feedback_item"),
    Index("ix_feedback_service_card", "service_id", "card_uuid"),
    Index("ix_feedback_received_at", "received_at"),
)

# An overridden card not to show again to the same patient (same client, topic, drug and facts)
# until `expires_at`. Looked up by primary key on the request path, shared by every instance.
card_suppression = Table(
    "card_suppression",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("client", String(500)),
    Column("topic", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_card_suppression_expires_at", "expires_at"),
    Index("ix_card_suppression_created_at", "created_at"),
)

seen_jti = Table(
    "seen_jti",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("issuer", String(500), nullable=False),
    Column("jti", String(300), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("issuer", "jti", name="uq_seen_jti_issuer_jti"),
    Index("ix_seen_jti_expires_at", "expires_at"),
)
