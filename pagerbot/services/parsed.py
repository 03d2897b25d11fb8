"""Bodies this process has parsed, kept a while for the inbox worker, so that a delivery is parsed once.

A webhook parses its body to answer a bad one with a 4xx, then stores the body in the inbox; the inbox worker
applies it moments later and needs the same alerts. Parsing is most of what a storm costs in Python (about
40 µs an alert), and doing it twice halved how fast a replica applies what it answers. ``parse_body`` is a pure
function of the sender and the text, so the worker may take the webhook's result instead of parsing again:
the inbox row stays the source of truth (a delivery another replica accepted, or one that waited past a
restart, is parsed from its body as before).

The worker also reads ahead: while the database applies one batch, it parses the next deliveries it claimed
(``keep(..., ahead=True)``), so that Python's work and the database's overlap instead of taking turns.

Bounded by alerts, not deliveries: about 1.3 KB of memory an alert. When full, entries older than
``stale_seconds`` go first (their deliveries were applied by another replica, or failed); while the worker is
behind, a webhook's newer body is not kept (the oldest, which the worker takes next, stay), and what the
worker reads ahead, which it takes next, makes room by dropping the newest entries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from pagerbot.core.alerts import AlertEvent

DEFAULT_MAX_ALERTS = 40_000  # about 50 MB: a storm's first 400 notifications of 100 alerts
DEFAULT_STALE_SECONDS = 60.0


class ParsedBodies:
    def __init__(self, max_alerts: int = DEFAULT_MAX_ALERTS, stale_seconds: float = DEFAULT_STALE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_alerts = max_alerts
        self.stale_seconds = stale_seconds
        self._clock = clock
        # Insertion order is age order: the oldest entry is the first. Values: (kept at, alerts).
        self._entries: dict[tuple[str, str], tuple[float, tuple[AlertEvent, ...]]] = {}
        self._alerts = 0
        # The worker takes from a thread (it parses there on a miss); the webhooks keep from the event loop.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def alerts(self) -> int:
        return self._alerts

    def keep(self, sender: str, text: str, events: Sequence[AlertEvent], *, ahead: bool = False) -> bool:
        """Remember what ``text`` parsed to; False when there is no room (the worker will parse it).

        ``ahead``: the worker's read-ahead, wanted sooner than anything kept since: newer entries make room.
        """
        count = len(events)
        if not count or count > self.max_alerts:
            return False
        key = (sender, text)
        now = self._clock()
        with self._lock:
            previous = self._entries.pop(key, None)  # an identical resend: one entry serves the first to come
            if previous is not None:
                self._alerts -= len(previous[1])
            while self._alerts + count > self.max_alerts and self._entries:
                oldest_key = next(iter(self._entries))
                kept_at, oldest = self._entries[oldest_key]
                if now - kept_at >= self.stale_seconds:
                    del self._entries[oldest_key]
                    self._alerts -= len(oldest)
                elif ahead:
                    self._alerts -= len(self._entries.popitem()[1][1])
                else:
                    return False
            self._entries[key] = (now, tuple(events))
            self._alerts += count
            return True

    def has(self, sender: str, text: str) -> bool:
        with self._lock:
            return (sender, text) in self._entries

    def take(self, sender: str, text: str) -> list[AlertEvent] | None:
        """The alerts ``text`` parsed to, if kept (and no longer kept), else None."""
        with self._lock:
            entry = self._entries.pop((sender, text), None)
            if entry is None:
                return None
            self._alerts -= len(entry[1])
        return list(entry[1])
