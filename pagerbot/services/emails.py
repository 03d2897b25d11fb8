"""The vendor emails of an incident as the use cases and the delivery handlers read them (the ``emails`` rows)."""

from __future__ import annotations

from collections.abc import Sequence

from pagerbot.core.records import EscalationRecord
from pagerbot.services.context import Services
from pagerbot.store.repository import Email

# Two states from which a person may still change or send an email.
EDITABLE = ("draft", "failed")


def record_of(row: Email) -> EscalationRecord:
    return EscalationRecord(vendor=row.vendor, subject=row.subject, status=row.status, created_at=row.created_at,
                            sent_at=row.sent_at, sent_by=row.sent_by, message_id=row.message_id)


def sent_thread(emails: Sequence[Email], vendor: str, *, before: int | None = None) -> list[Email]:
    """Emails to ``vendor`` that went out (the mail thread), oldest first."""
    return [e for e in emails if e.vendor == vendor and e.status == "sent" and e.message_id
            and (before is None or e.id < before)]


def vendor_name(ctx: Services, key: str) -> str:
    """The vendor's name from the config; its key when it has since left the config."""
    vendor = ctx.settings.config.vendors.get(key)
    return vendor.name if vendor is not None else key
