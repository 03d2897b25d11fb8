"""incident_news: what the channel's messages need to follow the incident (waves, offers, announcement, ack)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (
    ("wave_started_at", sa.DateTime(timezone=True)),
    ("acknowledged_by", sa.String(length=64)),
    ("resolve_offer_ts", sa.String(length=32)),
    ("announce_channel_id", sa.String(length=32)),
    ("announce_ts", sa.String(length=32)),
)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
