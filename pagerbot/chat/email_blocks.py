"""Block Kit for the vendor emails in the incident channel: the draft people review, and the all-clear offer.

Pure functions of plain data (no I/O). The services hand over what the row and the config say; the buttons'
action ids are the contract with the Slack listeners (``pagerbot.chat.blocks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from pagerbot.chat.blocks import EMAIL_ALL_CLEAR, EMAIL_DISCARD, EMAIL_EDIT, EMAIL_RETRY, EMAIL_SEND
from pagerbot.core.escaping import mrkdwn, one_line, slack_entities

PREVIEW_LIMIT = 2600  # the body shown in Slack (a section holds 3000 characters, with room for the fences)
KIND_LABEL = {"escalation": "Escalation email", "followup": "Follow-up email", "allclear": "All-clear email"}


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailPreview:
    """One email as its Slack message shows it: the row's state, the vendor's contacts, who acted last."""

    email_id: int
    kind: str
    status: str  # draft, sending, sent, failed, discarded
    vendor_name: str
    to: Sequence[str]
    cc: Sequence[str]
    subject: str
    text: str
    created_by: str | None = None
    sent_by: str | None = None
    sent_when: str | None = None  # when it was sent, as people read it ("2024-03-05 06:12 PST (14:12 UTC)")
    error: str | None = None
    attachments: Sequence[str] = ()  # file names
    vendor_phone: str | None = None
    portal_url: str | None = None
    by: str | None = None  # who pressed the button behind the current state


def _button(text: str, action_id: str, email_id: int, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=PlainTextObject(text=text), action_id=action_id, value=str(email_id), style=style)


def _contacts(email: EmailPreview) -> list[str]:
    notes = [f":paperclip: {mrkdwn(name)} attached" for name in email.attachments]
    if email.vendor_phone:
        notes.append(f":telephone_receiver: {mrkdwn(email.vendor_phone)}")
    if email.portal_url and email.portal_url.startswith(("https://", "http://")):
        url = email.portal_url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
        notes.append(f":ticket: <{url}|{mrkdwn(email.vendor_name)} support portal>")
    return notes


def _state(email: EmailPreview) -> list[Block]:
    """What the email's status allows: buttons for a draft or a failure, a line for the rest."""
    who = f"<@{email.by}>" if email.by else "someone"
    if email.status == "draft":
        return [ActionsBlock(elements=[_button("Send", EMAIL_SEND, email.email_id, "primary"),
                                       _button("Edit", EMAIL_EDIT, email.email_id),
                                       _button("Discard", EMAIL_DISCARD, email.email_id, "danger")])]
    if email.status == "failed":
        status = f":x: Not sent: {mrkdwn(one_line(email.error or 'unknown error', 600))}. The draft is kept."
        return [SectionBlock(text=MarkdownTextObject(text=status[:3000])),
                ActionsBlock(elements=[_button("Retry", EMAIL_RETRY, email.email_id, "primary"),
                                       _button("Edit", EMAIL_EDIT, email.email_id),
                                       _button("Discard", EMAIL_DISCARD, email.email_id, "danger")])]
    if email.status == "sending":
        status = f":hourglass_flowing_sand: Sending (requested by {who})…"
    elif email.status == "sent":
        sender = f"<@{email.sent_by}>" if email.sent_by else "someone"
        status = f":white_check_mark: Sent by {sender} at {email.sent_when or 'just now'}"
    else:
        status = f":wastebasket: Discarded by {who}"
    return [ContextBlock(elements=[MarkdownTextObject(text=status)])]


def email_preview(email: EmailPreview) -> tuple[str, list[dict[str, Any]]]:
    """The draft as people review it, with the buttons its status allows."""
    label = KIND_LABEL.get(email.kind, "Email")
    head = (f":email: *{label} to {mrkdwn(email.vendor_name)}*"
            + (f" (drafted by <@{email.created_by}>)" if email.created_by else "")
            + f"\n*To:* {mrkdwn(', '.join(email.to))}")
    if email.cc:
        head += f"\n*Cc:* {mrkdwn(', '.join(email.cc))}"
    head += f"\n*Subject:* {mrkdwn(email.subject)}"
    body = email.text
    if len(body) > PREVIEW_LIMIT:
        body = body[:PREVIEW_LIMIT] + "\n… (shortened here; the email has it all)"
    message: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head[:3000])),
                            SectionBlock(text=MarkdownTextObject(text=f"```{mrkdwn(body)}```"[:3000]))]
    notes = _contacts(email)
    if notes:
        message.append(ContextBlock(elements=[MarkdownTextObject(text="   ".join(notes)[:3000])]))
    message.extend(_state(email))
    text = slack_entities(f"{label} to {email.vendor_name} ({email.status}): {one_line(email.subject, 150)}")
    return text, [b.to_dict() for b in message]


def offer_all_clear(incident_ref: str,
                    last_email_by_vendor: Sequence[tuple[int, str]]) -> tuple[str, list[dict[str, Any]]]:
    """On resolve: one button per vendor that was emailed (``(last email id, vendor name)``), at most five."""
    names = [name for _, name in last_email_by_vendor]
    text = f"{incident_ref} is resolved. Tell {', '.join(names)} that all is clear?"
    buttons = [ButtonElement(text=PlainTextObject(text=f"All-clear email to {name}"[:75]),
                             action_id=EMAIL_ALL_CLEAR, value=str(email_id), style="primary")
               for email_id, name in last_email_by_vendor][:5]
    message: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f":email: {mrkdwn(text)}")),
                            ActionsBlock(elements=buttons)]
    return text, [b.to_dict() for b in message]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyPost:
    """A vendor's reply as the incident channel shows it."""

    vendor_name: str
    sender: str
    sent_when: str  # as people read it
    subject: str
    text: str  # the new text, without the quoted email
    attachments: Sequence[str] = ()
    ticket: str | None = None


def vendor_reply(reply: ReplyPost) -> tuple[str, list[dict[str, Any]]]:
    """The reply, posted in the channel: who wrote and when, the ticket, what they wrote, what they attached."""
    ticket = f" · ticket *{mrkdwn(reply.ticket)}*" if reply.ticket else ""
    head = (f":incoming_envelope: *Reply from {mrkdwn(reply.vendor_name)}* ({mrkdwn(reply.sender)}) "
            f"at {mrkdwn(reply.sent_when)}{ticket}\n*Subject:* {mrkdwn(reply.subject)}")
    body = reply.text or "(no new text: only the quoted email)"
    if len(body) > PREVIEW_LIMIT:
        body = body[:PREVIEW_LIMIT] + "\n… (shortened here; the mailbox has it all)"
    message: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head[:3000])),
                            SectionBlock(text=MarkdownTextObject(text=f"```{mrkdwn(body)}```"[:3000]))]
    if reply.attachments:
        names = ", ".join(mrkdwn(name) for name in reply.attachments)
        message.append(ContextBlock(elements=[MarkdownTextObject(text=f":paperclip: Attached: {names}"[:3000])]))
    text = f"Reply from {reply.vendor_name}{' (ticket ' + reply.ticket + ')' if reply.ticket else ''}: " \
           f"{one_line(reply.text or reply.subject, 150)}"
    return text, [b.to_dict() for b in message]
