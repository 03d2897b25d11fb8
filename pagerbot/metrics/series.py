"""The metrics port: every source (Prometheus, Ganglia, Graphite, recorded) returns these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# Canonical metric names, whatever the source calls them.
LOAD1 = "load1"
LOAD5 = "load5"
LOAD15 = "load15"
CPUS = "cpus"  # number of cores
CPU_BUSY = "cpu_busy"  # percent, 0-100
IOWAIT = "iowait"  # percent, 0-100
MEM_AVAILABLE = "mem_available"  # bytes
MEM_TOTAL = "mem_total"  # bytes
SWAP_USED = "swap_used"  # bytes
DISK_BUSY = "disk_busy"  # percent of time the busiest disk was busy, 0-100
NET_IN = "net_in"  # bytes/s
NET_OUT = "net_out"  # bytes/s

ALL_METRICS = (LOAD1, LOAD5, LOAD15, CPUS, CPU_BUSY, IOWAIT, MEM_AVAILABLE, MEM_TOTAL, SWAP_USED,
               DISK_BUSY, NET_IN, NET_OUT)


@dataclass(frozen=True, slots=True)
class Series:
    """Samples of one metric of one host. ``times`` are Unix seconds (UTC), ascending; NaN marks a gap."""

    host: str
    metric: str
    times: Sequence[float]
    values: Sequence[float]


class MetricsUnavailable(Exception):
    """The source could not be reached or answered nonsense; the message says which and why."""


class MetricsUnreachable(MetricsUnavailable):
    """The source could not be reached at all: connection refused, no route, or no answer in time."""


class MetricsSource(Protocol):
    name: str

    async def fetch(
        self, metrics: Sequence[str], start: datetime, end: datetime, step_seconds: int,
        hosts: Sequence[str] | None = None,
    ) -> list[Series]:
        """History of ``metrics`` for ``hosts`` (all known hosts when None) between start and end."""
        ...

    async def close(self) -> None: ...
