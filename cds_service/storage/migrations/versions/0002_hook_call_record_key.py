"""hook_call.record_key: one key per audit record, so a spooled record replayed after an outage
(or twice, after a crash between commit and spool clean-up) is written exactly once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hook_call") as batch:
        batch.add_column(sa.Column("record_key", sa.String(64)))
    op.create_index("uq_hook_call_record_key", "hook_call", ["record_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_hook_call_record_key", "hook_call")
    with op.batch_alter_table("hook_call") as batch:
        batch.drop_column("record_key")
