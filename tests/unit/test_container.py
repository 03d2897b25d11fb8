"""The Dockerfile and the README's Production section say what is true.

No Docker daemon is needed: the Dockerfile is read (two stages on one base, the official slim image by
default, a numeric non-root user, the migrations, a HEALTHCHECK on /healthz whose command is run against a
real server), and the compose example is parsed (only environment variables and config keys pagerbot reads).
tests/container builds the image and runs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from pagerbot.settings import ServerConfig
from tests.container.compose import production_section, readme_compose_example
from tests.harness import ServerThread, free_port, make_settings

ROOT = Path(__file__).resolve().parents[2]


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    steps = _instructions()
    build_args = dict(arg.split("=", 1) for op, arg in steps if op == "ARG" and "=" in arg)
    bases = [arg.split()[0] for op, arg in steps if op == "FROM"]
    assert len(bases) >= 2 and set(bases) == {"${BASE}"}  # one base for both stages, chosen at build time
    assert build_args["BASE"] == "python:3.11-slim"  # the official slim image unless told otherwise
    assert not (ROOT / "Dockerfile").read_text().startswith("# syntax=")  # that line pulls a frontend image
    final = dict(_final_stage())
    user = final["USER"].split(":")[0]
    assert user.isdigit() and int(user) != 0  # numeric, so Kubernetes' runAsNonRoot can check it
    assert "COPY" in final and "--from=build" in " ".join(arg for op, arg in _final_stage() if op == "COPY")
    assert "PAGERBOT_MIGRATIONS=/app/migrations" in final["ENV"]
    assert any(op == "COPY" and arg.startswith("migrations ") for op, arg in _final_stage())
    assert json.loads(final["ENTRYPOINT"]) == ["pagerbot"]
    assert json.loads(final["CMD"])[:1] == ["serve"] and "0.0.0.0" in json.loads(final["CMD"])
    assert final.get("STOPSIGNAL", "SIGTERM") == "SIGTERM"


def _healthcheck(port: int) -> int:
    final = dict(_final_stage())
    spec = final["HEALTHCHECK"]
    command = json.loads(spec[spec.index("CMD") + 3:].strip())
    assert command[0] == "python3" and "PAGERBOT_HEALTHCHECK_URL" in command[-1]
    assert "PAGERBOT_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz" in final["ENV"]  # the port CMD serves on
    env = {**os.environ, "PAGERBOT_HEALTHCHECK_URL": f"http://127.0.0.1:{port}/healthz"}
    return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30,
                          check=False).returncode


def test_healthcheck_command_probes_healthz(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'pb.db'}", slack=False)
    with ServerThread(settings) as server:
        assert _healthcheck(server.port) == 0
    assert _healthcheck(free_port()) != 0


def test_compose_example_uses_only_what_pagerbot_reads() -> None:
    compose = readme_compose_example()
    settings_source = (ROOT / "pagerbot" / "settings.py").read_text()
    known = set(re.findall(r'env(?:\.get\(|\[)"([A-Z_]+)"', settings_source)) | {"PAGERBOT_MIGRATIONS"}
    replicas = [s for name, s in compose["services"].items() if name.startswith("pagerbot")]
    assert len(replicas) >= 2 and compose["services"]["db"]["image"].startswith("postgres")
    for service in replicas:
        assert set(service["environment"]) <= known, set(service["environment"]) - known
        assert service["environment"]["PAGERBOT_DATABASE_URL"].startswith("postgresql://")


def test_server_keys_are_documented() -> None:
    documented = set(re.findall(r"`server\.(\w+)`", production_section()))
    assert documented == set(ServerConfig.model_fields)
