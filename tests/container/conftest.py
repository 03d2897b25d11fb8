"""The images the container tests run, built once per session (the engine's build cache makes a rebuild of
unchanged sources take seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.container.engine import BASE_IMAGE, IMAGE, ROOT, bridge_gateway, build
from tests.fakes.slack_api import FakeSlack

POSTGRES_IMAGE = "pagerbot-test-postgres:15"


@pytest.fixture(scope="session")
def image() -> str:
    """pagerbot's image, from this checkout's Dockerfile, on the Debian base made by tests/peers/docker.sh."""
    build(IMAGE, ROOT, base=BASE_IMAGE)
    return IMAGE


@pytest.fixture(scope="session")
def postgres_image() -> str:
    """PostgreSQL where the official image cannot be pulled (tests/container/postgres)."""
    build(POSTGRES_IMAGE, ROOT / "tests" / "container" / "postgres", base=BASE_IMAGE)
    return POSTGRES_IMAGE


@pytest.fixture
def slack_on_the_bridge() -> Iterator[FakeSlack]:
    """The fake Slack where containers on a bridge network reach it: the host's address on Docker's bridge."""
    slack = FakeSlack(host=bridge_gateway()).start()
    slack.add_channel("incidents", members=["U0ALICE"])
    try:
        yield slack
    finally:
        slack.stop()
