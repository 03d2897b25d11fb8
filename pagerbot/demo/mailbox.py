"""The demo's mailbox: the vendor's replies the scenario files, read by the same poller as an IMAP mailbox."""

from __future__ import annotations

from dataclasses import dataclass, field

from pagerbot.services.ports import Fetched

UIDVALIDITY = 1


@dataclass
class ScriptedMailbox:
    """Messages filed by the scenario's ``reply`` steps, with UIDs in arrival order."""

    key: str = "demo@hostwise.example/INBOX"
    messages: list[bytes] = field(default_factory=list)

    def deliver(self, raw: bytes) -> None:
        self.messages.append(raw)

    async def read_new(self, after_uid: int, uidvalidity: int) -> Fetched:
        start = after_uid if uidvalidity == UIDVALIDITY else 0
        return Fetched(UIDVALIDITY, [(uid, raw) for uid, raw in enumerate(self.messages, start=1) if uid > start])
