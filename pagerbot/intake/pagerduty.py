"""PagerDuty Events API v2 alert events → :class:`AlertEvent`.

The format: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/

A body is one event object, or (a pagerbot extension) a JSON array of at most 1000 events.

- ``event_action``: ``trigger`` → firing, ``acknowledge`` → acknowledged, ``resolve`` → resolved.
- ``dedup_key`` (at most 255 characters) is the fingerprint. It is required for acknowledge and
  resolve. A trigger without one gets a key derived from ``routing_key`` and the payload's
  ``source``, ``summary``, ``component``, ``group`` and ``class`` (32 hex digits), so a retried
  delivery of the same event is recognised; the route returns it, as PagerDuty does, in
  ``{"status": "success", "message": "Event processed", "dedup_key": ...}`` (:func:`success_body`).
- trigger needs ``payload.summary`` (at most 1024 characters, the title), ``payload.source`` (the
  host) and ``payload.severity``: critical → sev1, error → sev2, warning → sev3, info → sev4.
- ``payload.timestamp`` → ``starts_at``; ``component``, ``group``, ``class`` and ``source`` become
  labels; ``custom_details`` become annotations (strings as they are, other values as JSON);
  ``links``/``images`` are checked, and the first link (else ``client_url``) is the alert's url.
- acknowledge and resolve carry no payload: their title is the payload's summary when one was sent
  anyway, else ``"PagerDuty alert <dedup_key>"``, and their severity is sev3. Only their
  fingerprint and state are meant to be used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pagerbot.core.alerts import AlertEvent, AlertState, Severity
from pagerbot.intake.errors import PayloadError
from pagerbot.intake.limits import (
    MAX_ALERTS,
    MAX_ANNOTATION_LENGTH,
    MAX_ANNOTATIONS,
    MAX_KEY_LENGTH,
    MAX_LABEL_NAME_LENGTH,
    MAX_LABEL_VALUE_LENGTH,
    MAX_URL_LENGTH,
    child,
    index,
    optional_str,
    optional_time,
    require_list,
    require_obj,
    require_str,
    stable_hash,
)

__all__ = ["ACTIONS", "MAX_DEDUP_KEY_LENGTH", "SEVERITIES", "parse_pagerduty", "success_body"]

SOURCE = "pagerduty"
MAX_DEDUP_KEY_LENGTH = 255
MAX_SUMMARY_LENGTH = 1024
MAX_LINKS = 50
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
        items = require_list(body, "", max_items=MAX_ALERTS, min_items=1)
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
    routing_key = optional_str(event, "routing_key", path, max_length=MAX_KEY_LENGTH) or ""
    dedup_key = optional_str(event, "dedup_key", path, max_length=MAX_DEDUP_KEY_LENGTH, allow_empty=False)
    client_url = optional_str(event, "client_url", path, max_length=MAX_URL_LENGTH)
    optional_str(event, "client", path, max_length=MAX_LABEL_VALUE_LENGTH)
    links = _links(event, path)
    _images(event, path)
    url = links[0] if links else (client_url or None)

    payload_value = event.get("payload")
    if action != "trigger":
        if dedup_key is None:
            raise PayloadError(child(path, "dedup_key"), f"required for {action}")
        summary = None
        if isinstance(payload_value, Mapping):
            summary = optional_str(
                payload_value, "summary", child(path, "payload"), max_length=MAX_SUMMARY_LENGTH
            )
        return AlertEvent(
            source=SOURCE,
            fingerprint=dedup_key,
            state=state,
            name="",
            title=(summary or "").strip() or f"PagerDuty alert {dedup_key}",
            severity=Severity.SEV3,
            url=url,
        )

    ppath = child(path, "payload")
    if payload_value is None:
        raise PayloadError(ppath, "required for trigger: an object with summary, source and severity")
    payload = require_obj(payload_value, ppath)
    for key in ("summary", "source", "severity"):
        if payload.get(key) is None:
            raise PayloadError(child(ppath, key), "required for trigger")
    summary_text = require_str(
        payload["summary"], child(ppath, "summary"), max_length=MAX_SUMMARY_LENGTH, allow_empty=False
    )
    source_text = require_str(
        payload["source"], child(ppath, "source"), max_length=MAX_LABEL_VALUE_LENGTH, allow_empty=False
    )
    severity_text = require_str(payload["severity"], child(ppath, "severity"), max_length=32)
    severity = SEVERITIES.get(severity_text)
    if severity is None:
        raise PayloadError(
            child(ppath, "severity"),
            f"unknown severity {severity_text!r}: expected critical, error, warning or info",
        )
    labels: dict[str, str] = {"source": source_text}
    for key in ("component", "group", "class"):
        text = optional_str(payload, key, ppath, max_length=MAX_LABEL_VALUE_LENGTH)
        if text:
            labels[key] = text
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
    return AlertEvent(
        source=SOURCE,
        fingerprint=dedup_key,
        state=state,
        name=labels.get("class", ""),
        title=" ".join(summary_text.split()),
        severity=severity,
        labels=labels,
        annotations=annotations,
        starts_at=optional_time(payload, "timestamp", ppath),
        host=source_text.strip(),
        description=annotations.get("description", ""),
        url=url,
    )


def _custom_details(value: object, path: str) -> dict[str, str]:
    """``custom_details`` as annotations: an object's members, or any other value under one key."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return {"custom_details": _text(value, path)}
    details = require_obj(value, path)
    if len(details) > MAX_ANNOTATIONS:
        raise PayloadError(path, f"too many details: {len(details)}, at most {MAX_ANNOTATIONS} are accepted")
    result: dict[str, str] = {}
    for name, item in details.items():
        if not name:
            raise PayloadError(path, "detail names must not be empty")
        if len(name) > MAX_LABEL_NAME_LENGTH:
            raise PayloadError(path, f"a name is too long: {len(name)} characters")
        result[name] = _text(item, child(path, name))
    return result


def _text(value: object, path: str) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) > MAX_ANNOTATION_LENGTH:
        raise PayloadError(path, f"too long: {len(text)} characters, at most {MAX_ANNOTATION_LENGTH}")
    return text


def _links(event: Mapping[str, object], path: str) -> list[str]:
    if event.get("links") is None:
        return []
    lpath = child(path, "links")
    hrefs: list[str] = []
    for i, item in enumerate(require_list(event["links"], lpath, max_items=MAX_LINKS)):
        ipath = index(lpath, i)
        link = require_obj(item, ipath)
        if link.get("href") is None:
            raise PayloadError(child(ipath, "href"), "required: the link's URL")
        hrefs.append(
            require_str(link["href"], child(ipath, "href"), max_length=MAX_URL_LENGTH, allow_empty=False)
        )
        optional_str(link, "text", ipath, max_length=MAX_LABEL_VALUE_LENGTH)
    return hrefs


def _images(event: Mapping[str, object], path: str) -> None:
    if event.get("images") is None:
        return
    ipath_root = child(path, "images")
    for i, item in enumerate(require_list(event["images"], ipath_root, max_items=MAX_LINKS)):
        ipath = index(ipath_root, i)
        image = require_obj(item, ipath)
        if image.get("src") is None:
            raise PayloadError(child(ipath, "src"), "required: the image's URL")
        require_str(image["src"], child(ipath, "src"), max_length=MAX_URL_LENGTH, allow_empty=False)
        optional_str(image, "href", ipath, max_length=MAX_URL_LENGTH)
        optional_str(image, "alt", ipath, max_length=MAX_LABEL_VALUE_LENGTH)
