"""One metric of one host over time, and the canonical metric names: what every metrics source returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
