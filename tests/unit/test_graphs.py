"""The graphs' renderer: what each render decided (its ``Drawn`` record) and what the PNG holds."""

from __future__ import annotations

import io
import math
import os
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image

from pagerbot.core.graph_frame import Window, caption
from pagerbot.graphs import render as r
from pagerbot.graphs import style, text
from pagerbot.graphs.layout import Drawn
from pagerbot.graphs.markers import Marker, Span
from pagerbot.graphs.palette import MARKER_COLORS, SERIES_PALETTE
from pagerbot.graphs.panels import panel_canvas_for
from pagerbot.graphs.plan import fmt_value
from pagerbot.graphs.render import host_panels, stacked_load
from pagerbot.graphs.stacked import nice_top, stack_canvas_for
from pagerbot.graphs.worker import GraphRenderer, InProcessRenderer
from pagerbot.metrics import series as m
from pagerbot.metrics.series import Series

LA = ZoneInfo("America/Los_Angeles")
END = datetime(2026, 3, 10, 22, 0, tzinfo=UTC)  # 15:00 in Los Angeles (PDT)
N = 361  # six hours at one-minute steps
TIMES = [END.timestamp() - (N - 1 - i) * 60 for i in range(N)]
WINDOW = Window(END - timedelta(hours=6), END)
POOLS = {"web": ["web2", "web1", "web3", "web4"], "db": ["db1", "db2"]}
CORES = {"web1": 4.0, "web2": 4.0, "web3": 4.0, "web4": 4.0, "db1": 8.0, "db2": 8.0}


def wave(host: int, scale: float = 1.0) -> list[float]:
    return [scale * (1.0 + 0.5 * math.sin(j / 20 + host)) for j in range(N)]


def cluster(hosts: list[str] | None = None) -> dict[str, Series]:
    names = hosts or list(CORES)
    return {h: Series(h, m.LOAD1, TIMES, wave(i, CORES[h] / 4)) for i, h in enumerate(names)}


def host_series(host: str, i: int = 0) -> list[Series]:
    return [Series(host, m.LOAD1, TIMES, wave(i, 3.0)), Series(host, m.CPUS, TIMES[-1:], [CORES[host]]),
            Series(host, m.CPU_BUSY, TIMES, [40.0 + i] * N), Series(host, m.IOWAIT, TIMES, [20.0 + i] * N)]


def image(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def stacked(series: dict[str, Series], **kwargs: object) -> tuple[bytes, Drawn]:
    png = stacked_load(series, title="Load, cluster", caption=caption(WINDOW, LA), tz=LA, pools=POOLS,
                       window=WINDOW, **kwargs)  # type: ignore[arg-type]
    hosts = sum(1 for s in series.values() if len(s.times))
    return png, stack_canvas_for(hosts, bool(kwargs.get("capacity"))).drawn


def panels(series: list[Series], hosts: list[str] | None = None, **kwargs: object) -> tuple[bytes, Drawn]:
    png = host_panels(series, title="Load, CPU and iowait, host db1", caption=caption(WINDOW, LA), tz=LA,
                      pools=POOLS, hosts=hosts, window=WINDOW, **kwargs)  # type: ignore[arg-type]
    return png, panel_canvas_for(len(hosts) if hosts else 1).drawn


def test_a_host_keeps_its_colour_in_the_cluster_pool_and_host_graphs() -> None:
    _, whole = stacked(cluster())
    _, db_pool = stacked(cluster(["db1", "db2"]))
    _, db1 = panels(host_series("db1"), hosts=["db1"])
    _, busy = panels(host_series("web3", 1) + host_series("db1"), hosts=["web3", "db1"])
    assert whole.colors["db1"] == db_pool.colors["db1"] == db1.colors["db1"] == busy.colors["db1"]
    assert whole.colors["web3"] == busy.colors["web3"]
    assert len(set(whole.colors.values())) == len(whole.colors)  # six hosts, six colours
    # pool order, then name: the same assignment in any incident, whatever else it shows
    assert whole.hosts == ["web1", "web2", "web3", "web4", "db1", "db2"]
    assert [whole.colors[h] for h in whole.hosts] == list(SERIES_PALETTE[:6])
    # and the band each host paints is its colour: db1's band at the last column, in the PNG
    png, drawn = stacked(cluster())
    _left, top, right, bottom = drawn.plots[0]
    column = image(png)[int(top):int(bottom), int(right) - 3]
    db1 = tuple(int(drawn.colors["db1"][i:i + 2], 16) for i in (1, 3, 5))
    assert (column == db1).all(axis=1).sum() > 20


def test_no_marker_colour_is_a_series_colour() -> None:
    assert not set(MARKER_COLORS) & {c.upper() for c in SERIES_PALETTE}
    asks_for_a_series_colour = Marker(END - timedelta(hours=2), "deploy", color=SERIES_PALETTE[0], kind="event")
    _, drawn = stacked(cluster(), markers=[asks_for_a_series_colour, Marker(END - timedelta(hours=1), "HighLoad")])
    assert drawn.marker_colors and not {c.upper() for c in drawn.marker_colors} & set(SERIES_PALETTE)
    assert not {c.upper() for c in drawn.marker_colors} & {c.upper() for c in drawn.colors.values()}


def lane_boxes(drawn: Drawn) -> list[tuple[float, float, float, float]]:
    texts = {p.text for p in drawn.lane_labels}
    return [label.box() for label in drawn.labels if label.text in texts]


@pytest.mark.parametrize("kind", ["stacked", "panels"])
def test_marker_labels_sit_in_the_lane_above_the_data(kind: str) -> None:
    opened = END - timedelta(hours=5)
    markers = [Marker(opened, "INC-7 opened", kind="event"), Marker(opened, "DBHighIOWait"),
               Marker(opened + timedelta(seconds=40), "HostHighLoad"), Marker(opened + timedelta(minutes=2), "HTTP"),
               Marker(END - timedelta(minutes=100), "wave 2", kind="event"),
               Marker(END - timedelta(minutes=98), "DBHighIOWait"), Marker(END - timedelta(minutes=20), "resolved",
                                                                           kind="event")]
    if kind == "stacked":
        _, drawn = stacked(cluster(), markers=markers)
    else:
        _, drawn = panels(host_series("db1"), hosts=["db1"], markers=markers)
    boxes = lane_boxes(drawn)
    assert boxes
    data_top = min(top for _, top, _, _ in drawn.plots)
    for _left, top, _right, bottom in boxes:
        assert drawn.lane[0] <= top and bottom <= drawn.lane[1] <= data_top
    for i, a in enumerate(boxes):  # labels never overlap
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    texts = [p.text for p in drawn.lane_labels]
    # the opening and the alerts of the same minutes are told as one label, which counts alert names (a marker
    # is an alert name's first firing), not alerts
    assert texts == ["INC-7 opened · 3 alert names", "wave 2 · DBHighIOWait", "resolved"]
    assert sum(len(p.mark.markers) for p in drawn.lane_labels) == len(markers)
    assert_beside_their_own_lines(drawn)


def assert_beside_their_own_lines(drawn: Drawn) -> None:
    """Each label right of its line, or ending left of it; none over another marker's line, in any row."""
    lines = [p.mark.x for p in drawn.lane_labels]
    for p in drawn.lane_labels:
        gap = p.left - p.mark.x if p.left >= p.mark.x else p.mark.x - p.right
        assert 0 < gap <= style.px(4), (p.text, p.left, p.right, p.mark.x)
        assert not any(p.left <= x <= p.right for x in lines if x != p.mark.x), p.text


def test_a_label_without_room_on_the_right_ends_left_of_its_own_line() -> None:
    # as in the demo's host graph: the opening mid-way, wave 2 near the right edge; its label must not be
    # shifted left over its line (nor sit above the opening's label as if it were the opening's)
    opened = END - timedelta(hours=4)
    wave_2 = END - timedelta(minutes=20)
    markers = [Marker(opened, "INC-1 opened", kind="event"), Marker(opened, "DBHighIOWait"),
               Marker(opened, "HostHighLoad"), Marker(opened, "HTTP5xx"), Marker(wave_2, "wave 2", kind="event"),
               Marker(wave_2, "DBHighIOWait"), Marker(wave_2, "HostHighLoad"), Marker(wave_2, "HTTP5xx")]
    _, drawn = panels(host_series("db1"), hosts=["db1"], markers=markers)
    by_text = {p.text: p for p in drawn.lane_labels}
    assert set(by_text) == {"INC-1 opened · 3 alert names", "wave 2 · 3 alert names"}
    second = by_text["wave 2 · 3 alert names"]
    assert second.right < second.mark.x  # right-aligned to the left of its line
    assert_beside_their_own_lines(drawn)
    # the label pasted on the PNG is the one placed
    [pasted] = [label for label in drawn.labels if label.text == second.text]
    assert pasted.box()[0] == pytest.approx(second.left) and pasted.box()[2] == pytest.approx(second.right, abs=2)


def test_legend_lists_last_average_and_maximum_of_each_series() -> None:
    series = cluster()
    gaps = list(series["web2"].values)
    gaps[-5:] = [math.nan] * 5  # the last value known comes before the gap
    gaps[10] = 99.0
    series["web2"] = Series("web2", m.LOAD1, TIMES, gaps)
    _, drawn = stacked(series, capacity=32.0)
    rows = {row.host: row for row in drawn.legend}
    assert list(rows) == drawn.hosts
    for host, s in series.items():
        v = np.asarray(s.values, dtype=float)
        finite = v[np.isfinite(v)]
        assert rows[host].last == pytest.approx(finite[-1])
        assert rows[host].avg == pytest.approx(finite.mean())
        assert rows[host].max == pytest.approx(finite.max())
    assert rows["web2"].max == 99.0 and rows["web2"].last == pytest.approx(gaps[-6])
    shown = {label.text for label in drawn.labels}
    assert {"last", "avg", "max"} <= shown
    for row in drawn.legend:
        assert {row.host, fmt_value(row.last), fmt_value(row.avg), fmt_value(row.max)} <= shown
    assert fmt_value(math.nan) == "\u2013" and fmt_value(3.14159) == "3.1" and fmt_value(123.4) == "123"


def test_capacity_line_is_the_sum_of_the_cpus() -> None:
    capacity = sum(CORES.values())
    png, drawn = stacked(cluster(), capacity=capacity)
    left, top, right, bottom = drawn.plots[0]
    y_max = nice_top(capacity * 1.05)  # the axis reaches past the line (the stack peaks lower)
    assert drawn.capacity_y[0] == pytest.approx(capacity, abs=y_max / (bottom - top))
    assert "capacity: 32 cores" in {label.text for label in drawn.labels}
    # the dashed line: dark pixels in alternating runs along its row, above the stack's top
    row = round(bottom - capacity / y_max * (bottom - top))
    line = image(png)[row, int(left):int(right)].astype(int).sum(axis=1) < 100
    assert 0.4 < line.mean() < 0.9
    # a host graph draws the host's core count
    _, db1 = panels(host_series("db1"), hosts=["db1"])
    assert db1.capacity_y == [8.0] and db1.capacity == 8.0
    assert any(label.text == "load (1 min), 8 cores (dashed)" for label in db1.labels)


def test_several_hosts_panels_draw_each_hosts_cores() -> None:
    # web hosts have 4 cores, db1 has 8: one dashed line per count, and each legend row says its host's
    hosts = ["web1", "web2", "db1"]
    series = [s for i, h in enumerate(hosts) for s in host_series(h, i)]
    _, drawn = panels(series, hosts=hosts)
    assert drawn.capacity_y == [4.0, 8.0]
    texts = {label.text for label in drawn.labels}
    assert "load (1 min), 4 and 8 cores (dashed)" in texts
    assert {"web1 · 4 cores", "web2 · 4 cores", "db1 · 8 cores"} <= texts
    assert not any("cores" in t for t in texts if t.startswith(("CPU busy", "iowait")))
    # hosts of one core count: one line, and the header says it is every host's
    _, webs = panels([s for i, h in enumerate(hosts[:2]) for s in host_series(h, i)], hosts=hosts[:2])
    assert webs.capacity_y == [4.0]
    assert "load (1 min), 4 cores (dashed)" in {label.text for label in webs.labels}


def test_caption_holds_the_absolute_range_and_the_zone() -> None:
    start = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
    assert caption(Window(start, start + timedelta(hours=9, minutes=45)), LA) == "06:00–15:45 PDT, 2026-03-10"
    night = Window(datetime(2026, 1, 11, 6, 0, tzinfo=UTC), datetime(2026, 1, 11, 12, 0, tzinfo=UTC))
    assert caption(night, LA) == "2026-01-10 22:00 – 2026-01-11 04:00 PST"
    dst = Window(datetime(2026, 3, 8, 9, 0, tzinfo=UTC), datetime(2026, 3, 8, 11, 0, tzinfo=UTC))
    assert caption(dst, LA) == "01:00 PST – 04:00 PDT, 2026-03-08"
    assert caption(WINDOW, ZoneInfo("UTC")) == "16:00–22:00 UTC, 2026-03-10"
    assert caption(WINDOW, ZoneInfo("Asia/Kolkata")) == "2026-03-10 21:30 – 2026-03-11 03:30 IST"
    _, drawn = stacked(cluster())
    shown = {label.text for label in drawn.labels}
    assert drawn.caption == "09:00–15:00 PDT, 2026-03-10" and drawn.caption in shown
    assert drawn.zone == "time, PDT (UTC\u22127)" and drawn.zone in shown
    assert {"10:00", "12:00", "14:00"} <= shown  # Los Angeles time on the axis, not UTC
    assert not any("Mar" in text for text in shown)  # ISO dates only


def test_the_png_is_twice_the_layout_and_its_text_legible_on_a_phone() -> None:
    for png, drawn in (stacked(cluster(), capacity=32.0), panels(host_series("db1"), hosts=["db1"])):
        assert png_size(png) == drawn.size
        assert drawn.size[0] == 2 * style.WIDTH_PX == 960  # 2x density, within Slack's 1024-pixel thumbnail
        assert image(png).shape[:2] == (drawn.size[1], drawn.size[0])
        smallest = min(label.fontsize for label in drawn.labels if label.text)
        assert style.preview_text_px(smallest, 360) >= 11 and style.preview_text_px(smallest, 600) >= 11
        for label in drawn.labels:  # the sprite holds the text at twice its size
            sprite = text.sprite_for(label.text, label.fontsize, label.color, label.bold) if label.text else None
            assert sprite is None or sprite.height >= label.fontsize * style.SCALE


def test_host_graph_panels_are_at_least_160_px_tall() -> None:
    for hosts in (["db1"], ["web1", "db1"], ["web1", "web2", "web3", "db1"]):
        series = [s for i, h in enumerate(hosts) for s in host_series(h, i)]
        _, drawn = panels(series, hosts=hosts)
        assert len(drawn.plots) == 3
        assert all(bottom - top >= 160 * style.SCALE for _, top, _, bottom in drawn.plots)
        assert [row.host for row in drawn.legend] == hosts


def test_spans_shade_the_incident_and_each_wave() -> None:
    opened = END - timedelta(hours=4)
    spans = [Span(opened, END, "INC-7", "incident"), Span(opened, END - timedelta(hours=3), "wave 1"),
             Span(END - timedelta(hours=1), END, "wave 2")]
    png, drawn = stacked(cluster(["db1"]), spans=spans)
    left, _top, right, _bottom = drawn.plots[0]
    kinds = [k for _, _, k in drawn.spans]
    assert kinds == ["incident", "wave", "wave"]
    x_of = {k + str(i): (a, b) for i, (a, b, k) in enumerate(drawn.spans)}
    assert x_of["incident0"][0] == pytest.approx(left + (right - left) * 2 / 6, abs=1)
    px = image(png)
    lane_row = int(drawn.lane[1]) - 2  # the lane shows them above the data
    shade = {tuple(px[lane_row, int(x)]) for x in (x_of["wave1"][0] + 4, x_of["incident0"][0] + (right - left) / 4,
                                                    x_of["wave2"][0] + 4)}
    assert len(shade) == 2 and (255, 255, 255) not in shade


def test_stack_is_cumulative() -> None:
    flat = {h: Series(h, m.LOAD1, TIMES, [v] * N) for h, v in (("a", 1.0), ("b", 2.0), ("c", 3.0))}
    png, drawn = stacked(flat)
    left, top, right, bottom = drawn.plots[0]
    column = image(png)[int(top):int(bottom), int((left + right) / 2) + 3]
    counts = [int((column == tuple(int(drawn.colors[h][i:i + 2], 16) for i in (1, 3, 5))).all(axis=1).sum())
              for h in ("a", "b", "c")]
    assert counts[1] == pytest.approx(2 * counts[0], abs=2) and counts[2] == pytest.approx(3 * counts[0], abs=2)


def test_gaps_misaligned_hosts_and_no_data() -> None:
    series = cluster(["web1", "web2", "web3"])
    series["web2"] = Series("web2", m.LOAD1, TIMES, [math.nan if i % 7 else 2.0 for i in range(N)])
    series["db1"] = Series("db1", m.LOAD1, TIMES[::5], [1.0] * len(TIMES[::5]))  # coarser steps
    series["db2"] = Series("db2", m.LOAD1, [], [])  # no data: left out
    png, drawn = stacked(series, capacity=8)
    assert drawn.hosts == ["web1", "web2", "web3", "db1"]
    assert png_size(png) == drawn.size
    png, drawn = stacked({})
    assert png_size(png) == drawn.size and "no data" in {label.text for label in drawn.labels}
    png = host_panels([], title="none", tz=LA)
    assert png.startswith(b"\x89PNG")


def test_text_sprites_blend_over_any_background() -> None:
    sprite = text.text_sprite("Hg", 12, "#ff0000")
    assert text.text_sprite("Hg", 12, "#ff0000") is sprite  # drawn once
    frame = np.zeros((60, 80, 3), dtype=np.uint8)
    frame[:, :, 1] = 200  # green background
    sprite.paste(frame, 5, 5)
    reds = (frame[:, :, 0] > 200) & (frame[:, :, 1] < 60)
    assert reds.sum() > 20
    assert (frame[:5, :, 1] == 200).all() and (frame[:, :5, 1] == 200).all()  # nothing outside the sprite
    sprite.paste(frame, -100, 200)  # entirely outside: ignored
    sprite.paste(frame, 50, 70)  # partly outside: clipped
    # numbers are assembled from glyphs, as wide as the same text drawn whole
    assembled, whole = text.number_sprite("12.5", 15), text.text_sprite("12.5", 15)
    assert abs(assembled.width - whole.width) <= 2 and assembled.height == whole.height


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="Unknown graph kind 'pie'"):
        r.render("pie", {})


async def test_in_process_renderer() -> None:
    renderer = InProcessRenderer()
    png = await renderer.render("stacked_load", series_by_host=cluster(), title="x", tz=LA)
    assert png_size(png)[0] == 960
    await renderer.close()


async def test_worker_process_round_trip() -> None:
    renderer = GraphRenderer()
    assert not renderer.started  # lazily started
    try:
        png = await renderer.render("stacked_load", series_by_host=cluster(), title="worker", tz=LA, pools=POOLS,
                                    markers=[Marker(END - timedelta(hours=1), "start")], window=WINDOW)
        assert png == stacked_load(cluster(), title="worker", tz=LA, pools=POOLS, window=WINDOW,
                                   markers=[Marker(END - timedelta(hours=1), "start")])
        pid = await renderer.worker_pid()
        assert pid != os.getpid()
        panels_png = await renderer.render("host_panels", series=host_series("db1"), title="p", tz=LA)
        assert panels_png.startswith(b"\x89PNG")
        assert await renderer.worker_pid() == pid  # one long-lived worker
        with pytest.raises(ValueError, match="Unknown graph kind"):
            await renderer.render("pie")
    finally:
        await renderer.close()
    assert not renderer.started


def test_worker_module_does_not_load_matplotlib() -> None:
    code = "import sys, pagerbot.graphs.worker as w; w.GraphRenderer(); print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
