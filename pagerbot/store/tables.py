"""The schema: SQLAlchemy 2 typed tables. One Alembic revision per change (migrations/)."""

from __future__ import annotations

from datetime import UTC as UTC_ZONE
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, also on SQLite (which keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: times must be timezone-aware UTC")
        value = value.astimezone(UTC_ZONE)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC_ZONE) if value.tzinfo is None else value.astimezone(UTC_ZONE)


UTC = UTCDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTC, dict[str, Any]: JSON, bytes: LargeBinary}


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    lead: Mapped[str | None] = mapped_column(String(64))
    group_key: Mapped[str] = mapped_column(String(1000), index=True)
    # Equal to group_key while the incident is open, NULL once resolved: the unique constraint keeps one
    # open incident per group, whatever the replicas and requests race to do.
    open_group_key: Mapped[str | None] = mapped_column(String(1000), unique=True)
    wave: Mapped[int] = mapped_column(Integer, default=1)
    wave_started_at: Mapped[datetime | None]  # when the current wave began (NULL for the first: opened_at)
    # One channel per incident, enforced here: two incidents racing for a channel name cannot share it.
    channel_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    channel_name: Mapped[str | None] = mapped_column(String(100))
    # The channel name being created after a clash, written before asking Slack: only this incident's own
    # earlier attempt (its answer lost) makes a "name_taken" channel its own (outbox/ops.open_channel).
    channel_attempt: Mapped[str | None] = mapped_column(String(100))
    header_ts: Mapped[str | None] = mapped_column(String(32))
    digest_ts: Mapped[str | None] = mapped_column(String(32))  # the current wave's storm digest
    resolve_offer_ts: Mapped[str | None] = mapped_column(String(32))  # the standing "Resolve?" offer
    announce_channel_id: Mapped[str | None] = mapped_column(String(32))
    announce_ts: Mapped[str | None] = mapped_column(String(32))
    graph_file_id: Mapped[str | None] = mapped_column(String(64))
    slack_topic: Mapped[str | None] = mapped_column(String(250))
    digest_at: Mapped[datetime | None]
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    identified_at: Mapped[datetime | None]
    mitigated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    last_status_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None]
    lead_reminded_at: Mapped[datetime | None]
    all_resolved_offered_at: Mapped[datetime | None]
    summary: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    # How many alerts the last notification of the incident's sender left out (Alertmanager's and Grafana's
    # truncatedAlerts, over their receiver's max_alerts), and which sender: shown in the header.
    alerts_left_out: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    left_out_by: Mapped[str | None] = mapped_column(String(32))


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("source", "fingerprint", "occurrence"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(255))
    # Tells occurrences of one alert apart: its startsAt, or a counter for senders that have none.
    occurrence: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(1024))
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    host: Mapped[str | None] = mapped_column(String(255))
    labels: Mapped[dict[str, Any]]
    annotations: Mapped[dict[str, Any]]
    url: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    wave: Mapped[int] = mapped_column(Integer, default=1)
    received_count: Mapped[int] = mapped_column(Integer, default=1)
    first_received_at: Mapped[datetime]
    last_received_at: Mapped[datetime]


class TimelineRow(Base):
    __tablename__ = "timeline"
    __table_args__ = (UniqueConstraint("incident_id", "ref"), Index(None, "incident_id", "at"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    # Identity of what the entry records (a pinned message, a file), so it is recorded once and removable.
    ref: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index(None, "status", "next_attempt_at"), Index(None, "incident_id", "status"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    op: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, done, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set once a call may have reached the other side, so a retry first checks whether it took effect.
    maybe_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A pending row with the same coalesce key absorbs later requests (e.g. one digest update, not fifty).
    coalesce_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class InboxRow(Base):
    """A delivery answered 2xx and not yet processed (see services/inbox.py).

    ``payload`` is, by ``kind``, the sender's body as received (``body``: parsed again by the parser of the
    route named in ``source``) or alerts pagerbot made itself (``events``: a JSON list of AlertEvent dicts,
    from metric watches).

    Deleted in the transaction that applies it; a delivery that cannot be applied (a bug, not an outage)
    is kept with ``failed_at`` and its error, for an operator to look at.
    """

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8), server_default="events")
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    failed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # The delivery's lane (core/lanes.py): deliveries of other lanes may be applied before it. None: in
    # arrival order among all deliveries.
    lane: Mapped[str | None] = mapped_column(String(64))


class InboxProgress(Base):
    """SQLite only: how far the inbox worker applied the deliveries of an inbox file (store/inbox_file.py).

    Written in the transaction that applies them, so the mark and what it marks commit together: every
    delivery up to ``applied_through``, and those above it listed in ``applied_after`` (a JSON list of ids,
    applied ahead of older deliveries of other lanes).
    """

    __tablename__ = "inbox_progress"

    inbox: Mapped[str] = mapped_column(String(64), primary_key=True)  # the inbox file's identity
    applied_through: Mapped[int] = mapped_column(BigInteger)
    applied_after: Mapped[str] = mapped_column(Text, server_default="[]")


class SeenRequest(Base):
    """Slack event_ids and command trigger_ids already handled: Slack retries, we do not repeat."""

    __tablename__ = "seen_requests"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[datetime]


class Email(Base):
    __tablename__ = "emails"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    vendor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # escalation, followup, allclear
    status: Mapped[str] = mapped_column(String(16))  # draft, sending, sent, failed, discarded
    to: Mapped[list[str]] = mapped_column("to_addrs", JSON)
    cc: Mapped[list[str]] = mapped_column("cc_addrs", JSON)
    subject: Mapped[str] = mapped_column(String(998))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    graph_id: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(255))
    in_reply_to: Mapped[str | None] = mapped_column(String(255))
    references: Mapped[str | None] = mapped_column("references_hdr", Text)
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    sent_by: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    reply_to: Mapped[list[str] | None] = mapped_column(JSON)  # the lead's address and the team's
    # graphs of the hosts the findings name, attached beside graph_id's: [{"graph_id": 7, "filename": "db1.png"}]
    host_graphs: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class EmailReply(Base):
    """A vendor's answer to a sent email, read from the IMAP mailbox (services/replies.py). The unique
    Message-ID makes reading the same message twice (a restart, a second replica) change nothing."""

    __tablename__ = "email_replies"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id"), index=True)  # the email it answers
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    sender: Mapped[str] = mapped_column(String(998))
    subject: Mapped[str] = mapped_column(String(998))
    sent_at: Mapped[datetime]  # its Date header (when it arrived, without one)
    text: Mapped[str] = mapped_column(Text)  # the new text, without the quoted email it answers
    attachments: Mapped[list[str]] = mapped_column(JSON)  # file names
    ticket: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[datetime]


class MailboxProgress(Base):
    """How far the IMAP poller read a mailbox: UIDs up to ``last_uid`` under ``uidvalidity`` are handled.
    ``failing_since`` is set while the mailbox cannot be read, so the channel hears of an outage once."""

    __tablename__ = "mailbox_progress"

    mailbox: Mapped[str] = mapped_column(String(255), primary_key=True)  # user@host:port/MAILBOX
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    failing_since: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class Graph(Base):
    __tablename__ = "graphs"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(255))
    png: Mapped[bytes] = mapped_column(LargeBinary)
    summary: Mapped[dict[str, Any]]
    slack_file_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class LocalChannel(Base):
    """The local workspace (no Slack): channels, messages and files kept in the database."""

    __tablename__ = "local_channels"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    topic: Mapped[str] = mapped_column(String(250), default="")
    purpose: Mapped[str] = mapped_column(String(250), default="")
    members: Mapped[list[str]] = mapped_column(JSON)
    bookmarks: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class LocalMessage(Base):
    __tablename__ = "local_messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(32), index=True)
    ts: Mapped[str] = mapped_column(String(32), unique=True)
    user: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    blocks: Mapped[list[Any]] = mapped_column(JSON)
    file_ids: Mapped[list[str]] = mapped_column(JSON)
    ephemeral_to: Mapped[str | None] = mapped_column(String(64))
    pinned: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]


class LocalFile(Base):
    __tablename__ = "local_files"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class Escalation(Base):
    """An incident's page chain (services/oncall.py): its timer lives here, so a restart resumes it.

    ``taken`` counts the moments of the policy's plan (core/policy.py) already acted on, in the transaction
    that queued their pages; ``next_at`` is when the next one is due (NULL once the chain is stopped or done).
    A change of severity starts a new ``chain`` with that severity's policy.
    """

    __tablename__ = "escalations"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), primary_key=True)
    chain: Mapped[int] = mapped_column(Integer, default=1)
    severity: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    taken: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(index=True)
    stopped_at: Mapped[datetime | None]
    stopped_reason: Mapped[str | None] = mapped_column(String(255))
    # PagerDuty incidents this chain triggered were told of the acknowledgement / the resolution
    pagerduty_acknowledged: Mapped[int] = mapped_column(Integer, default=0)
    pagerduty_resolved: Mapped[int] = mapped_column(Integer, default=0)


class Page(Base):
    """One person paged for an incident: who, when, by which step; acknowledged when and by whom."""

    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("incident_id", "chain", "step", "repeat", "target"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    chain: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    target: Mapped[str] = mapped_column(String(255))  # a Slack user ID or an email, as configured
    rotation: Mapped[str | None] = mapped_column(String(64))
    paged_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    # Where its direct message is (once sent): the message is edited as the incident moves on.
    dm_channel: Mapped[str | None] = mapped_column(String(64))
    dm_ts: Mapped[str | None] = mapped_column(String(32))


class OncallOverride(Base):
    """Someone covers a rotation's shift from ``starts_at`` to ``ends_at`` (``/incident oncall take``)."""

    __tablename__ = "oncall_overrides"
    __table_args__ = (Index(None, "rotation", "ends_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    rotation: Mapped[str] = mapped_column(String(64))
    who: Mapped[str] = mapped_column(String(255))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
