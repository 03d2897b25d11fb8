"""The alert as every sender's parser returns it: one shape for Alertmanager, Grafana, PagerDuty, generic."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class AlertState(enum.StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(enum.IntEnum):
    """sev1 is the worst. Every sender's own levels map onto these four (see README, Severity mapping)."""

    SEV1 = 1
    SEV2 = 2
    SEV3 = 3
    SEV4 = 4

    @property
    def label(self) -> str:
        return f"sev{int(self)}"

    @classmethod
    def parse(cls, value: object, default: Severity | None = None) -> Severity:
        """Accept 1-4, "sev2", "SEV2", "2" and the common words (critical, error, warning, info)."""
        if isinstance(value, Severity):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4:
            return cls(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text.startswith("sev"):
                text = text[3:]
            if text in {"1", "2", "3", "4"}:
                return cls(int(text))
            if text in SEVERITY_WORDS:
                return SEVERITY_WORDS[text]
        if default is not None:
            return default
        raise ValueError(f"unknown severity {value!r}: expected 1-4, sev1-sev4, critical, error, warning or info")


SEVERITY_WORDS: dict[str, Severity] = {
    "critical": Severity.SEV1,
    "disaster": Severity.SEV1,
    "page": Severity.SEV1,
    "high": Severity.SEV2,
    "error": Severity.SEV2,
    "major": Severity.SEV2,
    "warning": Severity.SEV3,
    "warn": Severity.SEV3,
    "average": Severity.SEV3,
    "minor": Severity.SEV3,
    "info": Severity.SEV4,
    "informational": Severity.SEV4,
    "low": Severity.SEV4,
    "none": Severity.SEV4,
    "ok": Severity.SEV4,
}


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert as a sender reported it in one delivery.

    ``fingerprint`` identifies the alert across deliveries (Alertmanager's fingerprint, PagerDuty's
    dedup_key, ...). ``starts_at`` tells occurrences apart: the same fingerprint firing again after a
    resolve has a new ``starts_at``; unless ``identity_by_key``, for senders whose key alone is the
    identity (PagerDuty: a re-trigger with a newer ``timestamp`` is the same alert, not a new occurrence).
    """

    source: str
    fingerprint: str
    state: AlertState
    name: str
    title: str
    severity: Severity
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    host: str | None = None
    description: str = ""
    url: str | None = None
    identity_by_key: bool = False
    left_out: int = 0  # alerts the sender left out of this alert's notification (Alertmanager's truncatedAlerts)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: how a delivery waits in the intake queue between its 2xx and its processing."""
        return {"source": self.source, "fingerprint": self.fingerprint, "state": self.state.value, "name": self.name,
                "title": self.title, "severity": int(self.severity), "labels": dict(self.labels),
                "annotations": dict(self.annotations), "host": self.host, "description": self.description,
                "url": self.url, "starts_at": self.starts_at.isoformat() if self.starts_at else None,
                "ends_at": self.ends_at.isoformat() if self.ends_at else None,
                "identity_by_key": self.identity_by_key, "left_out": self.left_out}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertEvent:
        """The inverse of :meth:`to_json`."""
        starts_at, ends_at = data.get("starts_at"), data.get("ends_at")
        return cls(source=data["source"], fingerprint=data["fingerprint"], state=AlertState(data["state"]),
                   name=data["name"], title=data["title"], severity=Severity(data["severity"]),
                   labels=data.get("labels") or {}, annotations=data.get("annotations") or {},
                   starts_at=datetime.fromisoformat(starts_at) if starts_at else None,
                   ends_at=datetime.fromisoformat(ends_at) if ends_at else None, host=data.get("host"),
                   description=data.get("description") or "", url=data.get("url"),
                   identity_by_key=bool(data.get("identity_by_key", False)),
                   left_out=int(data.get("left_out", 0)))
