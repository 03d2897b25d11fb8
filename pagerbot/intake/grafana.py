"""Grafana unified alerting webhook notifications → :class:`AlertEvent`.

The format: https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/

It extends Alertmanager's webhook body (``version`` is ``"1"`` here, not ``"4"``) with ``orgId``,
``state`` (``alerting``/``ok``), ``title`` and ``message`` at the top, and per alert ``values``,
``valueString``, ``silenceURL``, ``dashboardURL``, ``panelURL`` and ``imageURL``. Each alert maps
exactly as an Alertmanager alert does (see :mod:`pagerbot.intake.alertmanager`): fingerprint,
title from ``summary`` or ``alertname``, severity from the ``severity`` label (default sev3), host
from ``host``/``hostname``/``instance``/``node``. ``url`` is ``generatorURL``, or when Grafana sent
it empty, ``panelURL`` or ``dashboardURL``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from pagerbot.core.alerts import AlertEvent
from pagerbot.intake.alertmanager import parse_alert, parse_status
from pagerbot.intake.errors import PayloadError
from pagerbot.intake.limits import (
    MAX_ANNOTATION_LENGTH,
    UNLIMITED,
    child,
    describe,
    index,
    optional_int,
    optional_str,
    optional_url,
    require_list,
    require_obj,
    require_string_map,
)

__all__ = ["parse_grafana"]

SOURCE = "grafana"
_GROUP_STATES = frozenset({"alerting", "ok", "pending", "no_data", "nodata", "paused", "resolved", "firing"})
_URL_FIELDS = ("silenceURL", "dashboardURL", "panelURL", "imageURL")


def parse_grafana(body: object) -> list[AlertEvent]:
    """Validate a Grafana webhook body (already JSON-decoded) and return its alerts.

    Required: ``alerts``, and in each alert ``status`` and ``labels``. Everything else is optional
    but type-checked; unknown fields are ignored (Grafana adds some in new versions: ``ruleUID``,
    ``enrichments``, ...) and oversized values clipped. Raises :class:`PayloadError` naming the first
    offending field of a body that is not of the format.
    """
    obj = require_obj(body, "")
    if "alerts" not in obj:
        raise PayloadError("alerts", "required: an array of alerts")
    _check_envelope(obj)
    items = require_list(obj["alerts"], "alerts", max_items=UNLIMITED)
    left_out = max(optional_int(obj, "truncatedAlerts", "") or 0, 0)
    return [_parse_grafana_alert(item, index("alerts", i), left_out) for i, item in enumerate(items)]


def _check_envelope(obj: Mapping[str, object]) -> None:
    for key in ("version", "groupKey", "receiver", "externalURL", "title", "message"):
        optional_str(obj, key, "", max_length=UNLIMITED)
    optional_int(obj, "orgId", "")
    status = obj.get("status")
    if status is not None:
        parse_status(status, "status")
    state = optional_str(obj, "state", "", max_length=32)
    if state is not None and state not in _GROUP_STATES:
        raise PayloadError("state", f"unknown state {state!r}: expected alerting or ok")
    for key in ("groupLabels", "commonLabels"):
        if obj.get(key) is not None:
            require_string_map(obj[key], key, clip=True)
    if obj.get("commonAnnotations") is not None:
        require_string_map(obj["commonAnnotations"], "commonAnnotations", max_value_length=MAX_ANNOTATION_LENGTH,
                           what="annotations", clip=True)


def _parse_grafana_alert(value: object, path: str, left_out: int) -> AlertEvent:
    event = parse_alert(value, path, source=SOURCE, left_out=left_out)
    alert = require_obj(value, path)  # already checked by parse_alert; typed access for the extras
    urls = {key: optional_url(alert, key, path) or "" for key in _URL_FIELDS}
    optional_str(alert, "valueString", path, max_length=UNLIMITED)
    optional_int(alert, "orgId", path)
    _check_values(alert.get("values"), child(path, "values"))
    if event.url is None:
        fallback = urls["panelURL"] or urls["dashboardURL"]
        if fallback:
            event = dataclasses.replace(event, url=fallback)
    return event


def _check_values(value: object, path: str) -> None:
    """``values``: the query results that made the alert fire, e.g. ``{"B": 44.2, "C": 1}``."""
    if value is None:
        return
    values = require_obj(value, path)
    for name, item in values.items():
        if item is not None and (isinstance(item, bool) or not isinstance(item, int | float)):
            raise PayloadError(child(path, name), f"expected a number or null, got {describe(item)}")
