"""``GET /metrics`` in Prometheus' text format, and the request latency it reports.

:class:`RequestMetrics` times every HTTP request by its route's template (``/api/v1/stations/
{station_id}``, never the raw path), method and status class: the children of the histogram are
kept per key, so a request costs one lookup and one observe. What the store knows is read when
Prometheus scrapes, not kept per request: feeds' lag and staleness per operator, open sessions
by state, live firmware campaigns' updates by state. No label names a driver, a token or a
session; the counters kept as things happen are in :mod:`chargemesh.metrics`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chargemesh.api.operators import FeedView, feed_views
from chargemesh.metrics import HTTP_REQUESTS, REGISTRY, LatencySeries
from chargemesh.services.feeds.freshness import StatusRefresher
from chargemesh.store import Store

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUS_CLASSES: Final = ("5xx", "1xx", "2xx", "3xx", "4xx", "5xx")  # by status // 100
UNMATCHED: Final = "unmatched"  # no route took the request (404, or refused before routing)


PlainRoutes = dict[tuple[int, int], str]  # (id of the endpoint, path parameters) -> template


def status_class(status: int) -> str:
    """``2xx``, ``4xx`` …; a response never started (0) or out of range counts as ``5xx``."""
    cls = status // 100
    return STATUS_CLASSES[cls] if 0 < cls < 6 else "5xx"


class SentStatus:
    """An ASGI ``send`` that remembers the status the response started with (0: not yet)."""

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)


def plain_routes(routes: Sequence[BaseRoute]) -> PlainRoutes:
    """The templates of the plain Starlette routes among ``routes`` (the hot paths: nearby,
    T/CEC, OCPI Locations), by endpoint and number of path parameters: FastAPI's router marks
    only its own routes in the scope, so these are found by the endpoint it does mark."""
    found: PlainRoutes = {}
    for route in routes:
        if isinstance(route, Route) and not isinstance(route, APIRoute):
            found.setdefault((id(route.endpoint), len(route.param_convertors)), route.path)
    return found


def route_template(scope: Scope, root_path: str, plain: PlainRoutes) -> str:
    """The template of the route that answered, with the prefix of the mount it sits under;
    a mount's own files are one ``{path}``."""
    route = scope.get("route")
    if route is None:
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        return plain.get((id(endpoint), len(scope.get("path_params", ()))), UNMATCHED)
    prefix = scope.get("root_path", "")[len(root_path) :]
    if isinstance(route, Mount):
        return f"{prefix}/{{path}}"
    return f"{prefix}{route.path}"


class RequestMetrics:
    """Pure ASGI: the time from the request's arrival until the app returned (for an event
    stream, its whole life). ``routes``: the app's routes (read at the first request, when
    all are in)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.routes = routes
        self._plain: PlainRoutes | None = None
        # (route, endpoint, path parameters, method, status // 100) -> the histogram's series:
        # the ids of the app's routes and endpoints (they live as long as it), so a request
        # builds no template; bounded by the routes
        self._children: dict[tuple[int, int, int, str, int], LatencySeries] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        sending = SentStatus(send)
        try:
            await self.app(scope, receive, sending)
        finally:
            status = sending.status
            elapsed = time.perf_counter() - started
            method = scope["method"]
            if method not in METHODS:
                method = "other"
            route = scope.get("route")
            endpoint = scope.get("endpoint") if route is None else None
            params = len(scope.get("path_params") or ())
            key = (id(route), id(endpoint), params, method, status // 100)
            child = self._children.get(key)
            if child is None:
                if self._plain is None:
                    self._plain = plain_routes(self.routes)
                child = HTTP_REQUESTS.labels(
                    route_template(scope, root_path, self._plain), method, status_class(status)
                )
                self._children[key] = child
            child.observe(elapsed)


class _Families(Collector):
    """Metric families made for one scrape."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _feed_families(views: list[FeedView]) -> list[Metric]:
    lag = GaugeMetricFamily(
        "chargemesh_feed_lag_seconds",
        "Seconds since the operator's last successful sync (absent: never synced)",
        labels=["operator"],
    )
    stale = GaugeMetricFamily(
        "chargemesh_feed_stale_connectors",
        "Live connectors with no status newer than the operator's freshness limit",
        labels=["operator"],
    )
    errors = GaugeMetricFamily(
        "chargemesh_feed_sync_errors", "Failed syncs in a row", labels=["operator"]
    )
    state = GaugeMetricFamily(
        "chargemesh_feed_state",
        "1 for the feed's state (never, running, ok, degraded, failing)",
        labels=["operator", "state"],
    )
    for view in views:
        op = view.operator.id
        if view.health.last_success is not None:
            lag.add_metric([op], (view.now - view.health.last_success).total_seconds())
        stale.add_metric([op], view.stale)
        errors.add_metric([op], view.health.errors)
        state.add_metric([op, view.state], 1)
    return [lag, stale, errors, state]


def _store_families(store: Store) -> list[Metric]:
    sessions = GaugeMetricFamily(
        "chargemesh_sessions", "Charging sessions not yet ended, by state", labels=["state"]
    )
    for state, n in sorted(Counter(str(s.state) for s in store.open_sessions()).items()):
        sessions.add_metric([state], n)
    updates = GaugeMetricFamily(
        "chargemesh_campaign_updates",
        "Chargers of each live firmware campaign, by the state of their update",
        labels=["campaign", "state"],
    )
    for campaign in store.live_campaigns():
        counted = Counter(str(u.state) for u in store.campaign_updates(campaign.id))
        for state, n in sorted(counted.items()):
            updates.add_metric([campaign.id, state], n)
    return [sessions, updates]


async def scrape(store: Store, refresher: StatusRefresher | None) -> bytes:
    """This process's metrics, with what the store holds as of now."""
    views = await feed_views(store, refresher)
    families = _feed_families(views) + await asyncio.to_thread(_store_families, store)
    now = CollectorRegistry(auto_describe=True)
    now.register(_Families(families))
    return generate_latest(REGISTRY) + generate_latest(now)


CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
