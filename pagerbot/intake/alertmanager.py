"""Prometheus Alertmanager webhook notifications (``version: "4"``) → :class:`AlertEvent`.

The format: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config

Mapping of one alert:

- ``fingerprint``: the alert's ``fingerprint``; when absent (Alertmanager before 0.19 or a hand-made
  body) a stable hash of its sorted labels, which is how Alertmanager itself identifies an alert.
- ``name``: label ``alertname``.
- ``title``: annotation ``summary``, else ``alertname``, else "Alert <fingerprint>" (clipped to one
  line of 1024 characters; the full text stays in the annotations).
- ``description``: annotation ``description``, else ``message``.
- ``severity``: label ``severity`` read by :meth:`Severity.parse` (critical → sev1, error/high → sev2,
  warning → sev3, info → sev4, also ``1``-``4`` and ``sev1``-``sev4``); absent or unknown → sev3.
- ``host``: label ``host``, ``hostname``, ``instance`` (without ``:port``) or ``node``.
- ``url``: ``generatorURL``; ``state``: the alert's own ``status`` (``firing`` or ``resolved``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pagerbot.core.alerts import AlertEvent, AlertState, Severity
from pagerbot.intake.errors import PayloadError
from pagerbot.intake.limits import (
    MAX_ANNOTATION_LENGTH,
    MAX_ANNOTATIONS,
    MAX_NAME_LENGTH,
    MAX_TITLE_LENGTH,
    UNLIMITED,
    child,
    clip,
    clip_marked,
    fit_key,
    index,
    optional_int,
    optional_str,
    optional_time,
    optional_url,
    require_list,
    require_obj,
    require_str,
    require_string_map,
    stable_hash,
)

__all__ = [
    "DEFAULT_SEVERITY",
    "HOST_LABELS",
    "AlertmanagerNotification",
    "host_from_labels",
    "parse_alert",
    "parse_alertmanager",
    "parse_status",
]

SOURCE = "alertmanager"
DEFAULT_SEVERITY = Severity.SEV3
HOST_LABELS: tuple[str, ...] = ("host", "hostname", "instance", "node")
_STATUSES: dict[str, AlertState] = {"firing": AlertState.FIRING, "resolved": AlertState.RESOLVED}
_PORT = re.compile(r":\d{1,5}$")


@dataclass(frozen=True, slots=True)
class AlertmanagerNotification:
    """One webhook delivery: a group of alerts with what they have in common."""

    group_key: str
    status: AlertState
    receiver: str
    external_url: str | None
    group_labels: Mapping[str, str] = field(default_factory=dict)
    common_labels: Mapping[str, str] = field(default_factory=dict)
    common_annotations: Mapping[str, str] = field(default_factory=dict)
    truncated_alerts: int = 0
    version: str = "4"
    alerts: list[AlertEvent] = field(default_factory=list)


def parse_alertmanager(body: object) -> AlertmanagerNotification:
    """Validate an Alertmanager webhook body (already JSON-decoded) and return its alerts.

    Required: ``alerts`` (an array), and in each alert ``status`` and ``labels``. Optional but
    type-checked: ``version`` (must be "4" when given), ``groupKey``, ``status``, ``receiver``,
    ``externalURL``, ``groupLabels``, ``commonLabels``, ``commonAnnotations``, ``truncatedAlerts``.
    Unknown fields are ignored (newer Alertmanagers add some) and oversized values are clipped: only a
    body that is not of the format raises :class:`PayloadError`, naming the first offending field.
    """
    obj = require_obj(body, "")
    version = obj.get("version")
    if version is not None and version != "4":
        raise PayloadError("version", f'unsupported webhook version {clip(str(version), 20)!r}: expected "4"')
    if "alerts" not in obj:
        raise PayloadError("alerts", "required: an array of alerts")
    items = require_list(obj["alerts"], "alerts", max_items=UNLIMITED)
    truncated = optional_int(obj, "truncatedAlerts", "") or 0
    if truncated < 0:
        raise PayloadError("truncatedAlerts", "must not be negative")
    alerts = [parse_alert(item, index("alerts", i), left_out=truncated) for i, item in enumerate(items)]
    status_text = optional_str(obj, "status", "", max_length=32)
    if status_text is None:
        firing = any(a.state is AlertState.FIRING for a in alerts)
        status = AlertState.FIRING if firing or not alerts else AlertState.RESOLVED
    else:
        status = parse_status(status_text, "status")
    return AlertmanagerNotification(
        group_key=optional_str(obj, "groupKey", "", max_length=UNLIMITED) or "",
        status=status,
        receiver=optional_str(obj, "receiver", "", max_length=UNLIMITED) or "",
        external_url=optional_url(obj, "externalURL", ""),
        group_labels=_optional_labels(obj, "groupLabels", ""),
        common_labels=_optional_labels(obj, "commonLabels", ""),
        common_annotations=_optional_annotations(obj, "commonAnnotations", ""),
        truncated_alerts=truncated,
        version="4",
        alerts=alerts,
    )


def parse_alert(value: object, path: str, *, source: str = SOURCE, left_out: int = 0) -> AlertEvent:
    """One alert of an Alertmanager-shaped body (Grafana's alerts have the same core fields).

    ``left_out``: the notification's ``truncatedAlerts``, carried by each of its alerts to the incident.
    """
    alert = require_obj(value, path)
    if "status" not in alert:
        raise PayloadError(child(path, "status"), "required: firing or resolved")
    status = alert["status"]
    state = _STATUSES.get(status) if isinstance(status, str) else None
    if state is None:
        state = parse_status(status, child(path, "status"))
    if "labels" not in alert:
        raise PayloadError(child(path, "labels"), "required: an object of strings")
    labels = require_string_map(alert["labels"], path, key="labels", clip=True)
    annotations = _optional_annotations(alert, "annotations", path)
    fingerprint = optional_str(alert, "fingerprint", path, max_length=UNLIMITED)
    if not fingerprint:  # absent, or empty as in hand-made and templated bodies
        fingerprint = stable_hash(sorted(labels.items()))
    name = clip_marked(labels.get("alertname", ""), MAX_NAME_LENGTH)
    host = _fit_host(host_from_labels(labels))
    title_source = annotations.get("summary", "").strip() or name.strip() or f"Alert {fingerprint}"
    description = annotations.get("description") or annotations.get("message") or ""
    title_source, description = (by_host_name(text, labels, host) for text in (title_source, description))
    return AlertEvent(
        source=source,
        fingerprint=fit_key(fingerprint),
        state=state,
        name=name,
        title=clip(title_source, MAX_TITLE_LENGTH),
        severity=Severity.parse(labels.get("severity"), default=DEFAULT_SEVERITY),
        labels=labels,
        annotations=annotations,
        starts_at=optional_time(alert, "startsAt", path),
        ends_at=optional_time(alert, "endsAt", path),
        host=host,
        description=description,
        url=optional_url(alert, "generatorURL", path),
        left_out=left_out,
    )


def parse_status(value: object, path: str) -> AlertState:
    """``firing`` or ``resolved`` (case as Alertmanager sends it, lower)."""
    text = require_str(value, path, max_length=32)
    state = _STATUSES.get(text)
    if state is None:
        raise PayloadError(path, f"unknown status {text!r}: expected firing or resolved")
    return state


def host_from_labels(labels: Mapping[str, str]) -> str | None:
    """The host an alert is about: label ``host``, ``hostname``, ``instance`` or ``node``, first found.

    ``instance`` loses its ``:port`` (``web1:9100`` → ``web1``, ``[::1]:9100`` → ``::1``) and a URL
    instance (blackbox probes) gives its host name.
    """
    for name in HOST_LABELS:
        value = labels.get(name, "").strip()
        if not value:
            continue
        if name == "instance":
            value = _strip_port(value)
        if value:
            return value
    return None


def by_host_name(text: str, labels: Mapping[str, str], host: str | None) -> str:
    """Alert text names the host as people do: a rule's ``{{ $labels.instance }}`` ("db1:9100 is slow")
    reads "db1 is slow", as every other line about db1 does. The labels and annotations keep what was sent."""
    instance = labels.get("instance", "").strip()
    if not host or not instance or instance == host or "://" in instance or instance not in text:
        return text  # a probe's URL is what was probed: it stays
    if _strip_port(instance) != host:
        return text
    # By hand, not with a pattern made of the instance: one compiled pattern per host filled re's cache, and
    # compiling cost most of the time a storm's notifications took to parse.
    parts: list[str] = []
    start = searched = 0
    while (found := text.find(instance, searched)) >= 0:
        end = found + len(instance)
        if _name_edge(text, found - 1, "._-") and _name_edge(text, end, ":_"):
            parts += [text[start:found], host]
            start = searched = end
        else:
            searched = found + 1
    return "".join(parts) + text[start:]


def _name_edge(text: str, at: int, joining: str) -> bool:
    """Whether ``text[at]`` ends a name there: no character, or one that is neither a word's nor in ``joining``."""
    return not 0 <= at < len(text) or not (text[at].isalnum() or text[at] in joining)


def _fit_host(host: str | None) -> str | None:
    return clip_marked(host, MAX_NAME_LENGTH) if host else host


def _strip_port(instance: str) -> str:
    if "://" in instance:
        try:
            return urlsplit(instance).hostname or instance
        except ValueError:
            return instance
    if instance.startswith("["):  # [v6]:port
        end = instance.find("]")
        return instance[1:end] if end > 0 else instance
    if instance.count(":") == 1:  # host:port; a bare IPv6 address has several colons
        return _PORT.sub("", instance)
    return instance


def _optional_labels(obj: Mapping[str, object], key: str, path: str) -> dict[str, str]:
    value = obj.get(key)
    if value is None:
        return {}
    return require_string_map(value, path, key=key, clip=True)


def _optional_annotations(obj: Mapping[str, object], key: str, path: str) -> dict[str, str]:
    value = obj.get(key)
    if value is None:
        return {}
    return require_string_map(
        value,
        path,
        key=key,
        max_items=MAX_ANNOTATIONS,
        max_value_length=MAX_ANNOTATION_LENGTH,
        what="annotations",
        clip=True,
    )
