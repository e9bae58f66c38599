"""What this process counts for the operations team, served at ``/metrics`` (docs/operations.md).

The counters and histograms kept as things happen live here, in one registry per process: each
node (each worker process) serves its own, and Prometheus adds them up. Labels are bounded: a
route's template, never its raw path; an operator's id or an OCPP action, never a driver, a
token or a session id. What is read from the store at scrape time (feeds, sessions, campaigns)
is in ``api/metrics.py``.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY: Final = CollectorRegistry(auto_describe=True)

#: seconds; the nearby path answers in about a millisecond, the slowest API calls in seconds
LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

HTTP_REQUESTS: Final = Histogram(
    "chargemesh_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status class",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

PUSHES: Final = Counter(
    "chargemesh_pushes",
    "Messages operators pushed to us, by protocol, operator, message and outcome",
    ["protocol", "operator", "message", "outcome"],
    registry=REGISTRY,
)

SYNCS: Final = Counter(
    "chargemesh_syncs",
    "Feed syncs this process ran, by operator and outcome (ok, failed)",
    ["operator", "outcome"],
    registry=REGISTRY,
)

OCPP_CONNECTIONS: Final = Gauge(
    "chargemesh_ocpp_connections",
    "Own chargers connected to this node's CSMS",
    registry=REGISTRY,
)

OCPP_MESSAGES: Final = Counter(
    "chargemesh_ocpp_messages",
    "OCPP calls own chargers sent this node's CSMS, by action",
    ["action"],
    registry=REGISTRY,
)

UNKNOWN: Final = "unknown"  # the operator label of a request nobody could be named for
