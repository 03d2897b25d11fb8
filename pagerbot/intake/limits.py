"""Limits and typed validation helpers shared by every intake parser.

Every helper takes the JSON path of the value it checks and raises :class:`PayloadError` naming that
path, so a parser reads as a list of field rules and every sender's errors look the same.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from pagerbot.intake.errors import PayloadError

__all__ = [
    "CLIPPED_ENTRY",
    "CLIP_MARKER",
    "MAX_ALERTS",
    "MAX_ANNOTATIONS",
    "MAX_ANNOTATION_LENGTH",
    "MAX_KEY_LENGTH",
    "MAX_LABELS",
    "MAX_LABEL_NAME_LENGTH",
    "MAX_LABEL_VALUE_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_TEXT_LENGTH",
    "MAX_TITLE_LENGTH",
    "MAX_URL_LENGTH",
    "UNLIMITED",
    "child",
    "clip",
    "clip_marked",
    "describe",
    "fit_key",
    "index",
    "optional_bool",
    "optional_int",
    "optional_str",
    "optional_time",
    "optional_url",
    "parse_time",
    "require_list",
    "require_obj",
    "require_str",
    "require_string_map",
    "stable_hash",
]

# --- limits ----------------------------------------------------------------------------------------
MAX_ALERTS = 1000
"""Alerts in one body (an Alertmanager group, a Grafana notification, a generic or PagerDuty batch)."""
MAX_LABELS = 64
"""Labels on one alert (Prometheus' own default label_limit is unlimited; 64 is far beyond real use)."""
MAX_LABEL_NAME_LENGTH = 256
MAX_LABEL_VALUE_LENGTH = 4096
MAX_ANNOTATIONS = 64
"""Annotations (or custom details) on one alert."""
MAX_ANNOTATION_LENGTH = 16 * 1024
"""One annotation value, a description or a message."""
MAX_TITLE_LENGTH = 1024
"""A title given as a title (PagerDuty's own limit on ``payload.summary``); longer summaries are clipped."""
MAX_TEXT_LENGTH = 16 * 1024
"""Any other free-text string field."""
MAX_KEY_LENGTH = 512
"""Fingerprints, dedup keys, group keys, routing keys."""
MAX_STORED_KEY_LENGTH = 255
"""What the database keeps of an alert's key (fingerprint); a longer key is shortened by :func:`fit_key`."""
MAX_NAME_LENGTH = 255
"""What the database keeps of an alert's name and host."""
MAX_URL_LENGTH = 8192
UNLIMITED = 1 << 62
"""For the senders' formats: no count or length limit of its own; the body's size limit (413) is the bound."""
CLIP_MARKER = " …[clipped by pagerbot: {more} more characters]"
"""Ends a value that was too long to keep whole, so a reader knows something is missing (and how much)."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATH_KEY_SHOWN = 64


# --- paths -----------------------------------------------------------------------------------------
def child(path: str, key: str) -> str:
    """The path of ``key`` inside the object at ``path``: ``alerts[3].labels`` + ``severity``."""
    if _IDENTIFIER.fullmatch(key) and len(key) <= _PATH_KEY_SHOWN:
        return f"{path}.{key}" if path else key
    shown = key if len(key) <= _PATH_KEY_SHOWN else key[:_PATH_KEY_SHOWN] + "…"
    return f"{path}[{json.dumps(shown, ensure_ascii=False)}]"


def index(path: str, i: int) -> str:
    """The path of item ``i`` of the list at ``path``: ``alerts`` + 3 → ``alerts[3]``."""
    return f"{path}[{i}]"


def describe(value: object) -> str:
    """The JSON type name of a decoded value, for messages ("got an array")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


# --- typed access ----------------------------------------------------------------------------------
def require_obj(value: object, path: str) -> Mapping[str, object]:
    """``value`` as a JSON object, or PayloadError at ``path``."""
    if not isinstance(value, Mapping):
        raise PayloadError(path, f"expected an object, got {describe(value)}")
    for key in value:
        if not isinstance(key, str):  # not possible from json.loads, but parsers take any object
            raise PayloadError(path, "expected an object with string keys")
    return value


def require_list(
    value: object, path: str, *, max_items: int = MAX_ALERTS, min_items: int = 0
) -> list[object]:
    """``value`` as a JSON array of at most ``max_items`` items."""
    if not isinstance(value, list | tuple):
        raise PayloadError(path, f"expected an array, got {describe(value)}")
    if len(value) > max_items:
        raise PayloadError(path, f"too many items: {len(value)}, at most {max_items} are accepted")
    if len(value) < min_items:
        raise PayloadError(path, f"expected at least {min_items} item{'s' if min_items != 1 else ''}")
    return list(value)


def require_str(
    value: object, path: str, *, max_length: int = MAX_TEXT_LENGTH, allow_empty: bool = True
) -> str:
    """``value`` as a string of at most ``max_length`` characters."""
    if not isinstance(value, str):
        raise PayloadError(path, f"expected a string, got {describe(value)}")
    if len(value) > max_length:
        raise PayloadError(path, f"too long: {len(value)} characters, at most {max_length} are accepted")
    if not allow_empty and not value.strip():
        raise PayloadError(path, "must not be empty")
    return value


def optional_str(
    obj: Mapping[str, object],
    key: str,
    path: str,
    *,
    max_length: int = MAX_TEXT_LENGTH,
    allow_empty: bool = True,
) -> str | None:
    """``obj[key]`` as a string, or None when the key is absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= max_length and (allow_empty or value.strip()):
        return value  # the common case, without building the path
    return require_str(value, child(path, key), max_length=max_length, allow_empty=allow_empty)


def optional_url(obj: Mapping[str, object], key: str, path: str) -> str | None:
    """``obj[key]`` as a link: None when absent, empty, or too long to be followed once clipped."""
    value = optional_str(obj, key, path, max_length=UNLIMITED)
    if not value or len(value) > MAX_URL_LENGTH:
        return None
    return value


def optional_int(obj: Mapping[str, object], key: str, path: str) -> int | None:
    """``obj[key]`` as an integer (a JSON number without a fraction), or None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(child(path, key), f"expected an integer, got {describe(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise PayloadError(child(path, key), "expected an integer")
        value = int(value)
    return value


def optional_bool(obj: Mapping[str, object], key: str, path: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise PayloadError(child(path, key), f"expected true or false, got {describe(value)}")
    return value


def require_string_map(
    value: object,
    path: str,
    *,
    key: str | None = None,
    max_items: int = MAX_LABELS,
    max_name_length: int = MAX_LABEL_NAME_LENGTH,
    max_value_length: int = MAX_LABEL_VALUE_LENGTH,
    what: str = "labels",
    clip: bool = False,
) -> dict[str, str]:
    """A label (or annotation) map: an object of at most ``max_items`` non-empty names to strings.

    The map is at ``path``, or at ``child(path, key)`` when ``key`` is given (built only for an error
    message: a storm's notifications carry thousands of label maps). Values that are not strings are
    always refused (the body is not of the format). Beyond that, pagerbot's own form refuses oversized maps;
    with ``clip`` (the senders' formats, whose notifications must never be refused) an overlong value or
    name is clipped with :data:`CLIP_MARKER`, names past ``max_items`` are left out (an entry named
    ``pagerbot_clipped`` says how many) and empty names are dropped.
    """
    if type(value) is dict and len(value) <= max_items:  # what json.loads gives: one pass, no paths
        for name, item in value.items():
            if (type(name) is not str or type(item) is not str or not name or len(name) > max_name_length
                    or len(item) > max_value_length):
                break
        else:
            return dict(value)
    where = child(path, key) if key is not None else path
    if clip:
        return _clipped_string_map(value, where, max_items=max_items, max_name_length=max_name_length,
                                   max_value_length=max_value_length)
    return _checked_string_map(value, where, max_items=max_items,
                               max_name_length=max_name_length, max_value_length=max_value_length, what=what)


CLIPPED_ENTRY = "pagerbot_clipped"
"""The entry that says how many entries of an oversized label or annotation map were left out."""


def _clipped_string_map(
    value: object, path: str, *, max_items: int, max_name_length: int, max_value_length: int
) -> dict[str, str]:
    """:func:`require_string_map` for a sender's map: only a value that is not a string is refused."""
    obj = require_obj(value, path)
    result: dict[str, str] = {}
    for name, item in obj.items():
        if not isinstance(item, str):
            raise PayloadError(child(path, name), f"expected a string, got {describe(item)}")
        if name:
            result[clip_marked(name, max_name_length)] = clip_marked(item, max_value_length)
    if len(result) > max_items:
        kept = dict(list(result.items())[: max_items - 1])
        kept[CLIPPED_ENTRY] = f"{len(result) - len(kept)} more entries were left out"
        return kept
    return result


def _checked_string_map(
    value: object, path: str, *, max_items: int, max_name_length: int, max_value_length: int, what: str
) -> dict[str, str]:
    """:func:`require_string_map` item by item, raising PayloadError at the first fault."""
    obj = require_obj(value, path)
    if len(obj) > max_items:
        raise PayloadError(path, f"too many {what}: {len(obj)}, at most {max_items} are accepted")
    result: dict[str, str] = {}
    for name, item in obj.items():
        if not name:
            raise PayloadError(path, f"{what} names must not be empty")
        if len(name) > max_name_length:
            raise PayloadError(path, f"a name is too long: {len(name)} characters, at most {max_name_length}")
        if not isinstance(item, str):
            raise PayloadError(child(path, name), f"expected a string, got {describe(item)}")
        if len(item) > max_value_length:
            raise PayloadError(
                child(path, name), f"too long: {len(item)} characters, at most {max_value_length}"
            )
        result[name] = item
    return result


# --- time ------------------------------------------------------------------------------------------
_RFC3339 = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[Tt ]"
    r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})(?:\.(?P<fraction>\d{1,30}))?"
    r"(?P<zone>[Zz]|[+-]\d{2}:?\d{2})"
)


_GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def parse_time(value: object, path: str) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime.

    Go's zero time (``0001-01-01T00:00:00Z``, what Alertmanager sends as ``endsAt`` of a firing
    alert, in any zone) means "unset" and gives None; any other instant, however old, is a time (the
    incident's key times disbelieve starts before 2000: core/records.PLAUSIBLE_SINCE). Fractions beyond
    microseconds are truncated (Alertmanager sends nanoseconds); a leap second is read as :59.
    The ISO 8601 offset without a colon (``+0000``, as in PagerDuty's own examples) is accepted.
    """
    parsed = _time_of(require_str(value, path, max_length=64))
    if isinstance(parsed, str):
        raise PayloadError(path, parsed)
    return parsed


@lru_cache(maxsize=4096)
def _time_of(text: str) -> datetime | str | None:
    """:func:`parse_time` of a string: the datetime, None for "unset", or what is wrong with it.

    Cached: the alerts of a notification or a storm mostly share their timestamps.
    """
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return "expected an RFC 3339 timestamp like 2024-05-01T12:00:00Z"
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    if (year, month, day) == (1, 1, 1) and _at_midnight(match):
        return None  # Go's zero time, in whatever zone it was written: unset
    zone = match["zone"]
    if zone in ("Z", "z"):
        tz: timezone = UTC
    else:
        hours, minutes = int(zone[1:3]), int(zone[-2:])
        if hours > 23 or minutes > 59:
            return "invalid UTC offset"
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if zone[0] == "-" else offset)
    fraction = (match["fraction"] or "").ljust(6, "0")[:6]
    try:
        parsed = datetime(
            year,
            month,
            day,
            int(match["hour"]),
            int(match["minute"]),
            min(int(match["second"]), 59),
            int(fraction),
            tzinfo=tz,
        )
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return "not a valid date and time"


def _at_midnight(match: re.Match[str]) -> bool:
    return (int(match["hour"]), int(match["minute"]), int(match["second"])) == (0, 0, 0) and not (
        match["fraction"] or "").strip("0")


def optional_time(obj: Mapping[str, object], key: str, path: str) -> datetime | None:
    """``obj[key]`` parsed with :func:`parse_time`; None when absent, null, empty or the zero time."""
    value = obj.get(key)
    if value is None or value == "" or value == _GO_ZERO_TIME:
        return None
    if type(value) is str and len(value) <= 64:
        parsed = _time_of(value)
        if not isinstance(parsed, str):
            return parsed
    return parse_time(value, child(path, key))


# --- keys and text ---------------------------------------------------------------------------------
def stable_hash(value: object, *, length: int = 16) -> str:
    """A deterministic hex digest of a JSON-able value (dict key order does not matter).

    Used for fingerprints and dedup keys a sender did not give: the same input gives the same key
    on every replica and after every restart.
    """
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def fit_key(key: str) -> str:
    """``key`` as the database can keep it: whole when it fits, else its beginning and a hash of all of it,
    so that the same long key always gives the same shorter one and two long keys never collide."""
    if len(key) <= MAX_STORED_KEY_LENGTH:
        return key
    digest = stable_hash(key, length=32)
    return key[: MAX_STORED_KEY_LENGTH - len(digest) - 1] + "#" + digest


def clip_marked(text: str, max_length: int) -> str:
    """``text`` whole when it fits in ``max_length``; else cut so that it ends with :data:`CLIP_MARKER`
    (which says how many characters were left out) and is ``max_length`` long."""
    if len(text) <= max_length:
        return text
    marker = CLIP_MARKER.format(more=len(text) - max_length)  # about right; exact below
    keep = max(max_length - len(marker), 0)
    marker = CLIP_MARKER.format(more=len(text) - keep)
    keep = max(max_length - len(marker), 0)
    return text[:keep] + marker


def clip(text: str, max_length: int) -> str:
    """``text`` on one line at most ``max_length`` characters, ending in "…" when cut."""
    line = " ".join(text.split())
    if len(line) <= max_length:
        return line
    return line[: max_length - 1].rstrip() + "…"
