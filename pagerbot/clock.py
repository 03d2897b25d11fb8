"""The clocks that implement the ``Clock`` port: the system's, and the demo's and tests' own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pagerbot.services.ports import Clock

__all__ = ["Clock", "ManualClock", "ShiftedClock", "SystemClock"]


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftedClock:
    """Wall time moved to another moment: the demo replays a recorded morning as if it were now."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self._origin = datetime.now(UTC)
        self._start = start
        self._speed = speed
        self._offset = timedelta(0)

    def now(self) -> datetime:
        elapsed = (datetime.now(UTC) - self._origin) * self._speed
        return self._start + elapsed + self._offset

    def jump_to(self, moment: datetime) -> None:
        """Move the clock forward to ``moment`` (never backwards)."""
        current = self.now()
        if moment > current:
            self._offset += moment - current


class ManualClock:
    """A clock that moves only when told: the demo's compressed scenario time, and tests."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment > self._now:
            self._now = moment

    def advance(self, delta: timedelta) -> None:
        self._now += delta
