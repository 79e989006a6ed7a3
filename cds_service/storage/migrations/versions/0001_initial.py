"""Audit trail (hook_call, card_shown), feedback and the JWT replay cache (seen_jti).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hook_call",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hook_instance", sa.String(200), nullable=False),
        sa.Column("service_id", sa.String(200), nullable=False),
        sa.Column("hook", sa.String(100), nullable=False),
        sa.Column("client", sa.String(500)),
        sa.Column("patient_hash", sa.String(64)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
    )
    op.create_index("ix_hook_call_received_at", "hook_call", ["received_at"])
    op.create_index("ix_hook_call_hook_instance", "hook_call", ["hook_instance"])

    op.create_table(
        "card_shown",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hook_call_id", sa.Integer, sa.ForeignKey("hook_call.id", ondelete="CASCADE"), nullable=False),
        sa.Column("service_id", sa.String(200), nullable=False),
        sa.Column("card_uuid", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(200)),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("summary", sa.String(300), nullable=False),
        sa.Column("suggestion_uuids", sa.Text, nullable=False),
        sa.Column("override_reasons", sa.Text, nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_card_shown_service_card", "card_shown", ["service_id", "card_uuid"])
    op.create_index("ix_card_shown_shown_at", "card_shown", ["shown_at"])

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.String(200), nullable=False),
        sa.Column("card_uuid", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.Text, nullable=False),
        sa.Column("reason_code", sa.String(200)),
        sa.Column("reason_system", sa.String(500)),
        sa.Column("reason_display", sa.String(500)),
        sa.Column("has_comment", sa.Boolean, nullable=False),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(500)),
        sa.Column("item_digest", sa.String(64), nullable=False),
        sa.UniqueConstraint("service_id", "item_digest", name="uq_feedback_item"),
    )
    op.create_index("ix_feedback_service_card", "feedback", ["service_id", "card_uuid"])
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])

    op.create_table(
        "seen_jti",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("jti", sa.String(300), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("issuer", "jti", name="uq_seen_jti_issuer_jti"),
    )
    op.create_index("ix_seen_jti_expires_at", "seen_jti", ["expires_at"])


def downgrade() -> None:
    op.drop_table("seen_jti")
    op.drop_table("feedback")
    op.drop_table("card_shown")
    op.drop_table("hook_call")
