"""Which incident an alert belongs to: the group key from the configured labels, and the join/reopen rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from pagerbot.core.alerts import AlertEvent

GENERIC_NAMES = frozenset({"", "default"})
"""Alert names that tell nothing apart (PagerDuty events without a class, Grafana's class ``default``)."""


def group_key(labels: Mapping[str, str], group_labels: Sequence[str], *, fallback: str) -> str:
    """``cluster=prod`` from the configured labels; alerts missing all of them group by ``fallback``
    (their own alert name), so unrelated strays do not pile into one incident."""
    parts = [f"{name}={labels[name]}" for name in group_labels if labels.get(name)]
    if not parts:
        return f"alertname={fallback}"
    return ",".join(parts)


def grouping_fallback(event: AlertEvent) -> str:
    """What groups an alert carrying none of the grouping labels: its name, or, when the name is empty or
    generic, the alert's own key, so that unrelated pages (PagerDuty events without a class) do not pile into
    one incident while a resend of the same page (same dedup key) still joins its incident."""
    name = event.name.strip()
    if name.lower() in GENERIC_NAMES:
        return f"{event.source}:{event.fingerprint}"
    return name


class Decision(Enum):
    JOIN = "join"  # the group's incident is open: the alert joins it
    REOPEN = "reopen"  # resolved inside the window: a new wave of the same incident
    OPEN = "open"  # nothing recent: a new incident


@dataclass(frozen=True, slots=True)
class Candidate:
    """The latest incident of a group, as the decision needs to see it."""

    id: int
    is_open: bool
    resolved_at: datetime | None


def decide(latest: Candidate | None, *, now: datetime, window: timedelta) -> Decision:
    if latest is None:
        return Decision.OPEN
    if latest.is_open:
        return Decision.JOIN
    if latest.resolved_at is not None and now - latest.resolved_at <= window:
        return Decision.REOPEN
    return Decision.OPEN
