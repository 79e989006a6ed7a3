"""card_suppression, and card_shown.suppression_key / suppressed: overrides that stick.

An overridden card is not shown again to the same patient for a configured period unless the
facts that made it change (issue 12). Additive only, so instances on 0002 keep running during a
rolling upgrade (expand first; nothing is dropped).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_suppression",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("client", sa.String(500)),
        sa.Column("topic", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_card_suppression_expires_at", "card_suppression", ["expires_at"])
    with op.batch_alter_table("card_shown") as batch:
        batch.add_column(sa.Column("suppression_key", sa.String(64)))
        batch.add_column(sa.Column("suppressed", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("card_shown") as batch:
        batch.drop_column("suppressed")
        batch.drop_column("suppression_key")
    op.drop_index("ix_card_suppression_expires_at", "card_suppression")
    op.drop_table("card_suppression")
