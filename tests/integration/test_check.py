"""`pagerbot check`: one line per dependency, exit 1 if any fails, never a traceback.

Run as users run it, in a subprocess: against PostgreSQL, the fake Slack (bot and app-level tokens), a fake
Graphite and a real SMTP server it passes; with the database unreachable, wrong Slack tokens and SMTP and
the metrics source down, each failure is one clear line; an unmigrated database says to run the upgrade.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pagerbot.store.migrate import head_revision, upgrade
from tests.fakes.graphite import FakeGraphite
from tests.fakes.slack_api import FakeSlack
from tests.harness import free_port, postgres_database
from tests.integration.production import write_config
from tests.peers.smtp import SmtpPeer, smtp_server

pytestmark = pytest.mark.postgres


def _check(cwd: Path, env: dict[str, str]) -> tuple[int, list[str], str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERBOT_", "SLACK_"))}
    done = subprocess.run([sys.executable, "-m", "pagerbot", "check"], cwd=cwd, env={**clean, **env},
                          capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, done.stdout.splitlines(), done.stderr


def _config(tmp_path: Path, smtp_port: int, graphite_url: str) -> Path:
    return write_config(tmp_path, {
        "metrics": {"source": "graphite", "url": graphite_url},
        "vendors": {"contegix": {"name": "Contegix", "to": ["support@contegix.example"]}},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "starttls": False, "from": "pagerbot@acme.example",
                 "timeout_seconds": 3},
    })


def _slack_env(slack: FakeSlack, bot: str, app: str) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": bot, "SLACK_SIGNING_SECRET": "s", "SLACK_APP_TOKEN": app,
            "SLACK_API_URL": slack.api_url}


def test_check_passes_when_everything_answers(tmp_path: Path, fake_slack: FakeSlack) -> None:
    smtp: SmtpPeer
    with postgres_database() as database_url, smtp_server(mode="plain") as smtp, FakeGraphite() as graphite:
        asyncio.run(upgrade(database_url))
        config = _config(tmp_path, smtp.port, graphite.url)
        status, lines, stderr = _check(tmp_path, {
            "PAGERBOT_DATABASE_URL": database_url, "PAGERBOT_CONFIG": str(config),
            **_slack_env(fake_slack, fake_slack.token, fake_slack.app_token)})
    assert status == 0, (lines, stderr)
    assert [line.split(":")[0] for line in lines] == [
        "ok    config", "ok    database", "ok    slack", "ok    slack socket mode", "ok    metrics", "ok    smtp"]
    assert "up to date" in lines[1] and "auth.test ok as pagerbot" in lines[2]
    assert "graphite answered with 3 hosts" in lines[4]
    assert stderr == ""


def test_check_names_each_failure_in_one_line(tmp_path: Path, fake_slack: FakeSlack) -> None:
    closed = free_port()  # nothing listens here
    config = write_config(tmp_path, {**yaml.safe_load(_config(tmp_path, closed, f"http://127.0.0.1:{closed}")
                                                      .read_text()),
                                     "imap": {"host": "127.0.0.1", "port": closed, "username": "pagerbot@acme.example",
                                              "password": "app-password", "timeout_seconds": 3}})
    status, lines, stderr = _check(tmp_path, {
        "PAGERBOT_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed}/pagerbot", "PAGERBOT_CONFIG": str(config),
        **_slack_env(fake_slack, "xoxb-wrong", "xapp-wrong")})
    assert status == 1
    assert lines[0].startswith("ok    config")
    failures = dict(line.split(": ", 1) for line in lines[1:])
    assert failures == {
        "FAIL  database": f"cannot reach postgres@127.0.0.1:{closed}/pagerbot: connection refused",
        "FAIL  slack": f"auth.test at {fake_slack.api_url} answered invalid_auth: check SLACK_BOT_TOKEN",
        "FAIL  slack socket mode": f"apps.connections.open at {fake_slack.api_url} answered invalid_auth: "
                                   "check SLACK_APP_TOKEN (an app-level token, xapp-...)",
        "FAIL  metrics": failures["FAIL  metrics"],
        "FAIL  smtp": failures["FAIL  smtp"],
        "FAIL  imap": f"cannot connect to IMAP server 127.0.0.1:{closed}: connection refused",
    }
    assert "refused" in failures["FAIL  metrics"] and "Graphite" in failures["FAIL  metrics"]
    assert "refused" in failures["FAIL  smtp"].lower()
    assert "Traceback" not in stderr and "Traceback" not in "\n".join(lines)


def test_check_says_to_upgrade_an_unmigrated_database(tmp_path: Path) -> None:
    with postgres_database() as database_url:
        status, lines, stderr = _check(tmp_path, {"PAGERBOT_DATABASE_URL": database_url})
    assert status == 1
    assert lines[1].startswith("FAIL  database: ") and lines[1].endswith(
        f"is at revision (empty), the code needs {head_revision()}: run `pagerbot db upgrade`"), lines
    assert "Traceback" not in stderr
