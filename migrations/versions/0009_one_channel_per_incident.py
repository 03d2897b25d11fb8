"""one_channel_per_incident: incidents.channel_id is unique; channel_attempt records a creation in flight

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database written before this revision may hold incidents sharing a channel: the oldest keeps it, the
    # others lose the id (their channel_name stays, as a record of where they were discussed).
    op.execute(
        "UPDATE incidents SET channel_id = NULL WHERE channel_id IS NOT NULL AND id > "
        "(SELECT MIN(other.id) FROM incidents AS other WHERE other.channel_id = incidents.channel_id)"
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel_attempt", sa.String(length=100), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_incidents_channel_id"), ["channel_id"])


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_incidents_channel_id"), type_="unique")
        batch_op.drop_column("channel_attempt")
