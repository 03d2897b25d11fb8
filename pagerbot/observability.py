"""pagerbot's own Prometheus metrics. Collectors live in one registry per process (prometheus-client's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# prometheus-client's collectors are process-wide by design: exported at /metrics, never reconfigured.
ALERTS_RECEIVED = Counter("pagerbot_alerts_received_total", "Alerts received", ["source", "outcome"])
INCIDENTS_OPENED = Counter("pagerbot_incidents_opened_total", "Incidents opened")
SLACK_CALLS = Counter("pagerbot_slack_api_calls_total", "Slack Web API calls", ["method", "result"])
SLACK_LATENCY = Histogram("pagerbot_slack_api_seconds", "Slack Web API call latency", ["method"])
EMAILS_SENT = Counter("pagerbot_emails_sent_total", "Emails sent", ["outcome"])
GRAPH_RENDER = Histogram("pagerbot_graph_render_seconds", "Graph render time")
WEBHOOK_LATENCY = Histogram("pagerbot_webhook_seconds", "Alert webhook latency", ["route"],
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
INBOX_PENDING = Gauge("pagerbot_inbox_pending", "Deliveries answered 2xx and not yet applied")
INBOX_OLDEST = Gauge("pagerbot_inbox_oldest_seconds", "Age of the oldest delivery not yet applied")
INBOX_FAILED = Gauge("pagerbot_inbox_failed", "Deliveries kept aside because applying them failed")
OUTBOX_DEPTH = Gauge("pagerbot_outbox_pending", "Outbox rows waiting for delivery")
OUTBOX_OLDEST = Gauge("pagerbot_outbox_oldest_seconds", "Age of the oldest undelivered outbox row")
OUTBOX_DELIVERED = Counter("pagerbot_outbox_delivered_total", "Outbox rows handled, by op and outcome",
                           ["op", "outcome"])
OUTBOX_RECLAIMED = Counter("pagerbot_outbox_reclaimed_total",
                           "Outbox rows claimed again after another worker's lease expired (it died or stalled)")
SCHEDULER_LEADER = Gauge("pagerbot_scheduler_leader", "1 while this replica runs the scheduler's ticks")
SCHEDULER_TICKS = Counter("pagerbot_scheduler_ticks_total", "Scheduler ticks this replica ran")
