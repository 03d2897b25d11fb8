"""SQLite's writers take turns in the process, so none of them waits in SQLite's busy handler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriterTurns:
    """One writing transaction at a time, first come first served, on SQLite; nothing on PostgreSQL.

    SQLite lets one writer in at a time. A second connection that wants to write waits in SQLite's busy
    handler, which sleeps in steps of up to 100 ms whether or not the lock came free meanwhile: behind the
    inbox worker's batches a one-row write took 180 ms at the 99th percentile. Queued here instead, the
    next writer (the worker, a slash command, the outbox) starts the moment the last one commits. Webhooks
    write to the inbox file (store/inbox_file.py), which has its own lock. Re-entrant within a task, so a
    write nested in a transaction cannot wait for itself. Other processes on the same file still meet
    SQLite's busy timeout.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[object] | None = None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if not self.enabled or (task is not None and task is self._holder):
            yield
            return
        async with self._lock:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None
