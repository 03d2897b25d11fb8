"""PagerDuty Events API v2 alert events → :class:`AlertEvent`.

The format: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/

A body is one event object, or (a pagerbot extension) a JSON array of events.

- ``event_action``: ``trigger`` → firing, ``acknowledge`` → acknowledged, ``resolve`` → resolved.
- ``dedup_key`` (at most 255 characters, PagerDuty's own limit) is the fingerprint, and the alert's
  whole identity: a trigger with a newer ``payload.timestamp`` is the same alert triggered again, as
  PagerDuty treats it. It is required for acknowledge and resolve. A trigger without one gets a key
  derived from ``routing_key`` and the payload's ``source``, ``summary``, ``component``, ``group``
  and ``class`` (32 hex digits), so a retried delivery of the same event is recognised; the route
  returns it, as PagerDuty does, in
  ``{"status": "success", "message": "Event processed", "dedup_key": ...}`` (:func:`success_body`).
- trigger needs ``payload.summary`` (the title; clipped at 1024 characters), ``payload.source`` (the
  host) and ``payload.severity``: critical → sev1, error → sev2, warning → sev3, info → sev4.
- ``payload.timestamp`` → ``starts_at`` (ignored when it is not a timestamp pagerbot can read);
  ``component``, ``group``, ``class`` and ``source`` become labels; ``custom_details`` become
  annotations (strings as they are, other values as JSON; each clipped at 16 KiB with a marker, as
  Alertmanager's and Grafana's receivers put a whole group's alerts in one detail); the first link with an
  ``href`` (else ``client_url``) is the alert's url; ``images`` (``src``, or ``url`` as some clients send)
  are not used. Unknown fields are ignored.
- the alert's ``name`` is ``payload.class``, unless it is absent or generic (Grafana always sends
  ``default``): then it is empty, and such alerts are grouped by their dedup key (core.grouping).
- acknowledge and resolve carry no payload: their title is the payload's summary when one was sent
  anyway, else ``"PagerDuty alert <dedup_key>"``, and their severity is sev3. Only their
  fingerprint and state are meant to be used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from pagerbot.core.alerts import AlertEvent, AlertState, Severity
from pagerbot.intake.errors import PayloadError
from pagerbot.intake.limits import (
    CLIPPED_ENTRY,
    MAX_ANNOTATION_LENGTH,
    MAX_ANNOTATIONS,
    MAX_LABEL_NAME_LENGTH,
    MAX_LABEL_VALUE_LENGTH,
    MAX_NAME_LENGTH,
    MAX_URL_LENGTH,
    UNLIMITED,
    child,
    clip,
    clip_marked,
    index,
    optional_str,
    optional_url,
    parse_time,
    require_list,
    require_obj,
    require_str,
    stable_hash,
)

__all__ = ["ACTIONS", "MAX_DEDUP_KEY_LENGTH", "SEVERITIES", "parse_pagerduty", "success_body"]

SOURCE = "pagerduty"
MAX_DEDUP_KEY_LENGTH = 255
MAX_SUMMARY_LENGTH = 1024
GENERIC_CLASSES = frozenset({"", "default"})
"""Classes that say nothing about the problem (Grafana's PagerDuty receiver always sends ``default``)."""
ACTIONS: dict[str, AlertState] = {
    "trigger": AlertState.FIRING,
    "acknowledge": AlertState.ACKNOWLEDGED,
    "resolve": AlertState.RESOLVED,
}
SEVERITIES: dict[str, Severity] = {
    "critical": Severity.SEV1,
    "error": Severity.SEV2,
    "warning": Severity.SEV3,
    "info": Severity.SEV4,
}


def parse_pagerduty(body: object) -> list[AlertEvent]:
    """Validate one Events API v2 event, or an array of them, and return the alerts in order."""
    if isinstance(body, list | tuple):
        items = require_list(body, "", max_items=UNLIMITED, min_items=1)
        return [_parse_event(item, index("", i)) for i, item in enumerate(items)]
    return [_parse_event(body, "")]


def success_body(event: AlertEvent) -> dict[str, str]:
    """What PagerDuty answers (with 202) for an accepted event."""
    return {"status": "success", "message": "Event processed", "dedup_key": event.fingerprint}


def _parse_event(value: object, path: str) -> AlertEvent:
    event = require_obj(value, path)
    if "event_action" not in event:
        raise PayloadError(child(path, "event_action"), "required: trigger, acknowledge or resolve")
    action = require_str(event["event_action"], child(path, "event_action"), max_length=32)
    state = ACTIONS.get(action)
    if state is None:
        raise PayloadError(
            child(path, "event_action"),
            f"unknown event_action {action!r}: expected trigger, acknowledge or resolve",
        )
    routing_key = optional_str(event, "routing_key", path, max_length=UNLIMITED) or ""
    dedup_key = optional_str(event, "dedup_key", path, max_length=MAX_DEDUP_KEY_LENGTH)
    dedup_key = dedup_key if dedup_key and dedup_key.strip() else None
    links = _links(event.get("links"))
    url = links[0] if links else optional_url(event, "client_url", path)

    payload_value = event.get("payload")
    if action != "trigger":
        if dedup_key is None:
            raise PayloadError(child(path, "dedup_key"), f"required for {action}")
        summary = None
        if isinstance(payload_value, Mapping):
            summary = optional_str(payload_value, "summary", child(path, "payload"), max_length=UNLIMITED)
        return AlertEvent(
            source=SOURCE,
            fingerprint=dedup_key,
            state=state,
            name="",
            title=clip(summary or "", MAX_SUMMARY_LENGTH) or f"PagerDuty alert {dedup_key}",
            severity=Severity.SEV3,
            url=url,
            identity_by_key=True,
        )

    ppath = child(path, "payload")
    if payload_value is None:
        raise PayloadError(ppath, "required for trigger: an object with summary, source and severity")
    payload = require_obj(payload_value, ppath)
    for key in ("summary", "source", "severity"):
        if payload.get(key) is None:
            raise PayloadError(child(ppath, key), "required for trigger")
    summary_text = require_str(payload["summary"], child(ppath, "summary"), max_length=UNLIMITED, allow_empty=False)
    source_text = require_str(payload["source"], child(ppath, "source"), max_length=UNLIMITED, allow_empty=False)
    source_text = clip_marked(source_text.strip(), MAX_NAME_LENGTH)  # the host: what the database keeps
    severity_text = require_str(payload["severity"], child(ppath, "severity"), max_length=32)
    severity = SEVERITIES.get(severity_text.strip().lower())
    if severity is None:
        raise PayloadError(
            child(ppath, "severity"),
            f"unknown severity {severity_text!r}: expected critical, error, warning or info",
        )
    labels: dict[str, str] = {"source": source_text}
    for key in ("component", "group", "class"):
        text = optional_str(payload, key, ppath, max_length=UNLIMITED)
        if text:
            labels[key] = clip_marked(text, MAX_LABEL_VALUE_LENGTH)
    annotations = _custom_details(payload.get("custom_details"), child(ppath, "custom_details"))
    if dedup_key is None:
        dedup_key = stable_hash(
            {
                "routing_key": routing_key,
                "source": source_text,
                "summary": summary_text,
                "component": labels.get("component", ""),
                "group": labels.get("group", ""),
                "class": labels.get("class", ""),
            },
            length=32,
        )
    event_class = labels.get("class", "")
    return AlertEvent(
        source=SOURCE,
        fingerprint=dedup_key,
        state=state,
        name="" if event_class.strip().lower() in GENERIC_CLASSES else clip_marked(event_class, MAX_NAME_LENGTH),
        title=clip(summary_text, MAX_SUMMARY_LENGTH),
        severity=severity,
        labels=labels,
        annotations=annotations,
        starts_at=_timestamp(payload.get("timestamp"), child(ppath, "timestamp")),
        host=source_text,
        description=annotations.get("description", ""),
        url=url,
        identity_by_key=True,
    )


def _timestamp(value: object, path: str) -> datetime | None:
    """When the source detected the problem; a value pagerbot cannot read is left out, not refused (PagerDuty
    itself takes any ISO 8601 time, and the dedup key, not this, identifies the alert)."""
    try:
        return parse_time(value, path) if value not in (None, "") else None
    except PayloadError:
        return None


def _custom_details(value: object, path: str) -> dict[str, str]:
    """``custom_details`` as annotations: an object's members, or any other value under one key.

    Never refused for its size: each detail is clipped at 16 KiB with a marker, and details past the 64th
    are left out (an entry ``pagerbot_clipped`` counts them).
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return {"custom_details": _text(value)}
    details = require_obj(value, path)
    result: dict[str, str] = {}
    for name, item in details.items():
        if name:
            result[clip_marked(name, MAX_LABEL_NAME_LENGTH)] = _text(item)
    if len(result) > MAX_ANNOTATIONS:
        kept = dict(list(result.items())[: MAX_ANNOTATIONS - 1])
        kept[CLIPPED_ENTRY] = f"{len(result) - len(kept)} more details were left out"
        return kept
    return result


def _text(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return clip_marked(text, MAX_ANNOTATION_LENGTH)


def _links(value: object) -> list[str]:
    """The ``href`` of each link that has one (Grafana sends an empty one when it has no external URL)."""
    if not isinstance(value, list):
        return []
    hrefs = (link.get("href") for link in value if isinstance(link, Mapping))
    return [href.strip() for href in hrefs if isinstance(href, str) and 0 < len(href.strip()) <= MAX_URL_LENGTH]
