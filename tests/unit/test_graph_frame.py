"""What a graph frames before anything is drawn: its window, the incident's waves, host colours, the lane."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from pagerbot.core.graph_frame import BEFORE_INCIDENT, capacity_of, export_window, live_window, wave_windows
from pagerbot.graphs.markers import Marker
from pagerbot.graphs.palette import SERIES_PALETTE, host_colors, ordered_hosts
from pagerbot.graphs.plan import lane_marks, place_lane

T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
POOLS = {"web": ["web2", "web1", "web3", "web4"], "db": ["db1", "db2"]}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_young_incident_shows_an_hour_before_it_and_the_window_grows() -> None:
    day = timedelta(hours=24)
    fifteen = live_window(at(0), at(15), day)
    assert fifteen.start <= at(0) - BEFORE_INCIDENT and fifteen.end == at(15)
    assert fifteen.start == at(-60)  # the incident fills the right fifth, not the right 3 %
    later = live_window(at(0), at(300), day)
    assert later.start == at(-60) and later.end == at(300)
    # past metrics.window_hours the live graph shows the last window_hours
    capped = live_window(at(0), at(60 * 30), day)
    assert capped.start == at(60 * 30) - day


def test_export_spans_the_incident_from_an_hour_before_to_half_an_hour_after() -> None:
    window = export_window(at(0), at(8 * 60), now=at(24 * 60))
    assert (window.start, window.end) == (at(-60), at(8 * 60 + 30))
    # exported right after the resolve: up to now
    assert export_window(at(0), at(8 * 60), now=at(8 * 60 + 5)).end == at(8 * 60 + 5)
    # still open
    assert export_window(at(0), None, now=at(90)).end == at(90)


def test_waves_are_the_stretches_in_which_alerts_fired() -> None:
    firings = [(at(0), at(120)), (at(3), at(110)), (at(122), at(130)),  # a 2-minute pause: the same wave
               (at(210), None), (at(215), at(300))]
    waves = wave_windows(firings, until=at(400))
    assert [(w.start, w.end) for w in waves] == [(at(0), at(130)), (at(210), at(400))]
    assert wave_windows([], until=at(10)) == []


def test_a_host_keeps_its_colour_across_graphs_and_incidents() -> None:
    everyone = host_colors(["db2", "web4", "db1", "web1", "web2", "web3"], POOLS)
    assert everyone == {h: c for h, c in zip(["web1", "web2", "web3", "web4", "db1", "db2"], SERIES_PALETTE,
                                             strict=False)} | everyone
    assert host_colors(["db1"], POOLS) == {"db1": everyone["db1"]}
    assert host_colors(["db1", "cache9"], POOLS)["db1"] == everyone["db1"]
    # outside the pools: by name, the same whichever graph it is in, and never a pooled host's colour there
    alone = host_colors(["cache9"], POOLS)["cache9"]
    assert host_colors(["cache9", "web1"], {"web": ["web1"]})["cache9"] in (alone, *SERIES_PALETTE)
    mixed = host_colors([*everyone, "cache9", "cache7"], POOLS)
    assert len(set(mixed.values())) == len(mixed)
    many = host_colors([f"h{i:02d}" for i in range(40)], {})
    names = sorted(many)
    assert all(many[a] != many[b] for a, b in itertools.pairwise(names))  # neighbours differ
    assert ordered_hosts(["cache9", "db1", "web3", "web1"], POOLS) == ["web1", "web3", "db1", "cache9"]


def test_capacity_is_the_sum_of_known_cores() -> None:
    assert capacity_of({"web1": 4, "web2": 4, "db1": 8}) == 16
    assert capacity_of({"web1": 4, "db1": float("nan")}) == 4
    assert capacity_of({}) is None


def test_close_markers_collapse_and_labels_never_overlap() -> None:
    def x_of(when: datetime) -> float:
        return (when - at(0)).total_seconds() / 60  # a pixel a minute

    markers = [Marker(at(300), "INC-3 opened", kind="event"), *(Marker(at(300 + k), f"A{k}") for k in range(3)),
               Marker(at(350), "B"), Marker(at(352), "C"), Marker(at(354), "D")]
    marks = lane_marks(markers, x_of, 0, 600, min_gap=6)
    assert [m.label for m in marks] == ["INC-3 opened · 3 alert names", "3 alert names"]
    placed = place_lane(marks, lambda text: 8.0 * len(text), 0, 600, rows=2, pad=3)
    # right of the first line the label would cover the second line: it ends left of its own line instead
    first, second = (8.0 * len(p.text) for p in placed)
    assert [(p.left, p.right) for p in placed] == [(297 - first, 297), (353, 353 + second)]
    # one name fired twice (two waves, told as one) counts once
    twice = lane_marks([Marker(at(5), "HighLoad"), Marker(at(6), "HighLoad"), Marker(at(7), "HTTP")], x_of, 0,
                       600, min_gap=6)
    assert [m.label for m in twice] == ["2 alert names"]
    # no room to keep every label off every other line: a label passes above the top of a line whose label
    # is beside it lower down, but never across a line as drawn (from the plot up to its label's row)
    tight = lane_marks([Marker(at(20), "A" * 30), Marker(at(140), "C")], x_of, 0, 600, min_gap=6)
    placed = place_lane(tight, lambda text: 8.0 * len(text), 0, 600, rows=2, pad=3)
    assert [p.text for p in placed] == ["A" * 30, "C"]
    assert [p.row for p in placed] == [1, 0] and placed[0].left < placed[1].mark.x < placed[0].right
    for p in placed:
        assert not any(p.left <= q.mark.x <= p.right for q in placed if q is not p and q.row >= p.row)
    # no room for every label: the closest marks are told as one
    crowded = lane_marks([Marker(at(10 * k), f"Alert{k}") for k in range(8)], x_of, 0, 80, min_gap=6)
    placed = place_lane(crowded, lambda text: 8.0 * len(text), 0, 80, rows=2, pad=3)
    assert sum(len(p.mark.markers) for p in placed) == 8 and len(placed) < 8
    for p in placed:
        for q in placed:
            if p is not q and p.row == q.row:
                assert p.right <= q.left or q.right <= p.left
