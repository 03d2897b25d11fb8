"""pages.dm_channel, pages.dm_ts: where a page's direct message is, so that it can follow the incident

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

A page sent before the incident's channel existed gains the channel's link once it does, and a page's
Acknowledge button gives way to who acknowledged it (or that the incident resolved).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pages") as batch:
        batch.add_column(sa.Column("dm_channel", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("dm_ts", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pages") as batch:
        batch.drop_column("dm_ts")
        batch.drop_column("dm_channel")
