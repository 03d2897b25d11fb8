"""Shared fixtures: databases (SQLite and a fresh PostgreSQL database), the fake Slack, a running server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.slack_api import FakeSlack
from tests.harness import database


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every test using this runs on SQLite and on PostgreSQL (127.0.0.1:5432, a fresh database)."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pagerbot.db'}"


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    with database("postgres", tmp_path) as url:
        yield url


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    slack = FakeSlack().start()
    slack.add_channel("incidents", members=["U0ALICE"])
    try:
        yield slack
    finally:
        slack.stop()
