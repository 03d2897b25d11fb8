"""inbox_progress: on SQLite the inbox is a file of its own, and this marks how far the worker applied it

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_progress",
        sa.Column("inbox", sa.String(length=64), nullable=False),
        sa.Column("applied_through", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("inbox", name=op.f("pk_inbox_progress")),
    )


def downgrade() -> None:
    # Deliveries still waiting in the inbox file are not moved back: apply the inbox (stop pagerbot) first.
    op.drop_table("inbox_progress")
