"""The incident lifecycle: states and the moves allowed between them."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    INVESTIGATING = "investigating"
    ACKNOWLEDGED = "acknowledged"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"

    @property
    def is_open(self) -> bool:
        return self is not Status.RESOLVED


_ACTIVE = {Status.INVESTIGATING, Status.ACKNOWLEDGED, Status.IDENTIFIED, Status.MONITORING}

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.INVESTIGATING: frozenset({Status.ACKNOWLEDGED, Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED}),
    Status.ACKNOWLEDGED: frozenset({Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED}),
    Status.IDENTIFIED: frozenset({Status.INVESTIGATING, Status.MONITORING, Status.RESOLVED}),
    Status.MONITORING: frozenset({Status.INVESTIGATING, Status.IDENTIFIED, Status.RESOLVED}),
    # reopen
    Status.RESOLVED: frozenset({Status.INVESTIGATING}),
}


class IllegalMove(ValueError):
    """A status change the lifecycle does not allow; the message says which moves are possible."""


def check_move(current: Status, target: Status) -> None:
    if target == current:
        raise IllegalMove(f"the incident is already {current}")
    if target not in ALLOWED[current]:
        options = ", ".join(sorted(ALLOWED[current]))
        raise IllegalMove(f"cannot go from {current} to {target}; from {current} it can go to {options}")


def parse_status(text: str) -> Status:
    try:
        return Status(text.strip().lower())
    except ValueError:
        options = ", ".join(s.value for s in Status)
        raise IllegalMove(f"unknown status {text!r}: expected one of {options}") from None


STATUS_EMOJI: dict[Status, str] = {
    Status.INVESTIGATING: ":mag:",
    Status.ACKNOWLEDGED: ":eyes:",
    Status.IDENTIFIED: ":bulb:",
    Status.MONITORING: ":chart_with_downwards_trend:",
    Status.RESOLVED: ":white_check_mark:",
}
