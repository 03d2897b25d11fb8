"""Fair lanes of the inbox: which waiting deliveries the worker takes next, and how far it applied a SQLite file.

Each delivery waits in a lane (core/lanes.py: its group, or none). The worker takes the lanes' heads in turn,
so that an alert of another group that arrives behind a storm's backlog is applied in the next batch instead
of after the whole backlog: the n-th waiting delivery of every lane comes before the (n+1)-th of any, and
within a lane deliveries keep their arrival order. A delivery without a lane keeps its place among all of
them: what arrived before it is taken first, and nothing that arrived after it passes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def fair_claim(table: str, unapplied: str = "TRUE") -> str:
    """The statement (SQLite and PostgreSQL) that reads up to ``:limit`` waiting deliveries of ``table`` in
    fair order, each with the number of deliveries waiting in its lane; ``unapplied`` narrows the waiting rows
    (the SQLite inbox file's progress).

    The first delivery without a lane is a barrier: the laned deliveries before it come first (fairly), then
    it and the deliveries without a lane that follow it up to the next laned one, in arrival order (a storm
    of PagerDuty or generic events is applied in batches, not one delivery per transaction)."""
    return f"""
WITH waiting AS (SELECT id, lane FROM {table} WHERE failed_at IS NULL AND {unapplied}),
edge AS (SELECT min(CASE WHEN lane IS NULL THEN id END) AS barrier FROM waiting),
stop AS (SELECT min(waiting.id) AS laned FROM waiting, edge
         WHERE waiting.lane IS NOT NULL AND waiting.id > edge.barrier),
ready AS (
    SELECT waiting.id, waiting.lane, row_number() OVER (PARTITION BY waiting.lane ORDER BY waiting.id) AS turn,
           count(*) OVER (PARTITION BY waiting.lane) AS in_lane
    FROM waiting, edge, stop
    WHERE edge.barrier IS NULL OR waiting.id < edge.barrier
       OR (waiting.lane IS NULL AND (stop.laned IS NULL OR waiting.id < stop.laned))
)
SELECT {table}.id, {table}.source, {table}.kind, {table}.payload, ready.in_lane
FROM ready JOIN {table} ON {table}.id = ready.id
ORDER BY ready.lane IS NULL, ready.turn, ready.id
LIMIT :limit"""


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the worker applied a SQLite inbox file: every delivery up to ``mark``, and those in ``after``
    (above the mark, applied ahead of older deliveries of other lanes)."""

    mark: int
    after: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def from_columns(cls, applied_through: int | None, applied_after: str | None) -> Progress:
        return cls(int(applied_through or 0), frozenset(json.loads(applied_after or "[]")))

    def params(self) -> dict[str, Any]:
        """The bind parameters ``:mark`` and ``:applied`` of the inbox file's statements."""
        return {"mark": self.mark, "applied": self.after_json()}

    def after_json(self) -> str:
        return json.dumps(sorted(self.after))

    def with_applied(self, ids: frozenset[int] | set[int], oldest_unapplied: int | None) -> Progress:
        """The progress once ``ids`` are applied too, the first delivery still waiting being ``oldest_unapplied``
        (None: none waits). The mark moves up to it: below it, every delivery is applied or kept aside as failed
        (failed ones are never deleted by the mark)."""
        applied = self.after | ids
        below = [i for i in applied if oldest_unapplied is None or i < oldest_unapplied]
        mark = max([self.mark, *below])
        return Progress(mark, frozenset(i for i in applied if i > mark))
