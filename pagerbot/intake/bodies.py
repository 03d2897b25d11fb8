"""A sender's body to alerts: JSON decoding, then the parser of the route it came to.

The webhook runs this to answer 4xx for a body it cannot accept; the inbox keeps the body as received and
the inbox worker runs it again when it applies the delivery (a body is smaller than its alerts re-encoded,
and encoding them again cost the webhook a third of its time).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from pagerbot.core.alerts import AlertEvent
from pagerbot.intake.alertmanager import parse_alertmanager
from pagerbot.intake.errors import MalformedBody
from pagerbot.intake.generic import parse_generic
from pagerbot.intake.grafana import parse_grafana
from pagerbot.intake.pagerduty import parse_pagerduty


def _alertmanager(body: object) -> list[AlertEvent]:
    return parse_alertmanager(body).alerts


PARSERS: dict[str, Callable[[object], list[AlertEvent]]] = {
    "alertmanager": _alertmanager,
    "grafana": parse_grafana,
    "pagerduty": parse_pagerduty,
    "generic": parse_generic,
}

# JSON escapes can spell characters that no database column takes: NUL (PostgreSQL text refuses it) and
# lone UTF-16 surrogates (not encodable as UTF-8). Raw JSON cannot hold them unescaped.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Invisible characters that change how text reads without showing: bidi overrides and isolates (U+202E turns
# "exe.txt" into "txt.exe") and zero-width characters (hiding words from a search, joining look-alikes).
# They are dropped from every string a sender sends, so nothing shown in Slack or an export carries them.
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_INVISIBLE_ESCAPE = re.compile(r"\\u(?:061[cC]|200[b-fB-F]|202[a-eA-E]|206[0-46-9]|[fF][eE][fF][fF])")


def _storable(value: object) -> object:
    """``value`` with every unstorable character replaced by U+FFFD (the alert is kept, not refused) and
    every invisible one dropped."""
    if isinstance(value, str):
        return _INVISIBLE.sub("", _UNSTORABLE.sub("\ufffd", value))
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


def body_text(body: bytes) -> str:
    """The body as text (UTF-8), or MalformedBody."""
    if not body.strip():
        raise MalformedBody("empty body", "expected a JSON document")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody("body is not UTF-8", f"invalid byte at offset {exc.start}") from None


def decode_json(text: str) -> object:
    """The decoded JSON document, with unstorable characters replaced; MalformedBody when it is not JSON."""
    if not text.strip():
        raise MalformedBody("empty body", "expected a JSON document")
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedBody("malformed JSON", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise MalformedBody("malformed JSON", "nested too deeply") from None
    except ValueError as exc:  # Python refuses integers of more than 4,300 digits (a str-to-int DoS guard)
        raise MalformedBody("malformed JSON", f"a number too long to read ({exc})") from None
    return _storable(decoded) if _may_need_cleaning(text) else decoded


def _may_need_cleaning(text: str) -> bool:
    """Whether ``text`` may hold a character ``_storable`` replaces or drops, raw or escaped. Every such
    character is outside ASCII and every escape of one starts with ``\\u``: the two checks in C come first,
    because a storm's bodies are ASCII without escapes, and scanning them with the patterns cost as much as
    decoding them."""
    if text.isascii():
        return "\\u" in text and bool(_UNSTORABLE_ESCAPE.search(text) or _INVISIBLE_ESCAPE.search(text))
    return bool(_UNSTORABLE_ESCAPE.search(text) or _INVISIBLE.search(text) or _INVISIBLE_ESCAPE.search(text))


def parse_body(sender: str, text: str) -> list[AlertEvent]:
    """The alerts of a body sent to ``/alerts/<sender>``: MalformedBody or PayloadError when it is not one."""
    return PARSERS[sender](decode_json(text))
