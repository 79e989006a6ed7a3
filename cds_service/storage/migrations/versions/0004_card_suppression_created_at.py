"""An index on card_suppression.created_at: each instance reads the overrides stored since its last
refresh into its in-memory snapshot (issue 13: no database call on the request path). Additive only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_card_suppression_created_at", "card_suppression", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_card_suppression_created_at", "card_suppression")
