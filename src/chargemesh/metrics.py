"""What this process counts for the operations team, served at ``/metrics`` (docs/operations.md).

The counters and histograms kept as things happen live here, in one registry per process: each
node (each worker process) serves its own, and Prometheus adds them up. Labels are bounded: a
route's template, never its raw path; an operator's id or an OCPP action, never a driver, a
token or a session id. What is read from the store at scrape time (feeds, sessions, campaigns)
is in ``api/metrics.py``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY: Final = CollectorRegistry(auto_describe=True)

#: seconds; the nearby path answers in about a millisecond, the slowest API calls in seconds
LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class LatencySeries:
    """One histogram series kept as plain numbers: an observe is a bisect and two additions
    (prometheus_client's Histogram takes a lock per bucket and per sum, ~2 µs, on the nearby
    path that answers in well under a millisecond). Observed and read on the event loop's
    thread only, so nothing needs a lock."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last: above every bound (+Inf)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds


class RequestLatency(Collector):
    """``chargemesh_http_request_duration_seconds``: a histogram per route template, method
    and status class, written out in Prometheus' form when scraped."""

    NAME: Final = "chargemesh_http_request_duration_seconds"
    HELP: Final = "Time to answer an HTTP request, by route template, method and status class"

    def __init__(self) -> None:
        self.series: dict[tuple[str, str, str], LatencySeries] = {}

    def labels(self, route: str, method: str, status: str) -> LatencySeries:
        return self.series.setdefault((route, method, status), LatencySeries())

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.NAME, self.HELP, labels=["route", "method", "status"])
        bounds = [*(str(b) for b in LATENCY_BUCKETS), "+Inf"]
        for labels, series in list(self.series.items()):
            running, buckets = 0, []
            for bound, count in zip(bounds, series.counts, strict=True):
                running += count
                buckets.append((bound, float(running)))
            family.add_metric(list(labels), buckets, sum_value=series.total)
        yield family


HTTP_REQUESTS: Final = RequestLatency()
REGISTRY.register(HTTP_REQUESTS)

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
