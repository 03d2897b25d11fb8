"""emails signed and answered: Reply-To and per-host graphs on emails; the vendor's replies read over IMAP

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_to", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("host_graphs", sa.JSON(), nullable=True))
    op.create_table(
        "email_replies",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("email_id", _ID, nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("sender", sa.String(length=998), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("ticket", sa.String(length=128), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["email_id"], ["emails.id"], name=op.f("fk_email_replies_email_id_emails")),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_email_replies_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_replies")),
        sa.UniqueConstraint("message_id", name=op.f("uq_email_replies_message_id")),
    )
    with op.batch_alter_table("email_replies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_replies_email_id"), ["email_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_email_replies_incident_id"), ["incident_id"], unique=False)
    op.create_table(
        "mailbox_progress",
        sa.Column("mailbox", sa.String(length=255), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("mailbox", name=op.f("pk_mailbox_progress")),
    )


def downgrade() -> None:
    op.drop_table("mailbox_progress")
    with op.batch_alter_table("email_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_replies_incident_id"))
        batch_op.drop_index(batch_op.f("ix_email_replies_email_id"))
    op.drop_table("email_replies")
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_column("host_graphs")
        batch_op.drop_column("reply_to")
