"""docs/oncall.md stays honest: its example config is valid, every oncall key and step key is documented (there
and in docs/configuration.md), and the README points at it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pagerbot.services.commands import USAGE
from pagerbot.settings import OncallConfig, OncallRotationConfig, OncallStepConfig, parse_config

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "oncall.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


def test_the_example_config_is_valid() -> None:
    example = re.search(r"```yaml\n(.*?)```", DOC, re.S)
    assert example is not None
    data = yaml.safe_load(example.group(1))
    data["vendors"] = {"contegix": {"name": "Contegix", "to": ["support@contegix.example"]}}
    config = parse_config(data, "docs/oncall.md")
    assert set(config.oncall.policies) == {"sev1", "sev2", "sev3"}
    assert config.oncall.contacts["U0ALICE"][1].webhook is not None


def test_every_key_is_documented() -> None:
    for name in OncallConfig.model_fields:
        assert f"`oncall.{name}" in DOC, name
        assert f"`oncall.{name}" in CONFIGURATION, name
    for name in OncallRotationConfig.model_fields:
        assert f"`oncall.rotations.<name>.{name}`" in DOC, name
    for name in OncallStepConfig.model_fields:
        assert f"`{name}`" in DOC, name


def test_the_commands_are_documented() -> None:
    for command in ("/incident oncall`", "/incident oncall take", "/incident oncall override", "GET /oncall"):
        assert command in DOC, command
    assert "oncall take" in USAGE and "oncall override" in USAGE
    assert "[docs/oncall.md](docs/oncall.md)" in README
