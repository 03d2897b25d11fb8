"""oncall: escalation chains (their timers), the pages sent, and on-call overrides

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "oncall_overrides",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("rotation", sa.String(length=64), nullable=False),
        sa.Column("who", sa.String(length=255), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_overrides")),
    )
    op.create_index(op.f("ix_oncall_overrides_rotation_ends_at"), "oncall_overrides", ["rotation", "ends_at"])
    op.create_table(
        "escalations",
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("chain", sa.Integer(), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_reason", sa.String(length=255), nullable=True),
        sa.Column("pagerduty_acknowledged", sa.Integer(), nullable=False),
        sa.Column("pagerduty_resolved", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_escalations_incident_id_incidents")),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_escalations")),
    )
    op.create_index(op.f("ix_escalations_next_at"), "escalations", ["next_at"])
    op.create_table(
        "pages",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", ID, nullable=False),
        sa.Column("chain", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("rotation", sa.String(length=64), nullable=True),
        sa.Column("paged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_pages_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pages")),
        sa.UniqueConstraint("incident_id", "chain", "step", "repeat", "target",
                            name=op.f("uq_pages_incident_id_chain_step_repeat_target")),
    )
    op.create_index(op.f("ix_pages_incident_id"), "pages", ["incident_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pages_incident_id"), table_name="pages")
    op.drop_table("pages")
    op.drop_index(op.f("ix_escalations_next_at"), table_name="escalations")
    op.drop_table("escalations")
    op.drop_index(op.f("ix_oncall_overrides_rotation_ends_at"), table_name="oncall_overrides")
    op.drop_table("oncall_overrides")
