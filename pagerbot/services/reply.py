"""What a use case answers a person: text, and maybe blocks, a form to open or files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    text: str
    blocks: list[dict[str, Any]] | None = None
    view: dict[str, Any] | None = None  # a modal to open with the request's trigger_id
    public: bool = False  # post in the channel rather than only to the requester
    # the effect is posted in the channel already: the requester gets no private copy of it (no echo)
    shown_in_channel: bool = False
    files: list[tuple[str, bytes]] = field(default_factory=list)
