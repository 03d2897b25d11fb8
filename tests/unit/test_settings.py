"""A bad config is reported with the file, the key and what was expected, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from pagerbot.settings import ConfigError, load_settings


def _load(tmp_path: Path, text: str, **env: str):
    path = tmp_path / "pagerbot.yaml"
    path.write_text(text)
    return load_settings({"PAGERBOT_CONFIG": str(path), **env})


def test_valid_config_from_interface_md(tmp_path: Path) -> None:
    settings = _load(tmp_path, """
timezone: America/Los_Angeles
slack: {announce_channel: incidents, channel_prefix: inc, responders: [U0ALICE, bob@example.com]}
grouping: {labels: [cluster], window_minutes: 120}
metrics: {source: prometheus, url: "http://127.0.0.1:9090", refresh_minutes: 5, pools: {web: [web1], db: [db1]}}
vendors: {contegix: {name: Contegix, to: [support@contegix.example], cc: [], account: ACME-1234}}
smtp: {host: 127.0.0.1, port: 587, starttls: true, username: null, password: null, from: pagerbot@example.com}
""", PAGERBOT_API_TOKEN="t", SLACK_API_URL="http://127.0.0.1:1/api")
    assert settings.config.smtp.sender == "pagerbot@example.com"
    assert settings.config.vendors["contegix"].account == "ACME-1234"
    assert settings.slack_api_url.endswith("/api/") and settings.api_token == "t"


@pytest.mark.parametrize("text, expected", [
    ("timezone: Mars/Olympus", "timezone: expected an IANA time zone name"),
    ("grouping: {window_minutes: -1}", "grouping.window_minutes: Input should be greater than or equal to 0"),
    ("vendors: {acme: {name: Acme, to: []}}", "vendors.acme.to: expected at least one email address"),
    ("vendors: {acme: {name: Acme, to: ['a@b\\r\\nBcc: x@y']}}", "vendors.acme.to: "),
    ("metrics: {source: prometheus}", "metrics.url is required when metrics.source is prometheus"),
    ("vendors: {acme: {name: Acme, to: [a@b.example], ticket_pattern: 'HW-(\\d+'}}",
     "vendors.acme.ticket_pattern: 'HW-(\\\\d+' is not a regular expression"),
    ("vendors: {acme: {name: Acme, to: [a@b.example], ticket_pattern: 'HW-\\d*|'}}", "matches empty text"),
    ("smtp: {team_address: 'ops at example'}", "smtp.team_address: 'ops at example' is not an email address"),
    ("people: {U0ALICE: {email: 'alice'}}", "people.U0ALICE.email: 'alice' is not an email address"),
    ("imap: {host: h, username: u, password: p, tls: true, starttls: true}", "imap: choose either tls"),
    ("imap: {host: h}", "imap.username"),
    ("slak: {}", "slak: unknown key"),
    ("- a list", "expected a mapping at the top level"),
    ("timezone: [unclosed", "not valid YAML at line 1"),
    ("oncall: {rotations: {p: {members: [U0A], handoff: 'someday 9'}}}", "oncall.rotations.p: handoff: expected"),
    ("oncall: {rotations: {p: {members: []}}}", "a rotation needs members or an ical_url"),
    ("oncall: {rotations: {p: {members: [U0A]}}, policies: {sev1: [{page: q}]}}",
     "policies.sev1.0.page: 'q' is not one of the rotations"),
    ("oncall: {rotations: {p: {members: [U0A]}}, policies: {sev1: [{page: p, vendor: v}]}}",
     "a step either pages a rotation"),
    ("oncall: {policies: {sev1: [{vendor: nobody}]}}", "oncall.policies.sev1.0.vendor: 'nobody' is not one of"),
    ("oncall: {policies: {sev9: []}}", "oncall.policies.sev9"),
    ("oncall: {working_hours: 'weekdays'}", "expected working hours such as 'mon-fri 09:00-18:00'"),
    ("oncall: {contacts: {U0A: [{email: a@b.example, pagerduty: k}]}}", "a contact is one of email"),
    ("oncall: {contacts: {U0A: [{webhook: {url: 'ftp://x'}}]}}", "expected an http(s) URL"),
])
def test_bad_config_names_file_key_and_expectation(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "pagerbot.yaml"))
    assert expected in message


def test_missing_config_file_and_bad_database_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings({"PAGERBOT_CONFIG": str(tmp_path / "nope.yaml")})
    with pytest.raises(ConfigError, match="PAGERBOT_DATABASE_URL"):
        load_settings({"PAGERBOT_DATABASE_URL": "mysql://x"})
