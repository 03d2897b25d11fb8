"""What host diagnosis concludes, in a shape escalation emails, Slack posts and postmortems all read."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class FindingKind(enum.StrEnum):
    OVERLOADED = "overloaded"  # load per core above the threshold
    IO_BOUND = "io_bound"  # iowait or disk busy high
    IMBALANCED_LOW = "imbalanced_low"  # a pool member far below its pool's mean while the pool is busy
    IMBALANCED_HIGH = "imbalanced_high"  # ... far above it
    SWAPPING = "swapping"
    STALE = "stale"  # last report older than expected
    DOWN = "down"  # no data at all in the window


@dataclass(frozen=True, slots=True)
class Finding:
    """One conclusion about one host (or pool). ``sentence`` is plain language, already written."""

    kind: FindingKind
    host: str
    sentence: str
    score: float  # higher stands out more; used for ranking
    pool: str | None = None
    numbers: Mapping[str, float] = field(default_factory=dict)
