"""The metrics port as the sources see it: the series type and metric names (from core) and the
source protocol with its errors (from the ports), importable from one place."""

from __future__ import annotations

from pagerbot.core.series import (
    ALL_METRICS,
    CPU_BUSY,
    CPUS,
    DISK_BUSY,
    IOWAIT,
    LOAD1,
    LOAD5,
    LOAD15,
    MEM_AVAILABLE,
    MEM_TOTAL,
    NET_IN,
    NET_OUT,
    SWAP_USED,
    Series,
)
from pagerbot.services.ports import MetricsSource, MetricsUnavailable, MetricsUnreachable

__all__ = ["ALL_METRICS", "CPUS", "CPU_BUSY", "DISK_BUSY", "IOWAIT", "LOAD1", "LOAD5", "LOAD15", "MEM_AVAILABLE",
           "MEM_TOTAL", "NET_IN", "NET_OUT", "SWAP_USED", "MetricsSource", "MetricsUnavailable",
           "MetricsUnreachable", "Series"]
