"""Pure authentication checks for the alert routes: no I/O, constant-time comparisons."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = [
    "GRAFANA_SIGNATURE_HEADER",
    "GRAFANA_TIMESTAMP_HEADER",
    "GRAFANA_TIMESTAMP_TOLERANCE",
    "SeenSignatures",
    "check_grafana_signature",
    "check_token",
]

GRAFANA_SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
"""Grafana's default signature header (configurable in the contact point's HMAC settings)."""
GRAFANA_TIMESTAMP_HEADER = "X-Grafana-Alerting-Timestamp"
"""pagerbot's default for the contact point's *Timestamp Header* (Grafana itself has no default name)."""
GRAFANA_TIMESTAMP_TOLERANCE = 300.0
"""How far (seconds) a signed timestamp may be from now, either way, before it counts as a replay."""


def check_token(authorization_header: str | None, token: str) -> bool:
    """True when ``Authorization`` carries ``token``.

    Accepted: ``Bearer TOKEN``, and HTTP Basic with the token as the password and any user name
    (for senders that only do Basic, e.g. Alertmanager's ``basic_auth``). The scheme is
    case-insensitive. An empty configured token never matches.
    """
    if not token or not authorization_header:
        return False
    scheme, _, credentials = authorization_header.strip().partition(" ")
    credentials = credentials.strip()
    scheme = scheme.lower()
    if scheme == "bearer":
        return _same(credentials, token)
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return False
        _, colon, password = decoded.partition(":")
        return bool(colon) and _same(password, token)
    return False


def check_grafana_signature(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    header: str = GRAFANA_SIGNATURE_HEADER,
    timestamp_header: str | None = None,
    tolerance: float = GRAFANA_TIMESTAMP_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``body`` carries a valid Grafana webhook HMAC signature.

    Grafana (contact point → Webhook → HMAC Signature) sends the lowercase hex HMAC-SHA256 of the
    raw body, keyed with the shared secret, in ``header`` (default ``X-Grafana-Alerting-Signature``).
    When a *Timestamp Header* is configured (it has no default name), Grafana puts a Unix timestamp
    in that header and signs ``timestamp + ":" + body`` instead; pass the same name as
    ``timestamp_header`` and the timestamp must then also be within ``tolerance`` seconds of ``now``
    (default: the current time). Header names are matched case-insensitively.
    """
    if not secret:
        return False
    signature = _header(headers, header)
    if not signature:
        return False
    message = body
    if timestamp_header:
        stamp = _header(headers, timestamp_header)
        if not stamp:
            return False
        try:
            sent_at = float(stamp.strip())
        except ValueError:
            return False
        current = time.time() if now is None else now
        if not abs(current - sent_at) <= tolerance:  # also false for NaN
            return False
        message = stamp.strip().encode("ascii", "replace") + b":" + body
    expected = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return _same(signature.strip().lower(), expected)


class SeenSignatures:
    """The signatures accepted within the last ``window`` seconds: the same signed request again is a replay.

    Grafana signs every attempt anew (a retry carries a new timestamp, so a new signature); a signature seen
    twice is somebody replaying a captured request. Older entries are forgotten: the timestamp check refuses
    those requests anyway. One per process (a replay sent to another replica within the window is not seen).
    """

    def __init__(self, window: float = GRAFANA_TIMESTAMP_TOLERANCE) -> None:
        self.window = window
        self._seen: dict[str, float] = {}

    def first_time(self, signature: str, now: float) -> bool:
        """Record ``signature``; False when it was already seen within the window."""
        if len(self._seen) > 1024:
            self._seen = {key: at for key, at in self._seen.items() if now - at <= self.window}
        key = signature.strip().lower()
        seen_at = self._seen.get(key)
        if seen_at is not None and now - seen_at <= self.window:
            return False
        self._seen[key] = now
        return True


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, item in headers.items():
        if key.lower() == wanted:
            return item
    return None
