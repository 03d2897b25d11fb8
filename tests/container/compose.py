"""The README's compose example (two pagerbot replicas and PostgreSQL), and what running it here changes.

Running it here swaps only what this machine cannot have: images from a registry (the test's own builds
stand in), fixed host ports (free loopback ports instead), and Slack (the fake, reached from the compose
network at the host's bridge address).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def production_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("## Production"):]


def readme_compose_example() -> dict[str, Any]:
    """The first YAML block of the README's Production section, parsed."""
    block = re.search(r"```yaml\n(.*?)```", production_section(), re.S)
    assert block is not None, "the README's Production section has no compose example"
    return dict(yaml.safe_load(block.group(1)))


def replicas(compose: dict[str, Any]) -> list[str]:
    return [name for name in compose["services"] if name.startswith("pagerbot")]


def for_this_machine(compose: dict[str, Any], *, image: str, postgres_image: str, ports: dict[str, int],
                     environment: dict[str, str]) -> dict[str, Any]:
    """The example with the images built here, the replicas on the given loopback ports, and ``environment``
    added to theirs."""
    local = copy.deepcopy(compose)
    local["services"]["db"]["image"] = postgres_image
    for name in replicas(local):
        service = local["services"][name]
        service.pop("build", None)
        service["image"] = image
        service["ports"] = [f"127.0.0.1:{ports[name]}:8080"]
        service["environment"] = {**service["environment"], **environment}
    return local
