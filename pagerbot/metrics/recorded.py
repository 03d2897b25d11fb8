"""A metrics source that replays a recording: the demo's built-in day, or any CSV of the same shape.

The file is CSV, optionally gzip-compressed (by the ``.gz`` suffix), with the header
``time,host,metric,value``: ``time`` in Unix seconds (UTC), ``metric`` a canonical name from
:mod:`pagerbot.metrics.series` (other names are kept and served as they are), ``value`` a number
(empty or ``nan`` for a gap). Rows may come in any order.

``shift`` moves the recording onto another clock: a sample recorded at ``t`` is served at
``t + shift``. The demo uses it to replay the scenario's morning at whatever time it runs.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np

from pagerbot.metrics.series import MetricsUnavailable, Series

SCENARIO_PACKAGE = "pagerbot.demo.scenario"


def scenario_path() -> Path:
    """The built-in demo scenario's directory: ``scenario.yaml``, ``metrics.csv.gz``, ``notifications/``.

    Pagerbot is installed as plain files (not zipped), so the package's resources are a directory.
    """
    return Path(str(resources.files(SCENARIO_PACKAGE)))


def scenario_metrics_path() -> Path:
    """The built-in recording of the demo scenario."""
    return scenario_path() / "metrics.csv.gz"


class RecordedSource:
    """Serves recorded samples as a :class:`~pagerbot.metrics.series.MetricsSource`.

    The file is read once, on first use (off the event loop), into one pair of numpy arrays per
    host and metric. ``fetch`` returns points at ``start``, ``start + step`` ... up to ``end``; each
    is the mean of the samples recorded in the ``step`` seconds up to and including it (at least one
    native sample interval, so a step finer than the recording repeats samples rather than leaving
    gaps), NaN when there are none. Nothing after ``end`` is ever used, so a replay never shows the
    future. Unknown hosts and metrics give no series, as a Prometheus query would.
    """

    name = "recorded"

    def __init__(self, path: Path, *, shift: timedelta = timedelta(0)) -> None:
        self.path = Path(path)
        self.shift = shift
        self._lock = threading.Lock()
        self._data: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] | None = None
        self._hosts: list[str] = []
        self._interval = 60.0

    # -- loading --------------------------------------------------------------------------------

    def _load(self) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
        with self._lock:
            if self._data is None:
                self._data = self._read()
            return self._data

    def _read(self) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
        try:
            raw = self.path.read_bytes()
            text = gzip.decompress(raw).decode("utf-8") if self.path.suffix == ".gz" else raw.decode("utf-8")
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise MetricsUnavailable(f"cannot read the recorded metrics {self.path}: {exc}") from exc
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["time", "host", "metric", "value"]:
            raise MetricsUnavailable(
                f"{self.path} is not a metrics recording: the first line must be time,host,metric,value")
        times: dict[tuple[str, str], list[float]] = defaultdict(list)
        values: dict[tuple[str, str], list[float]] = defaultdict(list)
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 4:
                raise MetricsUnavailable(f"{self.path}, line {line_no}: expected 4 fields, found {len(row)}")
            try:
                t = float(row[0])
                v = float(row[3]) if row[3].strip() else float("nan")
            except ValueError as exc:
                raise MetricsUnavailable(f"{self.path}, line {line_no}: {exc}") from exc
            key = (row[1], row[2])
            times[key].append(t)
            values[key].append(v)
        data: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        steps: list[float] = []
        for key, ts in times.items():
            t_arr = np.asarray(ts, dtype=np.float64)
            v_arr = np.asarray(values[key], dtype=np.float64)
            order = np.argsort(t_arr, kind="stable")
            t_arr, v_arr = t_arr[order], v_arr[order]
            data[key] = (t_arr, v_arr)
            if len(t_arr) > 1:
                steps.append(float(np.median(np.diff(t_arr))))
        self._hosts = sorted({host for host, _metric in data})
        if steps:
            self._interval = max(float(np.median(steps)), 1.0)
        return data

    # -- the port -------------------------------------------------------------------------------

    def hosts(self) -> list[str]:
        """The recorded hosts, sorted (reads the file on first call)."""
        self._load()
        return list(self._hosts)

    def span(self) -> tuple[datetime, datetime]:
        """First and last sample time, on the shifted clock (reads the file on first call)."""
        data = self._load()
        if not data:
            raise MetricsUnavailable(f"{self.path} holds no samples")
        first = min(float(t[0]) for t, _v in data.values() if len(t))
        last = max(float(t[-1]) for t, _v in data.values() if len(t))
        return (datetime.fromtimestamp(first, UTC) + self.shift,
                datetime.fromtimestamp(last, UTC) + self.shift)

    async def fetch(
        self, metrics: Sequence[str], start: datetime, end: datetime, step_seconds: int,
        hosts: Sequence[str] | None = None,
    ) -> list[Series]:
        if step_seconds <= 0:
            raise ValueError(f"step_seconds must be positive, not {step_seconds}")
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if end < start:
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        data = self._data if self._data is not None else await asyncio.to_thread(self._load)
        wanted = self._hosts if hosts is None else list(hosts)
        shift = self.shift.total_seconds()
        t0 = start.timestamp()
        count = int((end.timestamp() - t0) // step_seconds) + 1
        points = t0 + step_seconds * np.arange(count, dtype=np.float64)  # on the served clock
        window = max(float(step_seconds), self._interval)
        out: list[Series] = []
        for host in wanted:
            for metric in metrics:
                recorded = data.get((host, metric))
                if recorded is None:
                    continue
                values = _window_means(recorded[0], recorded[1], points - shift, window)
                out.append(Series(host=host, metric=metric, times=points.tolist(), values=values.tolist()))
        return out

    async def close(self) -> None:
        return None


def _window_means(times: np.ndarray, values: np.ndarray, points: np.ndarray, window: float) -> np.ndarray:
    """For each point p, the mean of the non-NaN values with time in (p - window, p]; NaN if none."""
    finite = ~np.isnan(values)
    sums = np.concatenate(([0.0], np.cumsum(np.where(finite, values, 0.0))))
    counts = np.concatenate(([0], np.cumsum(finite)))
    hi = np.searchsorted(times, points, side="right")
    lo = np.searchsorted(times, points - window, side="right")
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(n > 0, (sums[hi] - sums[lo]) / n, np.nan)
    single = (hi - lo == 1) & (n == 1)  # the usual case at native resolution: the sample itself, exactly
    means[single] = values[lo[single]]
    return means
