"""Issue 20: what a card's suggestions lead to, the drafts each call saw, and the keys that make one
decision of many calls (a card counts once per order and encounter; an unchanged order's card is not
repeated at signing). Additive only: older instances keep writing without these columns.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hook_call", sa.Column("drafts", sa.Text(), nullable=True))
    op.add_column("card_shown", sa.Column("repeat_key", sa.String(64), nullable=True))
    op.add_column("card_shown", sa.Column("decision_key", sa.String(64), nullable=True))
    op.add_column("card_shown", sa.Column("intents", sa.Text(), nullable=True))
    op.add_column("card_shown", sa.Column("not_repeated", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("card_shown") as batch:
        batch.drop_column("not_repeated")
        batch.drop_column("intents")
        batch.drop_column("decision_key")
        batch.drop_column("repeat_key")
    with op.batch_alter_table("hook_call") as batch:
        batch.drop_column("drafts")
