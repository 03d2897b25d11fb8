"""Starting with Slack configured logs no warning from Bolt about a token it was given twice."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pagerbot.bootstrap import build
from tests.harness import make_settings


async def test_no_warning_that_the_token_is_unused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000-fake-pagerbot-token")  # as in production: Bolt reads it too
    with caplog.at_level(logging.INFO):
        runtime = build(make_settings(f"sqlite:///{tmp_path}/pagerbot.db"), with_scheduler=False)
        try:
            assert runtime.bolt is not None
            bolt_logger = logging.getLogger("slack_bolt.AsyncApp")
            bolt_logger.warning("some other warning")  # the filter is about the one message only
        finally:
            await runtime.close()
    from_bolt = [record.getMessage() for record in caplog.records if record.name.startswith("slack_bolt")]
    assert from_bolt == ["some other warning"]
