"""incidents.alerts_left_out, left_out_by: the alerts a sender left out of its notification (truncatedAlerts)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("alerts_left_out", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("left_out_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("left_out_by")
        batch.drop_column("alerts_left_out")
