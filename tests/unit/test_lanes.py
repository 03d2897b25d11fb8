"""Fair lanes, the pure parts: which lane a delivery waits in, and how far a SQLite inbox file is applied."""

from __future__ import annotations

from pagerbot.core.alerts import AlertEvent, AlertState, Severity
from pagerbot.core.lanes import lane_of
from pagerbot.store.lanes import Progress

GROUPING = ["cluster"]


def _alert(source: str, key: str, *, cluster: str | None = "prod", state: AlertState = AlertState.FIRING,
           by_key: bool = False) -> AlertEvent:
    labels = {"cluster": cluster} if cluster else {}
    return AlertEvent(source=source, fingerprint=key, state=state, name="HostDown", title="t",
                      severity=Severity.SEV2, labels=labels, identity_by_key=by_key)


def test_a_delivery_of_one_group_from_a_label_keyed_sender_waits_in_that_groups_lane() -> None:
    storm = lane_of([_alert("alertmanager", "a"), _alert("alertmanager", "b")], GROUPING)
    resolve = lane_of([_alert("alertmanager", "a", state=AlertState.RESOLVED)], GROUPING)
    grafana = lane_of([_alert("grafana", "g")], GROUPING)
    other = lane_of([_alert("alertmanager", "c", cluster="billing")], GROUPING)
    assert storm is not None and len(storm) == 32
    assert storm == resolve == grafana  # the group, whoever sent it: one lane keeps the group's order
    assert other is not None and other != storm


def test_deliveries_whose_order_a_lane_cannot_keep_get_none() -> None:
    assert lane_of([_alert("alertmanager", "a"), _alert("alertmanager", "c", cluster="billing")], GROUPING) is None
    assert lane_of([_alert("generic", "backup")], GROUPING) is None  # its resolve may lack the labels
    assert lane_of([_alert("pagerduty", "dedup", by_key=True)], GROUPING) is None
    assert lane_of([_alert("alertmanager", "a", by_key=True)], GROUPING) is None
    assert lane_of([], GROUPING) is None


def test_progress_marks_what_was_applied_out_of_order_until_the_mark_passes_it() -> None:
    start = Progress(3)
    ahead = start.with_applied({7, 9}, oldest_unapplied=4)  # 4..6 and 8 wait
    assert ahead == Progress(3, frozenset({7, 9}))
    assert ahead.params() == {"mark": 3, "applied": "[7, 9]"}
    caught_up = ahead.with_applied({4, 5, 6}, oldest_unapplied=8)
    assert caught_up == Progress(7, frozenset({9}))
    assert caught_up.with_applied({8}, oldest_unapplied=None) == Progress(9)
    assert Progress.from_columns(7, "[9]") == caught_up and Progress.from_columns(None, None) == Progress(0)
