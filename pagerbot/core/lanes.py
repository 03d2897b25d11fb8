"""Which lane of the inbox a delivery waits in: deliveries of different lanes may be applied out of arrival order.

A storm's backlog must not hold back an alert of another group (another cluster's database going down): the
inbox worker takes the heads of all lanes before the storm's next deliveries. A lane is the delivery's group
(core/grouping), hashed to a short key, when that is all its order matters to:

- every alert of the delivery belongs to that one group, and
- every alert comes from a sender whose alert key is a hash of its labels (Alertmanager, Grafana): its later
  words (a resend, the resolve) carry the same labels, so they fall in the same group and wait in the same
  lane. A PagerDuty or generic resolve may come without the labels of its trigger (its key alone names the
  alert), and a metric watch's alerts are pagerbot's own: those deliveries get no lane.

A delivery without a lane waits in arrival order with respect to every other delivery (as before lanes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pagerbot.core.alerts import AlertEvent
from pagerbot.core.grouping import group_key, grouping_fallback

LABEL_KEYED_SENDERS = frozenset({"alertmanager", "grafana"})
"""Senders whose alert key (the fingerprint) is derived from the alert's labels."""


def lane_of(events: Sequence[AlertEvent], group_labels: Sequence[str]) -> str | None:
    """The lane of a delivery of ``events``, or None when it must keep its place among all deliveries."""
    groups = set()
    for event in events:
        if event.source not in LABEL_KEYED_SENDERS or event.identity_by_key:
            return None
        groups.add(group_key(event.labels, group_labels, fallback=grouping_fallback(event)))
        if len(groups) > 1:
            return None
    if not groups:
        return None
    return hashlib.blake2b(groups.pop().encode(), digest_size=16).hexdigest()
