"""Merge the benchmarks' JSON files into one result and print ONE table: figure | pagerbot | peer | ratio.

    python bench/report.py --parts DIR --out bench/results/latest.json [--markdown]
    python bench/report.py --show bench/results/latest.json [--markdown]

DIR holds intake.json, storm.json, graphs.json and postmortem.json (any may be missing: its rows then
say why). The ratio is always pagerbot ÷ peer: above 1 is better for rates, below 1 for times.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from common import machine, print_table

PARTS = ("intake", "storm", "backlog", "graphs", "postmortem")


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return None


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(mine: float | None, peer: float | None) -> str:
    if not mine or not peer:
        return "-"
    return f"{mine / peer:.2f}"


def rows_for(parts: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    intake = parts.get("intake")
    if intake:
        runs = {(r["target"], r["mode"]): r for r in intake["runs"]}
        skipped = intake.get("skipped", {})
        for mode, label in (("single", "single-alert posts"), ("am", "100-alert AM posts, 10 % repeats")):
            pg, floor, alerta = (runs.get((t, mode)) for t in ("pagerbot-pg", "floor", "alerta"))
            sqlite = runs.get(("pagerbot-sqlite", mode))
            mine = pg["alerts_per_s"] if pg else None
            rows.append([f"intake, {label}: alerts/s, PostgreSQL (higher is better)", _fmt(mine),
                         f"{_fmt(floor['alerts_per_s'])} floor" if floor else "floor: not run",
                         _ratio(mine, floor["alerts_per_s"] if floor else None)])
            if pg and "applied_alerts_per_s" in pg:
                applied = pg["applied_alerts_per_s"]
                rows.append([f"  applied alerts/s (load time + {pg['apply_lag_s']:.2f} s a slice to apply what "
                             "waited)", _fmt(applied),
                             f"{_fmt(floor['alerts_per_s'])} floor" if floor else "-",
                             _ratio(applied, floor["alerts_per_s"] if floor else None)])
            if alerta:
                rows.append(["  the same, against Alerta", _fmt(mine), f"{_fmt(alerta['alerts_per_s'])} Alerta",
                             _ratio(mine, alerta["alerts_per_s"])])
            else:
                why = skipped.get("alerta") or skipped.get(f"alerta/{mode}") or "not run"
                rows.append(["  the same, against Alerta", _fmt(mine), f"Alerta: {why}"[:60], "-"])
            for q in ("p50", "p99"):
                key = f"{q}_ms"
                peer = " / ".join(f"{_fmt(r[key], 1)} {n}" for r, n in ((floor, "floor"), (alerta, "Alerta")) if r)
                rows.append([f"  {q} latency ms (lower is better)", _fmt(pg[key], 1) if pg else "-", peer or "-",
                             _ratio(pg[key] if pg else None, floor[key] if floor else None)])
            if pg and "server_cpu_ms_per_alert" in pg:
                key = "server_cpu_ms_per_alert"
                peer = " / ".join(f"{r[key]:.2f} {n}" for r, n in ((floor, "floor"), (alerta, "Alerta")) if r)
                rows.append(["  server CPU ms per alert (lower is better)", f"{pg[key]:.2f}", peer or "-",
                             _ratio(pg[key], floor[key] if floor else None)])
            if sqlite:
                floor_sqlite = runs.get(("floor-sqlite", mode))
                base = floor_sqlite["alerts_per_s"] if floor_sqlite else None
                rows.append([f"{label} on SQLite: alerts/s", _fmt(sqlite["alerts_per_s"]),
                             f"{_fmt(base)} floor (SQLite)" if base else "floor (SQLite): not run",
                             _ratio(sqlite["alerts_per_s"], base)])
                rows.append(["  applied alerts/s; p50 / p99 ms", f"{_fmt(sqlite['applied_alerts_per_s'])}; "
                             f"{_fmt(sqlite['p50_ms'], 1)} / {_fmt(sqlite['p99_ms'], 1)}",
                             f"{_fmt(floor_sqlite['p50_ms'], 1)} / {_fmt(floor_sqlite['p99_ms'], 1)} floor"
                             if floor_sqlite else "-", ""])
        stored = all(r["all_stored"] for r in intake["runs"])
        rows.append(["  every answered alert stored (all targets)", "yes" if stored else "NO", "", ""])
    else:
        rows.append(["intake", "not run", "", ""])

    storm = (parts.get("storm") or {}).get("storm")
    if storm:
        rows.append([f"storm, {storm['alerts']:,} alerts in {storm['seconds']:.0f} s: all stored after s",
                     _fmt(storm["all_stored_s"], 1), "", ""])
        rows.append(["  Slack API calls (until the outbox is empty)", str(storm["slack_calls"]), "", ""])
        rows.append([f"  slash command ack p99 ms ({storm['slash_commands']} during the storm)",
                     _fmt(storm["slash_ack_p99_ms"], 1), "", ""])
    else:
        rows.append(["storm", "not run", "", ""])
    a2c = (parts.get("storm") or {}).get("alert_to_channel")
    if a2c:
        rows.append(["alert → pinned header, Slack +50 ms a call: median s", _fmt(a2c["median_s"], 2), "", ""])
    memory = (parts.get("storm") or {}).get("memory")
    if memory:
        rows.append(["server RSS MB: idle; after 10,000 alerts (render worker not counted)",
                     f"{_fmt(memory['idle_mb'])}; {_fmt(memory['after_storm_mb'])}", "", ""])

    rows += _backlog_rows(parts.get("backlog"))

    graphs = parts.get("graphs")
    if graphs:
        mine = graphs.get("in_process_ms")
        rrd = graphs.get("rrdtool_graph_ms")
        rows.append(["graph, 50 hosts × 6 h stacked, last/avg/max legend, capacity line, 2×: median ms "
                     "(lower is better; target ratio ≤ 0.5)", _fmt(mine, 1),
                     f"{_fmt(rrd, 1)} rrdtool graph" if rrd else "rrdtool not installed", _ratio(mine, rrd)])
        rows.append(["  through the render worker (as the server draws)", _fmt(graphs.get("worker_ms"), 1),
                     f"{_fmt(graphs.get('rrdtool_graph_pipe_ms'), 1)} rrdtool pipe mode"
                     if graphs.get("rrdtool_graph_pipe_ms") else "", _ratio(graphs.get("worker_ms"),
                                                                           graphs.get("rrdtool_graph_pipe_ms"))])
    else:
        rows.append(["graphs", "not run", "", ""])
    pm = parts.get("postmortem")
    if pm:
        rows.append([f"postmortem export, {pm['entries']:,} timeline entries: median ms", _fmt(pm["median_ms"], 1),
                     "", ""])
    else:
        rows.append(["postmortem export", "not run", "", ""])
    return rows


def _backlog_rows(backlog: dict[str, Any] | None) -> list[list[str]]:
    """bench/backlog.py: a storm answered, then applied, by pagerbot and by the floor, per database."""
    if not backlog:
        return [["storm at scale (bench/backlog.py)", "not run", "", ""]]
    rows: list[list[str]] = []
    runs = {(r["database"], r["target"].split(" ")[0]): r for r in backlog["runs"]}
    for kind in dict.fromkeys(r["database"] for r in backlog["runs"]):
        mine, floor = runs.get((kind, "pagerbot")), runs.get((kind, "floor"))
        if mine is None:
            continue

        def peer(key: str, digits: int = 0, floor: dict[str, Any] | None = floor) -> str:
            return f"{_fmt(floor[key], digits)} floor" if floor and floor.get(key) is not None else "-"

        def ratio(key: str, floor: dict[str, Any] | None = floor, mine: dict[str, Any] = mine) -> str:
            return _ratio(mine.get(key), floor.get(key) if floor else None)

        rows.append([f"storm at scale, {mine['alerts']:,} alerts in 100-alert AM posts, one incident, {kind} "
                     "(floor: mean of a run before and one after): answered alerts/s",
                     _fmt(mine["answered_alerts_per_s"]), peer("answered_alerts_per_s"),
                     ratio("answered_alerts_per_s")])
        floor_runs = " (" + " / ".join(_fmt(r["applied_alerts_per_s"]) for r in floor["runs"]) + ")" \
            if floor and floor.get("runs") else ""
        rows.append(["  applied alerts/s (first post until every answered alert is applied)",
                     _fmt(mine["applied_alerts_per_s"]), peer("applied_alerts_per_s") + floor_runs,
                     ratio("applied_alerts_per_s")])
        rows.append(["  backlog: peak deliveries; drained s after the last answer",
                     f"{mine['backlog_peak_deliveries']}; {_fmt(mine['drain_s'], 1)}", "0; 0 floor", ""])
        rows.append(["  single posts during the storm's posts: p99 ms (lower is better)",
                     _fmt(mine["single_p99_ms"], 1), peer("single_p99_ms", 1), ratio("single_p99_ms")])
        if mine.get("single_after_p99_ms") is not None:
            rows.append(["  single posts while the worker drains the backlog (floor: after its storm): p99 ms",
                         _fmt(mine["single_after_p99_ms"], 1), peer("single_after_p99_ms", 1),
                         ratio("single_after_p99_ms")])
            rows.append(["    their rate, posts/s (one every 20 ms at most)", _fmt(mine["single_after_per_s"], 1),
                         peer("single_after_per_s", 1), ratio("single_after_per_s")])
        rows.append([f"  unrelated alert during the storm ({mine['unrelated_opened']}/{mine['unrelated']}): "
                     "incident committed, p99 s", _fmt(mine["unrelated_incident_p99_s"], 2),
                     f"{_fmt(floor['single_p99_ms'], 1)} ms floor (stored when answered)" if floor else "-", ""])
        rows.append([f"    its channel created, Slack +{backlog['slack_latency_ms']:.0f} ms a call: p99 s",
                     _fmt(mine["unrelated_channel_p99_s"], 2), "", ""])
        rows.append(["  peak RSS MB during the storm", _fmt(mine["rss_peak_mb"]), peer("rss_peak_mb"), ""])
        rows.append(["  every answered alert applied", "yes" if mine["all_stored"] else "NO", "", ""])
    return rows


def describe_machine(info: dict[str, Any]) -> str:
    return (f"{info['date']}: {info['nproc']} cores ({info['cpu']}), {info['ram_gb']} GB RAM, Python {info['python']}, "
            f"PostgreSQL {info['postgresql']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=Path, help="folder of the benchmarks' JSON files")
    parser.add_argument("--out", type=Path, help="where to write the merged JSON")
    parser.add_argument("--show", type=Path, metavar="JSON", help="print the table of an earlier result instead")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown (for the README)")
    parser.add_argument("--seconds", type=float, help="how long the whole run took (recorded)")
    parser.add_argument("--load-at-start", help="the load average when the run started (/proc/loadavg)")
    args = parser.parse_args(argv)
    if args.show:
        earlier = json.loads(args.show.read_text())
        print(describe_machine(earlier["machine"]))
        rows = rows_for({name: earlier.get(name) for name in PARTS})
        print_table(["figure", "pagerbot", "peer", "ratio"], rows, markdown=args.markdown)
        return 0
    if not args.parts or not args.out:
        parser.error("--parts and --out are required (or --show JSON)")
    parts = {name: _load(args.parts / f"{name}.json") for name in PARTS}
    rows = rows_for(parts)
    info = machine()
    print()
    print(f"pagerbot benchmarks — {describe_machine(info)}")
    took = f"; the run took {args.seconds:.0f} s" if args.seconds else ""
    print(f"load average (1, 5, 15 min) at the start: {args.load_at_start or '?'}; at the end: "
          f"{' '.join(str(x) for x in info['loadavg'])}{took}")
    table = print_table(["figure", "pagerbot", "peer", "ratio"], rows, markdown=args.markdown)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": info, "run_seconds": args.seconds,
                                    "loadavg_at_start": args.load_at_start, "table": table,
                                    "rows": rows, **parts}, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
