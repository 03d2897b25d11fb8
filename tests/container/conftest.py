"""The images the container tests run, built once per session (the engine's build cache makes a rebuild of
unchanged sources take seconds)."""

from __future__ import annotations

import pytest

from tests.container.engine import BASE_IMAGE, IMAGE, ROOT, build

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
