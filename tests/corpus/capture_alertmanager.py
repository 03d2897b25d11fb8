"""Capture what the installed Alertmanager really sends, for the corpus: ``python -m tests.corpus.capture_alertmanager
DIR`` runs it with a webhook receiver, a webhook receiver with ``max_alerts: 3`` and a ``pagerduty_configs``
receiver, all pointed at a recording server, and feeds it the outage of tests/corpus/README.md: 60 warnings of
one cluster, one of them escalating to critical, then everything resolving. Each request body is written to DIR
as it arrived (``NN-<receiver>.json``)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.corpus.recorder import recording_server
from tests.peers.alertmanager import pagerduty_receiver, start_alertmanager, webhook_receiver

TOKEN = "corpus-capture-token"
PAGERDUTY_SEVERITY = '{{ if .CommonLabels.severity }}{{ .CommonLabels.severity }}{{ else }}critical{{ end }}'


def outage_alerts(severity_of: dict[int, str], started: datetime,
                  ended: datetime | None = None) -> list[dict[str, Any]]:
    alerts = []
    for number in range(60):
        host = f"web{number:02d}"
        alert: dict[str, Any] = {
            "labels": {"alertname": "HostHighLoad", "cluster": "prod", "instance": f"{host}:9100", "job": "node",
                       "severity": severity_of.get(number, "warning")},
            "annotations": {"summary": f"Load on {host} is high",
                            "description": f"node_load1 on {host} has been over 8 for 5 minutes."},
            "startsAt": started.isoformat(), "generatorURL": "http://prometheus.example:9090/graph?g0.expr=node_load1"}
        if ended is not None:
            alert["endsAt"] = ended.isoformat()
        alerts.append(alert)
    return alerts


def capture(out: Path) -> None:
    with recording_server() as (base, received):
        _capture(out, base, received)


def _capture(out: Path, base: str, received: list[tuple[str, bytes]]) -> None:
    receivers = {
        "webhook": webhook_receiver(f"{base}/webhook", TOKEN),
        "webhook-max3": webhook_receiver(f"{base}/webhook-max3", TOKEN, max_alerts=3),
        "pagerduty": pagerduty_receiver(f"{base}/pagerduty", TOKEN, severity=PAGERDUTY_SEVERITY),
    }
    (out / "work").mkdir(parents=True, exist_ok=True)
    with start_alertmanager(out / "work", token=TOKEN, receivers=receivers) as am:
        started = datetime.now(UTC) - timedelta(minutes=5)
        steps = [({}, None), ({7: "critical"}, None), ({7: "critical"}, datetime.now(UTC) - timedelta(seconds=1))]
        for severity_of, ended in steps:
            before = len(received)
            alerts = outage_alerts(severity_of, started, ended)
            if severity_of and ended is None:  # web07 escalates: Prometheus ends the warning, fires the critical
                warning = outage_alerts({}, started, datetime.now(UTC) - timedelta(seconds=1))[7]
                alerts.append(warning)
            if ended is not None:
                alerts.append(outage_alerts({}, started, ended)[7])
            am.post_alerts(alerts)
            deadline = time.monotonic() + 20
            while len(received) < before + 3 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(3)  # a group_interval more: anything else it sends for this step
        log = am.log_tail(100_000)
    for number, (path, body) in enumerate(received, 1):
        (out / f"{number:02d}-{path}.json").write_bytes(body)
    (out / "alertmanager.log").write_text(log)
    print(f"{len(received)} requests captured in {out}")


if __name__ == "__main__":
    capture(Path(sys.argv[1]))
