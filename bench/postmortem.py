"""Time the postmortem export of a big incident: 10,000 timeline entries, 500 alerts.

    python bench/postmortem.py [--runs 7] [--json PATH]

Prints the first run (cold: template compiled, zone loaded) and the median of the following runs, in ms,
against the 300 ms target. Exits 1 when the median misses the target.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pagerbot.core.findings import Finding, FindingKind
from pagerbot.core.records import AlertRecord, EscalationRecord, IncidentRecord, TimelineEntry
from pagerbot.postmortem.render import GraphFile, PostmortemInput, render_postmortem

TARGET_MS = 300.0
ENTRIES = 10_000
ALERTS = 500

_TEXTS = [
    "HostHighLoad on {host}: load per core 9.4 (threshold 4)",
    "db1 | load 38 on 4 cores\niowait 64%, replication lag 120s",
    "/incident note restarted php-fpm on {host}, see https://grafana.example.com/d/abc?var-host={host}",
    "Killed reindex_orders.sh (pid 4121) on {host}; *load* falling `fast` <!channel>",
    "cause: the nightly reindex job started at 08:55 and saturated the disk",
    "Escalation to Contegix sent: [ACME-1234] INC-7: disk saturation",
    "plain words from a person typing in the channel about what they see",
]
_KINDS = ["alert", "pin", "command", "note", "note", "escalation", "slack"]
_SOURCES = ["alertmanager", "slack", "slack", "slack", "slack", "pagerbot", "slack"]


def big_incident() -> PostmortemInput:
    start = datetime(2024, 3, 5, 16, 0, tzinfo=UTC)
    hosts = [f"web{i}.prod.example.com" for i in range(1, 81)] + [f"db{i}.prod.example.com" for i in range(1, 21)]
    alerts = [
        AlertRecord(
            fingerprint=f"fp{i}",
            source="alertmanager",
            name=f"Alert{i % 25}",
            title=f"Alert{i % 25} on {hosts[i % len(hosts)]}",
            severity=1 + i % 4,
            state="resolved",
            host=hosts[i % len(hosts)],
            labels={"cluster": "prod"},
            starts_at=start + timedelta(seconds=30 * i),
            ends_at=start + timedelta(hours=3),
            wave=1 + i // 250,
            received_count=1 + i % 5,
            first_received_at=start + timedelta(seconds=30 * i + 5),
            last_received_at=start + timedelta(hours=3),
        )
        for i in range(ALERTS)
    ]
    actors = [None, "alice", "bob", "carol", "dave", "U0ERIN"]
    timeline = [
        TimelineEntry(
            at=start + timedelta(seconds=2 * i),
            kind=_KINDS[i % len(_KINDS)],
            source=_SOURCES[i % len(_SOURCES)],
            actor=actors[i % len(actors)],
            text=_TEXTS[i % len(_TEXTS)].format(host=hosts[i % len(hosts)]) + f" #{i}",
        )
        for i in range(ENTRIES)
    ]
    incident = IncidentRecord(
        id=7,
        title="Everything is on fire",
        severity=1,
        status="resolved",
        lead="alice",
        channel_id="C7",
        channel_name="inc-20240305-fire",
        opened_at=start + timedelta(minutes=3),
        acknowledged_at=start + timedelta(minutes=5),
        mitigated_at=start + timedelta(hours=2),
        resolved_at=start + timedelta(hours=5),
        summary="Long day.\nVery long day.",
        participants=("alice", "bob", "carol", "dave"),
    )
    escalations = [
        EscalationRecord(
            "Contegix",
            f"[ACME-1234] INC-7: update {i}",
            "sent",
            start,
            start + timedelta(minutes=i),
            "alice",
            f"<m{i}@x>",
            replied=i % 2 == 0,
        )
        for i in range(5)
    ]
    findings = [
        Finding(FindingKind.OVERLOADED, h, f"{h} ran at 9 load per core.", 10.0 - i, pool="web")
        for i, h in enumerate(hosts[:10])
    ]
    return PostmortemInput(
        incident=incident,
        alerts=alerts,
        timeline=timeline,
        escalations=escalations,
        findings=findings,
        stands_out=["web1 is overloaded."],
        graphs=[GraphFile("load-web.png", "Load per core, pool web")],
        tz="America/Los_Angeles",
        generated_at=start + timedelta(hours=6),
    )


def measure(runs: int) -> dict[str, float | int]:
    data = big_incident()
    timings = []
    size = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        size = len(render_postmortem(data))
        timings.append((time.perf_counter() - t0) * 1000)
    warm = timings[1:] or timings
    return {
        "entries": ENTRIES,
        "alerts": ALERTS,
        "runs": runs,
        "first_ms": round(timings[0], 1),
        "median_ms": round(statistics.median(warm), 1),
        "min_ms": round(min(warm), 1),
        "target_ms": TARGET_MS,
        "markdown_bytes": size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the postmortem export of a 10,000-entry incident.")
    parser.add_argument("--runs", type=int, default=7, help="renders to time (the first one is cold)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    result = measure(max(2, args.runs))
    ok = result["median_ms"] < TARGET_MS
    print(
        f"postmortem export, {ENTRIES} timeline entries, {ALERTS} alerts: "
        f"first {result['first_ms']} ms, median {result['median_ms']} ms "
        f"(min {result['min_ms']} ms, {result['runs'] - 1} warm runs), target {TARGET_MS:.0f} ms: "
        f"{'ok' if ok else 'MISSED'}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
