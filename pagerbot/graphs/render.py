"""PNG graphs: the stacked load graph (pagerbot.graphs.stacked) and a host's panels (pagerbot.graphs.panels),
by name, for the worker process (pagerbot.graphs.worker). What each render decided (colours, legend values,
the capacity, where the marker labels went) is kept on its canvas as a ``Drawn`` (pagerbot.graphs.layout),
which the tests read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pagerbot.graphs.markers import Marker, Span
from pagerbot.graphs.panels import host_panels
from pagerbot.graphs.stacked import stacked_load

__all__ = ["KINDS", "Marker", "Span", "host_panels", "render", "stacked_load"]

KINDS = ("stacked_load", "host_panels")


def render(kind: str, kwargs: Mapping[str, Any]) -> bytes:
    """Dispatch by name (what the worker process runs)."""
    if kind == "stacked_load":
        return stacked_load(**kwargs)
    if kind == "host_panels":
        return host_panels(**kwargs)
    raise ValueError(f"Unknown graph kind {kind!r}; expected one of {', '.join(KINDS)}.")
