"""pagerbot's own JSON alert form (``POST /alerts/generic``) → :class:`AlertEvent`.

A body is one alert object, or ``{"alerts": [alert, ...]}`` with at most 1000 alerts::

    {
      "title": "db1 replication lag over 5 minutes",    # required, at most 1024 characters
      "status": "firing",                                # firing (default) | resolved
      "severity": 2,                                     # 1-4, "sev1".."sev4", or a word (default sev3)
      "host": "db1",
      "key": "db1/replication",                          # dedup key (default: hash of title + host)
      "description": "Seconds_Behind_Master = 412",      # clipped at 16 KiB, with a marker
      "labels": {"cluster": "prod-east", "service": "mysql"},
      "url": "https://nagios.example.com/...",
      "starts_at": "2024-05-01T12:00:00Z"                # RFC 3339
    }

Severity words: critical/disaster/page → sev1, error/high/major → sev2, warning/warn/average/minor
→ sev3, info/low/ok/none → sev4 (case-insensitive). Unknown fields are rejected, so a typo such as
``"severty"`` is an error instead of a silently ignored value. The alert's ``name`` is its
``alertname`` label when given, else its title.
"""

from __future__ import annotations

from collections.abc import Mapping

from pagerbot.core.alerts import AlertEvent, AlertState, Severity
from pagerbot.intake.alertmanager import parse_status
from pagerbot.intake.errors import PayloadError
from pagerbot.intake.limits import (
    MAX_ALERTS,
    MAX_ANNOTATION_LENGTH,
    MAX_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TITLE_LENGTH,
    MAX_URL_LENGTH,
    UNLIMITED,
    child,
    clip_marked,
    fit_key,
    index,
    optional_str,
    optional_time,
    require_list,
    require_obj,
    require_str,
    require_string_map,
    stable_hash,
)

__all__ = ["DEFAULT_SEVERITY", "FIELDS", "generic_key", "parse_generic"]

SOURCE = "generic"
DEFAULT_SEVERITY = Severity.SEV3
MAX_HOST_LENGTH = 255
FIELDS = frozenset(
    {"title", "status", "severity", "host", "key", "description", "labels", "url", "starts_at"}
)


def parse_generic(body: object) -> list[AlertEvent]:
    """Validate a generic body (one alert, or ``{"alerts": [...]}``) and return its alerts."""
    obj = require_obj(body, "")
    if "alerts" in obj:
        extra = sorted(set(obj) - {"alerts"})
        if extra:
            raise PayloadError(child("", extra[0]), 'unknown field: a batch has only "alerts"')
        items = require_list(obj["alerts"], "alerts", max_items=MAX_ALERTS, min_items=1)
        return [_parse_alert(item, index("alerts", i)) for i, item in enumerate(items)]
    return [_parse_alert(obj, "")]


def generic_key(title: str, host: str | None) -> str:
    """The default dedup key of a generic alert: a stable hash of its title and host."""
    return stable_hash([title.strip(), (host or "").strip()])


def _parse_alert(value: object, path: str) -> AlertEvent:
    alert = require_obj(value, path)
    for name in alert:
        if name not in FIELDS:
            raise PayloadError(
                child(path, name), "unknown field: expected one of " + ", ".join(sorted(FIELDS))
            )
    if alert.get("title") is None:
        raise PayloadError(child(path, "title"), "required: a short one-line title")
    title = require_str(alert["title"], child(path, "title"), max_length=MAX_TITLE_LENGTH, allow_empty=False)
    title = " ".join(title.split())
    status = alert.get("status")
    state = AlertState.FIRING if status is None else parse_status(status, child(path, "status"))
    severity = _severity(alert, path)
    host = optional_str(alert, "host", path, max_length=MAX_HOST_LENGTH)
    host = (host.strip() or None) if host is not None else None
    key = optional_str(alert, "key", path, max_length=MAX_KEY_LENGTH, allow_empty=False)
    key = fit_key(key) if key is not None else None
    labels = (
        require_string_map(alert["labels"], path, key="labels") if alert.get("labels") is not None else {}
    )
    return AlertEvent(
        source=SOURCE,
        fingerprint=key if key is not None else generic_key(title, host),
        state=state,
        name=clip_marked(labels.get("alertname") or title, MAX_NAME_LENGTH),
        title=title,
        severity=severity,
        labels=labels,
        starts_at=optional_time(alert, "starts_at", path),
        host=host,
        # clipped, not refused: send-alert passes a plugin's output, whose length pagerbot does not control
        description=clip_marked(optional_str(alert, "description", path, max_length=UNLIMITED) or "",
                                MAX_ANNOTATION_LENGTH),
        url=optional_str(alert, "url", path, max_length=MAX_URL_LENGTH) or None,
    )


def _severity(alert: Mapping[str, object], path: str) -> Severity:
    value = alert.get("severity")
    if value is None:
        return DEFAULT_SEVERITY
    spath = child(path, "severity")
    if isinstance(value, str):
        require_str(value, spath, max_length=32)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(spath, "expected 1-4, sev1-sev4 or a word such as critical or warning")
    try:
        return Severity.parse(value)
    except ValueError:
        shown = value if not isinstance(value, str) else value[:32]
        raise PayloadError(
            spath, f"unknown severity {shown!r}: expected 1-4, sev1-sev4, critical, error, warning or info"
        ) from None
