"""Incident channel names: ``<prefix>-<yyyymmdd>-<slug>``, lowercase, at most 80 characters."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

MAX_CHANNEL_NAME = 80
_NOT_ALLOWED = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_length: int = 40) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = _NOT_ALLOWED.sub("-", ascii_text).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rsplit("-", 1)[0] if "-" in slug[:max_length] else slug[:max_length]
    return slug.strip("-") or "incident"


def channel_name(prefix: str, day: date, title: str, attempt: int = 1) -> str:
    """The name to try on ``attempt`` (1, 2, 3 …): a clash adds ``-2``, ``-3`` … and stays within 80."""
    suffix = "" if attempt <= 1 else f"-{attempt}"
    head = f"{prefix}-{day:%Y%m%d}-"
    room = MAX_CHANNEL_NAME - len(head) - len(suffix)
    return f"{head}{slugify(title, max_length=min(40, room))}{suffix}"


def parse_incident_ref(text: str) -> int | None:
    """``42``, ``INC-42``, ``inc-42``, ``#42`` → 42."""
    match = re.fullmatch(r"(?:inc-?|#)?(\d{1,12})", text.strip().lower())
    return int(match.group(1)) if match else None
