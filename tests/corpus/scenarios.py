"""What pagerbot must make of each sequence of real notifications in tests/corpus (README.md says where each
comes from). A scenario is a directory whose files are posted in name order to one route; after each file,
``Expect`` says what the incidents must look like (None: not checked at that step)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Expect:
    incidents: int | None = None  # incidents open or resolved
    severities: tuple[int, ...] | None = None  # of the incidents, oldest first
    alerts: int | None = None  # distinct alerts (fingerprints) over every incident
    firing: int | None = None  # of them, still firing
    acknowledged: int | None = None
    hosts: int | None = None  # distinct hosts of the alerts
    timeline: str | None = None  # text that some timeline entry holds


@dataclass(frozen=True)
class Scenario:
    directory: str
    route: str
    steps: tuple[Expect, ...]  # one per file, in name order

    @property
    def files(self) -> list[Path]:
        return sorted((CORPUS / self.directory).glob("*.json"))

    def bodies(self) -> list[bytes]:
        return [path.read_bytes() for path in self.files]


RAISED = "Severity raised from SEV3 to SEV1"

# Nagios and Icinga 2 through send-alert: a service WARNING, a host DOWN, the service CRITICAL, both recover
MONITORING_STEPS = (
    Expect(incidents=1, severities=(3,), alerts=1, firing=1, hosts=1),
    Expect(incidents=2, severities=(3, 1), alerts=2, firing=2, hosts=2),
    Expect(incidents=2, severities=(1, 1), alerts=2, firing=2, timeline=RAISED),
    Expect(incidents=2, alerts=2, firing=1),
    Expect(incidents=2, alerts=2, firing=0),
)

SCENARIOS = (
    Scenario("alertmanager-webhook", "alertmanager", (
        Expect(incidents=1, severities=(3,), alerts=60, firing=60, hosts=60),
        Expect(incidents=1, severities=(1,), alerts=61, firing=60, hosts=60, timeline=RAISED),
        Expect(incidents=1, severities=(1,), alerts=61, firing=0),
    )),
    Scenario("alertmanager-webhook-max-alerts", "alertmanager", (
        Expect(incidents=1, severities=(3,), alerts=3, firing=3, timeline="Alertmanager left out 57 alerts"),
        Expect(incidents=1, alerts=3, firing=3, timeline="Alertmanager left out 58 alerts"),
        Expect(incidents=1, alerts=3, firing=0),
    )),
    Scenario("alertmanager-pagerduty", "pagerduty", (
        Expect(incidents=1, severities=(3,), alerts=1, firing=1, hosts=1),
        Expect(incidents=1, severities=(1,), alerts=1, firing=1, timeline=RAISED),
        Expect(incidents=1, severities=(1,), alerts=1, firing=0),
    )),
    Scenario("grafana-webhook", "grafana", (
        Expect(incidents=1, severities=(3,), alerts=1, firing=1),
        Expect(incidents=3, alerts=3, firing=3, hosts=0),
    )),
    Scenario("grafana-webhook-60", "grafana", (
        Expect(incidents=1, severities=(3,), alerts=60, firing=60, hosts=60),
        Expect(incidents=1, severities=(1,), alerts=61, firing=60, timeline=RAISED),
        Expect(incidents=1, severities=(1,), alerts=61, firing=0),
    )),
    Scenario("grafana-pagerduty", "pagerduty", (
        Expect(incidents=1, severities=(1,), alerts=1, firing=1, hosts=1),
        # class "default" says nothing: the 60-alert group is a page of its own, not part of the first one
        Expect(incidents=2, severities=(1, 3), alerts=2, firing=2),
        Expect(incidents=2, severities=(1, 1), alerts=2, firing=2, timeline=RAISED),
        Expect(incidents=2, alerts=2, firing=1),
        Expect(incidents=2, alerts=2, firing=0),
    )),
    Scenario("pagerduty-events", "pagerduty", (
        Expect(incidents=1, severities=(4,), alerts=1, firing=1, hosts=1),
        # a re-trigger with a newer timestamp is the same alert (its dedup_key), raised; not a resolve and a new one
        Expect(incidents=1, severities=(1,), alerts=1, firing=1, timeline="Severity raised from SEV4 to SEV1"),
        Expect(incidents=1, alerts=1, firing=0, acknowledged=1),
        Expect(incidents=1, alerts=1, firing=0, acknowledged=0),
    )),
    Scenario("pagerduty-no-class", "pagerduty", (
        Expect(incidents=1, severities=(2,), alerts=1, firing=1),
        Expect(incidents=2, severities=(2, 3), alerts=2, firing=2, hosts=2),
    )),
    Scenario("icinga2-send-alert", "generic", MONITORING_STEPS),
    Scenario("nagios-send-alert", "generic", (
        *MONITORING_STEPS,
        # CRITICAL again after the recovery: the same alert fires again in the same incident
        Expect(incidents=2, severities=(1, 1), alerts=2, firing=1),
    )),
)


def route_of(path: Path) -> str:
    """The route a corpus or fixture file is posted to: its scenario's, else the name of its directory."""
    for scenario in SCENARIOS:
        if path.parent == CORPUS / scenario.directory:
            return scenario.route
    return path.parent.name


def every_notification() -> list[Path]:
    """Every real notification the tests hold: the corpus and the payload fixtures."""
    fixtures = CORPUS.parent / "fixtures" / "payloads"
    found = sorted(CORPUS.glob("*/*.json")) + sorted(fixtures.glob("*/*.json"))
    assert all(isinstance(json.loads(path.read_bytes()), dict | list) for path in found)
    return found
