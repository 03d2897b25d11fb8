"""``pagerbot send-alert``: post one alert in pagerbot's generic form (for Nagios/Icinga and cron).

:func:`build_generic_body` is pure; :func:`send_alert` posts it with httpx and returns the answer.
See docs/intake.md for the body and for a Nagios ``define command``.
"""

from __future__ import annotations

from typing import Any

import httpx

from pagerbot.core.alerts import Severity

__all__ = ["NAGIOS_STATES", "build_generic_body", "parse_severity", "send_alert"]

NAGIOS_STATES: dict[str, Severity] = {
    "critical": Severity.SEV1,
    "down": Severity.SEV1,
    "unreachable": Severity.SEV2,
    "warning": Severity.SEV3,
    "unknown": Severity.SEV3,
    "ok": Severity.SEV4,
    "up": Severity.SEV4,
}
"""Nagios/Icinga service and host states, so ``--severity $SERVICESTATE$`` / ``$HOSTSTATE$`` work."""


def parse_severity(value: str | int | Severity) -> Severity:
    """``1``-``4``, ``sev1``-``sev4``, a severity word, or a Nagios/Icinga state name.

    Raises ValueError with a one-line message for anything else.
    """
    if isinstance(value, str) and value.strip().lower() in NAGIOS_STATES:
        return NAGIOS_STATES[value.strip().lower()]
    return Severity.parse(value)


def build_generic_body(
    *,
    title: str,
    severity: str | int | Severity | None = None,
    host: str | None = None,
    resolve: bool = False,
    key: str | None = None,
    description: str | None = None,
    labels: dict[str, str] | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """The generic JSON form of one alert; only the given fields are included.

    ``severity`` is normalised to ``"sev1"``..``"sev4"`` here, so a bad value fails before anything
    is sent (ValueError).
    """
    if not title or not title.strip():
        raise ValueError("the title must not be empty")
    body: dict[str, Any] = {"title": title.strip(), "status": "resolved" if resolve else "firing"}
    if severity is not None and not (isinstance(severity, str) and not severity.strip()):
        body["severity"] = parse_severity(severity).label
    if host:
        body["host"] = host
    if key:
        body["key"] = key
    if description:
        body["description"] = description
    if labels:
        body["labels"] = dict(labels)
    if url:
        body["url"] = url
    return body


def send_alert(
    url: str,
    *,
    token: str,
    title: str,
    severity: str | int | Severity | None = None,
    host: str | None = None,
    resolve: bool = False,
    key: str | None = None,
    description: str | None = None,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> tuple[int, str]:
    """POST one generic alert to ``url`` (pagerbot's ``/alerts/generic``) with a Bearer token.

    Returns the HTTP status and the body text. Raises ValueError for a bad title or severity and
    ``httpx.HTTPError`` (e.g. ``httpx.ConnectError``, ``httpx.TimeoutException``) when no answer came.
    """
    body = build_generic_body(
        title=title, severity=severity, host=host, resolve=resolve, key=key, description=description
    )
    headers = {"Accept": "application/json", "User-Agent": "pagerbot-send-alert"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with httpx.Client(timeout=timeout, transport=transport) as client:
        response = client.post(url, json=body, headers=headers)
        return response.status_code, response.text
