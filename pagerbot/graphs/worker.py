"""Graph rendering off the event loop, in a worker process so the server never loads matplotlib.

``GraphRenderer`` starts one worker process on first use (``forkserver`` where available, else
``spawn``: never a plain fork of a threaded server) and keeps it, so the figure caches in
``pagerbot.graphs.render`` stay warm between refreshes. ``InProcessRenderer`` has the same interface
and renders in a thread of this process (tests, benchmarks, the offline demo).

This module imports nothing from matplotlib; ``pagerbot.graphs.render`` is imported by the worker.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pagerbot.graphs.markers import Marker
from pagerbot.services.ports import Renderer

__all__ = ["GraphRenderer", "GraphRendererError", "InProcessRenderer", "Marker", "Renderer"]


def _warm_up() -> None:
    """Worker initializer: import matplotlib and the renderers once, before the first job."""
    # Imported here, in the worker process only: the server itself never loads matplotlib.
    import pagerbot.graphs.render  # noqa: F401


def _render(kind: str, kwargs: Mapping[str, Any]) -> bytes:
    # Runs in the worker process (or a thread of the demo): the server never loads matplotlib.
    from pagerbot.graphs.render import render

    return render(kind, kwargs)


def _worker_pid() -> int:
    return os.getpid()


class GraphRendererError(Exception):
    """The worker process died or could not be started; the message says which."""


class GraphRenderer:
    """Renders graphs in one lazily started worker process. ``render`` is safe to call concurrently
    (jobs queue in the worker); a worker that dies is replaced on the next call."""

    def __init__(self, *, start_method: str | None = None, max_tasks_per_child: int | None = None) -> None:
        methods = multiprocessing.get_all_start_methods()
        self.start_method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
        self.max_tasks_per_child = max_tasks_per_child
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context(self.start_method)
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=ctx,
                initializer=_warm_up,
                max_tasks_per_child=self.max_tasks_per_child,
            )
        return self._pool

    @property
    def started(self) -> bool:
        return self._pool is not None

    async def render(self, kind: str, **kwargs: Any) -> bytes:
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._executor()
            try:
                return await loop.run_in_executor(pool, _render, kind, kwargs)
            except BrokenProcessPool as e:
                self._discard()
                if attempt == 2:
                    raise GraphRendererError(f"The graph worker process died while rendering {kind}.") from e
        raise AssertionError("unreachable")

    async def worker_pid(self) -> int:
        """The worker's process id (starting it if needed); for tests and the benchmark."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), _worker_pid)

    def _discard(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)


class InProcessRenderer:
    """The same interface, rendering in a thread of this process (one at a time: the figures are shared)."""

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None

    async def render(self, kind: str, **kwargs: Any) -> bytes:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            return await asyncio.to_thread(_render, kind, kwargs)

    def render_sync(self, kind: str, **kwargs: Any) -> bytes:
        return _render(kind, kwargs)

    async def close(self) -> None:
        return None
