"""docs/graphs.md stays honest: every metrics setting and watch field is documented, every metric name is in
its table, and its YAML examples are configs pagerbot accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pagerbot.core.diagnosis import Thresholds
from pagerbot.metrics.series import ALL_METRICS
from pagerbot.settings import MetricsConfig, WatchConfig, parse_config

DOC = (Path(__file__).parents[2] / "docs" / "graphs.md").read_text(encoding="utf-8")
README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def test_linked_from_the_readme() -> None:
    assert "[docs/graphs.md](docs/graphs.md)" in README


@pytest.mark.parametrize("key", sorted(MetricsConfig.model_fields))
def test_every_metrics_setting_is_documented(key: str) -> None:
    assert f"| `{key}` |" in DOC


@pytest.mark.parametrize("key", sorted(WatchConfig.model_fields))
def test_every_watch_field_is_in_the_example(key: str) -> None:
    assert re.search(rf"^\s+(- )?(# )?{key}:", DOC, re.M), key


def test_every_metric_is_in_the_table() -> None:
    section = DOC.split("### The metrics and where they come from", 1)[1].split("\n\n**", 1)[0]
    first_cells = [row.split("|")[1] for row in section.splitlines() if row.startswith("| `")]
    named = {name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)}
    assert named == set(ALL_METRICS)


def test_the_yaml_examples_are_valid_configs() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC, re.S)
    assert len(blocks) >= 4
    for block in blocks:
        data = yaml.safe_load(block)
        metrics = data["metrics"]
        if "queries" in metrics or "rrd_root" in metrics:
            metrics = {"source": "prometheus", "url": "http://prometheus:9090", **metrics}
        parse_config({"metrics": metrics}, "docs/graphs.md")


def test_the_documented_thresholds_are_the_defaults() -> None:
    th = Thresholds()
    assert f"load per core above {th.load_per_core:g}" in DOC
    assert f"iowait above {th.iowait_pct:.0f} %" in DOC and f"busy more than {th.disk_busy_pct:.0f} %" in DOC
    assert f"more than {th.swap_used_bytes / 2**20:.0f} MiB of swap" in DOC
    assert f"older than {th.stale_seconds / 60:.0f} minutes" in DOC
    assert f"below {th.imbalance_low_ratio:g} × or above {th.imbalance_high_ratio:g} ×" in DOC
