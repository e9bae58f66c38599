"""The platform's HTTP application, built from parts made by :mod:`chargemesh.bootstrap`: the
driver API, the map, the OCPI and T/CEC endpoints, the health checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Lifespan, Scope

from chargemesh import __version__
from chargemesh.api import errors
from chargemesh.api.accounts import accounts_router
from chargemesh.api.analytics import analytics_router
from chargemesh.api.auth import Credentials, Guards
from chargemesh.api.cards import cards_router
from chargemesh.api.events import EventStreams, events_router
from chargemesh.api.firmware import download_router, firmware_router
from chargemesh.api.lanes import HotLanes
from chargemesh.api.limits import BodyLimits
from chargemesh.api.metrics import CONTENT_TYPE, RequestMetrics, scrape
from chargemesh.api.nearby import NearbyEndpoint, nearby_route
from chargemesh.api.ocpi import OcpiEmspEndpoints
from chargemesh.api.operators import operators_router
from chargemesh.api.ops import ops_router
from chargemesh.api.own_chargers import my_chargers_router, ops_chargers_router
from chargemesh.api.ratelimit import RateLimits, SearchRateLimit
from chargemesh.api.refusals import Answer
from chargemesh.api.search import search_router
from chargemesh.api.sessions import sessions_router
from chargemesh.api.stations import stations_router
from chargemesh.api.tcec import TcecPlatformEndpoints
from chargemesh.bus import EventBus
from chargemesh.config import BodyLimitsConfig, MetricsConfig
from chargemesh.csms.service import Csms
from chargemesh.events.relay import OutboxRelay
from chargemesh.search.index import StationIndex
from chargemesh.services.accounts.service import Accounts
from chargemesh.services.charging.prices import Prices
from chargemesh.services.charging.sessions import SessionService
from chargemesh.services.feeds.freshness import StatusRefresher
from chargemesh.services.feeds.ocpi_connections import OcpiConnections
from chargemesh.store import Store

WEB = Path(__file__).resolve().parent.parent / "web" / "static"
GEO_DATA = Path(__file__).resolve().parent.parent / "geo" / "data"
#: FastAPI's own OpenTelemetry off: chargemesh reports through /metrics and its logs, and the
#: check for a configured tracer cost every request ~10 µs (a tenth of a nearby search)
NO_TELEMETRY: Final[TelemetryConfig] = {"tracing": False, "metrics": False, "logs": False}


@dataclass(frozen=True, slots=True)
class Readiness:
    """What ``GET /readyz`` says: ready when the store answers and the search index is built;
    ``leader``: this process runs the singletons (scheduled syncs, session timeouts, …);
    ``worker``: which of the worker processes answered (``[server] workers``), None if one."""

    store: bool
    index: bool
    leader: bool
    bus: bool = True  # the in-process bus is always reachable
    worker: int | None = None

    @property
    def ready(self) -> bool:
        return self.store and self.index and self.bus


class PlatformApp(FastAPI):
    """FastAPI with the hot paths' lanes outside its middleware stack
    (:class:`~chargemesh.api.lanes.HotLanes`); ``hot_lanes`` None: every request through the
    stack."""

    hot_lanes: Callable[[ASGIApp], HotLanes] | None = None
    lanes: HotLanes | None = None  # once the stack is built (at the lifespan's start)

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if self.hot_lanes is None:
            return stack
        self.lanes = self.hot_lanes(stack)
        return self.lanes

    def direct_gets(self) -> Mapping[str, Callable[[Scope], Answer]]:
        """The GETs whose whole answer is computed without awaiting, by path, for the HTTP
        server to answer them on the connection itself (``protocols/direct_http.py``); none
        before the stack is built or without lanes."""
        return {} if self.lanes is None else self.lanes.direct_gets()


def create_app(
    *,
    store: Store,
    index: StationIndex,
    streams: EventStreams,
    sessions: SessionService,
    prices: Prices,
    refresher: StatusRefresher | None,
    tcec: TcecPlatformEndpoints,
    ocpi: OcpiEmspEndpoints,
    accounts: Accounts,
    guards: Guards,
    lifespan: Lifespan[FastAPI],
    readiness: Callable[[], Awaitable[Readiness]],
    ocpi_connections: OcpiConnections,
    feed_urls: Mapping[str, str] | None = None,
    csms: Csms | None = None,
    relay: OutboxRelay | None = None,
    body_limits: BodyLimitsConfig | None = None,
    rate_limits: RateLimits | None = None,
    metrics: MetricsConfig | None = None,
) -> PlatformApp:
    """The ASGI app over built parts; ``lifespan`` starts and stops what runs beside it;
    ``feed_urls``: each configured operator's feed URL, for the operations team's feed list."""

    app = PlatformApp(
        title="chargemesh", version=__version__, lifespan=lifespan, docs_url=None,
        redoc_url=None, telemetry=NO_TELEMETRY,
    )  # fmt: skip
    errors.install(app)
    app.add_middleware(BodyLimits, limits=body_limits or BodyLimitsConfig())
    app.add_middleware(RequestMetrics, routes=app.router.routes)  # inside the rate limits
    limits = rate_limits or RateLimits.off()
    if limits.search is not None:
        app.add_middleware(SearchRateLimit, buckets=limits.search)
    # the hot paths first: the router tries routes in order, and FastAPI's included routers
    # cost each request that passes them by ~0.1 ms (a T/CEC push went by all of them)
    nearby = NearbyEndpoint(index)
    tcec_bytes = (body_limits or BodyLimitsConfig()).tcec_bytes
    app.hot_lanes = lambda stack: HotLanes(stack, nearby, limits.search, tcec, tcec_bytes)
    app.router.routes.append(nearby_route(nearby))  # before its documented twin
    app.router.routes.extend(tcec.routes())
    app.router.routes.extend(ocpi.location_routes("/ocpi"))  # before the OCPI mount
    for router in (
        operators_router(store, refresher),
        search_router(index),  # before stations/{id}: "nearby"
        stations_router(store, prices, guards),
        events_router(streams, guards, sessions),
        accounts_router(accounts, guards, store),
        sessions_router(sessions, guards),
        analytics_router(store),
        ops_router(guards, store, refresher, ocpi_connections, feed_urls or {}),
        ops_chargers_router(guards, store, relay or OutboxRelay(store, EventBus()), csms),
        my_chargers_router(guards, store, csms),
        cards_router(guards, store),
        firmware_router(guards, store, csms),
        download_router(store, csms),
    ):
        app.include_router(router, responses=errors.RESPONSES)
    app.mount("/ocpi", ocpi.app())
    app.mount("/static/geo", StaticFiles(directory=GEO_DATA), name="geo")
    app.mount("/static", StaticFiles(directory=WEB, check_dir=False), name="static")

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        """The OpenAPI explorer, with Swagger UI served from the package (no CDN)."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="chargemesh API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def web_map() -> FileResponse:
        return FileResponse(WEB / "index.html", media_type="text/html")

    @app.api_route("/ops", methods=["GET", "HEAD"], include_in_schema=False)
    async def ops_page() -> FileResponse:
        """The operations page: firmware campaigns (it asks for an ops key)."""
        return FileResponse(WEB / "ops.html", media_type="text/html")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics_page(credentials: Credentials) -> Response:
        """This process's metrics in Prometheus' text format; an ops key unless
        ``[metrics] public``."""
        if metrics is None or not metrics.public:
            await guards.ops(credentials)
        body = await scrape(store, refresher)
        return Response(body, media_type=CONTENT_TYPE)

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready for traffic (the store answers, the index is built); 503 otherwise."""
        now = await readiness()
        body: dict[str, bool | int] = {"ready": now.ready, "store": now.store,
                                       "index": now.index, "bus": now.bus,
                                       "leader": now.leader}  # fmt: skip
        if now.worker is not None:
            body["worker"] = now.worker
        return JSONResponse(body, status_code=200 if now.ready else 503)

    return app
