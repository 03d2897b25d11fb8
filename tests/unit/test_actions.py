"""Action items read from notes: owner, priority and link wherever they stand, the rest is the action."""

from __future__ import annotations

import pytest

from pagerbot.core.actions import ActionItem, parse_action


@pytest.mark.parametrize(
    ("text", "item"),
    [
        ("<@U0BOB|bob> P1 cap the rebuild speed https://tracker.example.com/OPS-101",
         ActionItem("cap the rebuild speed", "U0BOB", "P1", "https://tracker.example.com/OPS-101")),
        ("[p2] @alice alert on RAID rebuilds <https://tracker.example.com/OPS-102|OPS-102>",
         ActionItem("alert on RAID rebuilds", "alice", "P2", "https://tracker.example.com/OPS-102")),
        ("ask <@U0EVE> to move the reindex P3", ActionItem("ask <@U0EVE> to move the reindex", None, "P3")),
        ("<@U0ALICE> write the runbook (see https://wiki.example.com/db).",
         ActionItem("write the runbook (see ).", "U0ALICE", None, "https://wiki.example.com/db")),
        ("keep the weights in our config", ActionItem("keep the weights in our config")),
        ("P9 is not a priority, ops@example.com is not an owner",
         ActionItem("P9 is not a priority, ops@example.com is not an owner")),
    ],
)
def test_parse_action(text: str, item: ActionItem) -> None:
    assert parse_action(text) == item
