"""inbox: keep the sender's body as received (kind "body") beside alerts pagerbot made (kind "events")

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows already waiting hold JSON lists of alerts: the server default names them so.
    with op.batch_alter_table("inbox") as batch:
        batch.alter_column("events", new_column_name="payload", existing_type=sa.Text(), existing_nullable=False)
        batch.add_column(sa.Column("kind", sa.String(length=8), server_default="events", nullable=False))


def downgrade() -> None:
    # Bodies cannot be turned back into alert lists here: apply the inbox (stop pagerbot) before downgrading.
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("kind")
        batch.alter_column("payload", new_column_name="events", existing_type=sa.Text(), existing_nullable=False)
