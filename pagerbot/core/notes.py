"""Tags people put at the start of a note (``cause: …``, ``ask: …``) and what the email reads from them (pure)."""

from __future__ import annotations

import re

_TAG = re.compile(r"^\s*([a-z][a-z_ -]{1,20}?)\s*:\s*(\S.*)$", re.IGNORECASE | re.DOTALL)


def tagged(text: str, tag: str) -> str | None:
    """The text after ``tag:`` when ``text`` starts with that tag (any case), else None."""
    match = _TAG.match(text)
    if match is None or match.group(1).strip().lower() != tag:
        return None
    return match.group(2).strip()
