"""Prometheus metrics every service exposes on /metrics (declared once per process)."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "zorgstroom_http_requests_total", "HTTP requests served.", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram("zorgstroom_http_request_seconds", "HTTP request latency.", ["service", "method", "route"])
OUTBOX_BACKLOG = Gauge("zorgstroom_outbox_backlog", "Outbox rows not yet published.", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "zorgstroom_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row (0 when none).", ["service"]
)
EVENTS_PUBLISHED = Counter("zorgstroom_events_published_total", "Events published.", ["service", "topic"])
EVENTS_CONSUMED = Counter(
    "zorgstroom_events_consumed_total",
    "Events consumed, by outcome (applied, duplicate, ignored, dead_lettered).",
    ["service", "topic", "outcome"],
)
DEAD_LETTERS = Counter("zorgstroom_dead_letters_total", "Messages sent to a .dlq twin.", ["service", "topic"])
CONSUMER_LAG = Gauge(
    "zorgstroom_consumer_lag", "Messages behind the high watermark.", ["service", "topic", "partition"]
)
PROJECTION_FRESHNESS = Gauge(
    "zorgstroom_projection_last_event_timestamp_seconds",
    "occurred_at of the last event applied to a projection (unix seconds).",
    ["service"],
)
OUTBOX_PARKED = Gauge(
    "zorgstroom_outbox_parked",
    "Outbox rows parked after Kafka refused them repeatedly; later rows of their key wait behind them.",
    ["service"],
)
RATE_LIMITED = Counter(
    "zorgstroom_rate_limited_total",
    "Requests answered 429: over a credential's rate limit (credential), or an address's failed authentications"
    " (refused); counted here instead of an audit line each.",
    ["service", "scope"],
)
