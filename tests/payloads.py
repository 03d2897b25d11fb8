"""Builders of sender bodies in their real shapes (see tests/fixtures/payloads for recorded examples)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def am_alert(alertname: str, *, instance: str = "db1:9100", cluster: str = "prod", severity: str = "critical",
             summary: str | None = None, starts_at: datetime | None = None, ends_at: datetime | None = None,
             extra: dict[str, str] | None = None) -> dict[str, Any]:
    labels = {"alertname": alertname, "cluster": cluster, "instance": instance, "job": "node",
              "severity": severity, **(extra or {})}
    fingerprint = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
    starts = starts_at or datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    return {
        "status": "resolved" if ends_at else "firing",
        "labels": labels,
        "annotations": {"summary": summary or f"{alertname} on {instance.split(':')[0]}",
                        "description": f"{alertname} has been firing"},
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "endsAt": ends_at.isoformat().replace("+00:00", "Z") if ends_at else ZERO_TIME,
        "generatorURL": f"http://prometheus:9090/graph?g0.expr={alertname}",
        "fingerprint": fingerprint,
    }


def am_notification(alerts: list[dict[str, Any]], *, cluster: str = "prod",
                    receiver: str = "pagerbot") -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    common = {"cluster": cluster}
    return {
        "version": "4", "groupKey": f'{{}}:{{cluster="{cluster}"}}', "truncatedAlerts": 0, "status": status,
        "receiver": receiver, "groupLabels": {"cluster": cluster}, "commonLabels": common,
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "alerts": alerts,
    }


def resolved(alert: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    ends = at or datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00")) + timedelta(minutes=30)
    return {**alert, "status": "resolved", "endsAt": ends.isoformat().replace("+00:00", "Z")}
