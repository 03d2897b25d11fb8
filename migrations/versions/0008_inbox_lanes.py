"""inbox.lane, inbox_progress.applied_after: fair lanes, an unrelated alert is applied before a storm's backlog

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("lane", sa.String(length=64), nullable=True))
    with op.batch_alter_table("inbox_progress") as batch:
        batch.add_column(sa.Column("applied_after", sa.Text(), server_default="[]", nullable=False))


def downgrade() -> None:
    # Deliveries applied out of order in an inbox file would count as waiting again: apply the inbox first.
    with op.batch_alter_table("inbox_progress") as batch:
        batch.drop_column("applied_after")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("lane")
