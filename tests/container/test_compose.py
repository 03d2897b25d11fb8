"""The README's compose example, run for real with docker-compose: PostgreSQL and two pagerbot replicas.

The same alert group delivered to both replicas at once opens one incident and one Slack channel; both
replicas answer for it; ``docker-compose stop`` stops each replica with exit 0.
"""

from __future__ import annotations

import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from tests.container.compose import for_this_machine, readme_compose_example, replicas
from tests.container.engine import docker
from tests.fakes.slack_api import FakeSlack
from tests.harness import API_TOKEN, SIGNING_SECRET, free_port, wait_for
from tests.integration.production import post_alerts
from tests.payloads import am_alert, am_notification

pytestmark = pytest.mark.container


class Compose:
    """``docker-compose`` on one compose file, as a project of its own."""

    def __init__(self, directory: Path) -> None:
        self.command = ["docker-compose", "--project-name", f"pbtest{uuid.uuid4().hex[:8]}",
                        "--file", str(directory / "docker-compose.yml")]
        self.directory = directory

    def __call__(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run([*self.command, *args], cwd=self.directory, capture_output=True, text=True,
                                timeout=timeout, check=False)
        assert result.returncode == 0, f"docker-compose {' '.join(args)}:\n{result.stdout}{result.stderr[-4000:]}"
        return result.stdout

    def container(self, service: str) -> str:
        return self("ps", "--quiet", service).strip()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_readme_compose_example_runs_two_replicas_on_postgresql(
        tmp_path: Path, image: str, postgres_image: str, slack_on_the_bridge: FakeSlack) -> None:
    example = readme_compose_example()
    names = replicas(example)
    ports = {name: free_port() for name in names}
    compose_file = for_this_machine(
        example, image=image, postgres_image=postgres_image, ports=ports,
        environment={"PAGERBOT_API_TOKEN": API_TOKEN, "SLACK_BOT_TOKEN": slack_on_the_bridge.token,
                     "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack_on_the_bridge.api_url})
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(compose_file))
    # the example mounts ./pagerbot.yaml; the replicas (uid 10001) read it
    (tmp_path / "pagerbot.yaml").write_text(yaml.safe_dump({"slack": {"announce_channel": "incidents"}}))
    (tmp_path / "pagerbot.yaml").chmod(0o644)

    compose = Compose(tmp_path)
    try:
        compose("up", "--detach", "--no-build")
        urls = [f"http://127.0.0.1:{ports[name]}" for name in names]
        for url in urls:
            wait_for(lambda url=url: _healthy(url), 90, interval=0.5, what=f"{url}/readyz")

        # one alert group, delivered to both replicas at once
        group = [am_alert("DiskFull", instance="db1:9100"), am_alert("HighLoad", instance="web1:9100")]
        with ThreadPoolExecutor(len(urls)) as pool:
            answers = list(pool.map(lambda url: post_alerts(url, "alertmanager", am_notification(group)), urls))
        assert [answer.status_code for answer in answers] == [202] * len(urls)

        def one_channel() -> bool:
            created = [call for call in slack_on_the_bridge.calls_to("conversations.create") if call.ok]
            return len(created) == 1 and any(c.name.startswith("inc-") for c in slack_on_the_bridge.channels.values())

        wait_for(one_channel, 60, interval=0.5, what="one incident channel")
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        for url in urls:
            incidents = httpx.get(f"{url}/incidents", headers=headers, timeout=10).json()
            assert len(incidents) == 1, incidents
            incident = httpx.get(f"{url}/incidents/{incidents[0]['id']}", headers=headers, timeout=10).json()
            assert sorted(alert["name"] for alert in incident["alerts"]) == ["DiskFull", "HighLoad"]

        compose("stop", "--timeout", "10", timeout=120)
        for name in names:
            exit_code = docker("inspect", "--format", "{{.State.ExitCode}}", compose.container(name)).stdout.strip()
            assert exit_code == "0", docker("logs", "--tail", "40", compose.container(name)).stderr
    finally:
        compose("down", "--volumes", "--timeout", "5", timeout=120)
