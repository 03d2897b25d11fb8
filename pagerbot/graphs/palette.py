"""Which colour each host and each marker gets: a fixed assignment, so a host looks the same in every graph.

Pure: no matplotlib. The series palette is Okabe and Ito's colour-blind-safe set (without black, kept for
markers) followed by Paul Tol's "muted" set, ordered so that neighbours in a stack differ in lightness as well
as hue. Markers are drawn in black and dark grey, which no series uses.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence

SERIES_PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermilion
    "#F0E442",  # yellow
    "#332288",  # indigo
    "#DDCC77",  # sand
    "#117733",  # green
    "#CC6677",  # rose
    "#44AA99",  # teal
    "#882255",  # wine
    "#999933",  # olive
    "#AA4499",  # purple
)
ALERT_COLOR = "#000000"  # alert markers
EVENT_COLOR = "#505050"  # the incident's own events: opened, resolved
MARKER_COLORS = (ALERT_COLOR, EVENT_COLOR)


def pool_order(pools: Mapping[str, Sequence[str]]) -> list[str]:
    """The hosts of the pools, pool by pool in the config's order, by name within a pool; each host once."""
    seen: dict[str, None] = {}
    for members in pools.values():
        for host in sorted(members):
            seen.setdefault(host, None)
    return list(seen)


def host_colors(hosts: Iterable[str], pools: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The colour of each of ``hosts``.

    A host in a pool takes the palette entry of its place in :func:`pool_order`, so it has that colour in
    every graph and every incident while the pools stay as configured. A host outside the pools takes an entry
    chosen by its name; should that entry be taken in this graph, the next free one (hosts outside pools
    compared by name), so two hosts never share a colour while the palette lasts. Beyond it, colours repeat
    in name order.
    """
    order = {host: i for i, host in enumerate(pool_order(pools))}
    wanted = list(dict.fromkeys(hosts))
    colors: dict[str, str] = {}
    taken: set[int] = set()
    size = len(SERIES_PALETTE)
    for host in wanted:
        if host in order:
            colors[host] = SERIES_PALETTE[order[host] % size]
            taken.add(order[host] % size)
    slot = -1
    for host in sorted(h for h in wanted if h not in order):
        if len(taken) < size:
            slot = zlib.crc32(host.encode()) % size
            while slot in taken:
                slot = (slot + 1) % size
        else:  # more hosts than colours: repeat the palette in name order, so neighbours still differ
            slot = (slot + 1) % size
        taken.add(slot)
        colors[host] = SERIES_PALETTE[slot]
    return {host: colors[host] for host in wanted}


def ordered_hosts(hosts: Iterable[str], pools: Mapping[str, Sequence[str]]) -> list[str]:
    """``hosts`` in the order graphs stack and list them: pool order, then the others by name."""
    order = {host: i for i, host in enumerate(pool_order(pools))}
    return sorted(set(hosts), key=lambda h: (0, order[h], "") if h in order else (1, 0, h))


def marker_color(wanted: str | None, kind: str) -> str:
    """A marker's colour: the one asked for unless a series could have it, else black (alerts) or dark grey."""
    if wanted and wanted.upper() not in SERIES_PALETTE:
        return wanted
    return ALERT_COLOR if kind == "alert" else EVENT_COLOR
