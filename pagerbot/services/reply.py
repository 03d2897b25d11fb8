"""What a use case answers a person: text, and maybe blocks, a form to fill in or files.

A form is named by what it asks for, not by how it is shown: the Slack adapter opens it as a modal
(``slack/views.modal``), the local workspace, which has no forms, says what to type instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class DeclareForm:
    """Title, severity and description of a new incident, declared in ``channel_id``."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class ResolveForm:
    """The summary, impact and end of impact that resolve an incident; ``mitigated`` is the end prefilled."""

    incident_id: int
    mitigated: datetime


@dataclass(frozen=True, slots=True)
class EditEmailForm:
    """An email draft's recipients, subject and body, prefilled with the draft's."""

    email_id: int
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    body: str


Form = DeclareForm | ResolveForm | EditEmailForm


@dataclass
class Reply:
    text: str
    blocks: list[dict[str, Any]] | None = None
    form: Form | None = None  # a form to open with the request's trigger_id
    public: bool = False  # post in the channel rather than only to the requester
    # the effect is posted in the channel already: the requester gets no private copy of it (no echo)
    shown_in_channel: bool = False
    files: list[tuple[str, bytes]] = field(default_factory=list)
