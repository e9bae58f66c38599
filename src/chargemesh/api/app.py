"""The platform's HTTP application: protocol endpoints now, the driver API and map later."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from chargemesh import __version__
from chargemesh.api import errors
from chargemesh.api.analytics import analytics_router
from chargemesh.api.events import EventStreams, events_router
from chargemesh.api.ocpi import OcpiEmspEndpoints
from chargemesh.api.operators import operators_router
from chargemesh.api.search import search_router
from chargemesh.api.sessions import sessions_router
from chargemesh.api.stations import stations_router
from chargemesh.api.tcec import TcecPeer, TcecPlatformEndpoints
from chargemesh.bus import EventBus
from chargemesh.config import Config
from chargemesh.domain import Operator
from chargemesh.protocols.tcec.client import TcecClient, client_from_config
from chargemesh.protocols.tcec.codec import Secrets
from chargemesh.protocols.tcec.wire import dialect_of
from chargemesh.search.index import StationIndex
from chargemesh.services.charging_ocpi import OcpiCharging
from chargemesh.services.charging_tcec import TcecCharging
from chargemesh.services.compatibility import compatibility_report, known_failures
from chargemesh.services.freshness import StatusRefresher
from chargemesh.services.ingest import OcpiSide, sync_all
from chargemesh.services.ocpi_commands import CommandSender
from chargemesh.services.ocpi_connections import OcpiConnections
from chargemesh.services.ocpi_locations import LocationIngest
from chargemesh.services.ocpi_objects import ObjectIngest
from chargemesh.services.ocpi_tokens import TokenAuthority
from chargemesh.services.prices import Prices
from chargemesh.services.sessions import SessionService
from chargemesh.services.status import StatusWriter
from chargemesh.store import Store

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parent.parent / "web" / "static"
GEO_DATA = Path(__file__).resolve().parent.parent / "geo" / "data"
#: the T/CEC client for an operator (None: not one we can call), on the platform's HTTP client
TcecClients = Callable[[str, httpx.AsyncClient], TcecClient | None]
INDEX_TICK_S = 1.0  # stations added or changed reach search within about this
SWEEP_EVERY_S = 5.0  # availability that aged past its feed's freshness is retired this often
COMPATIBILITY_EVERY_S = 300.0  # the lab's flags reach search this often


def tcec_peers(config: Config) -> dict[str, TcecPeer]:
    return {
        op.id: TcecPeer(op.id, Secrets.from_config(op.inbound), dialect_of(op.dialect))
        for op in config.operators
        if op.protocol == "tcec" and op.inbound is not None
    }


def tcec_clients(config: Config) -> TcecClients:
    """A client per configured T/CEC operator with outbound secrets, made once (it keeps its
    token)."""
    usable = {o.id for o in config.operators if o.protocol == "tcec" and o.outbound is not None}
    made: dict[str, TcecClient] = {}

    def client(operator_id: str, http: httpx.AsyncClient) -> TcecClient | None:
        if operator_id not in usable:
            return None
        if operator_id not in made:
            made[operator_id] = client_from_config(config, operator_id, http)
        return made[operator_id]

    return client


@dataclass(frozen=True, slots=True)
class OcpiSettings:
    """Our OCPI identity and where peers reach us (``public_url`` without ``/ocpi``)."""

    public_url: str
    country_code: str = "CN"
    party_id: str = "CMH"
    operators: Mapping[str, Operator] | None = None
    command_min_wait_s: float = 1.0
    tcec_operator_id: str = "MA01H3BQ2"  # ours, the prefix of our StartChargeSeqs
    session_start_timeout_s: float = 60.0
    session_stop_timeout_s: float = 60.0

    @classmethod
    def from_config(cls, config: Config) -> OcpiSettings:
        return cls(
            public_url=config.server.base_url,
            country_code=config.ocpi.country_code,
            party_id=config.ocpi.party_id,
            tcec_operator_id=config.tcec.operator_id,
            operators={
                op.id.upper(): op.to_operator() for op in config.operators if op.protocol == "ocpi"
            },
        )


class Platform:
    """What the HTTP layer works with: the store, the bus, the status writer and the protocol
    endpoints (T/CEC under ``/tcec/v1/``, OCPI under ``/ocpi/``)."""

    def __init__(
        self,
        store: Store,
        peers: Mapping[str, TcecPeer],
        bus: EventBus | None = None,
        *,
        ocpi: OcpiSettings | None = None,
        tcec_clients: TcecClients | None = None,
    ) -> None:
        self.store = store
        self.bus = bus or EventBus()
        self.index = StationIndex(store)
        self.index.subscribe(self.bus)
        self.streams = EventStreams(self.index, self.bus)
        self.writer = StatusWriter(store, self.bus)
        self.refresher: StatusRefresher | None = None  # made by app() for the feeds it is given
        self.tcec = TcecPlatformEndpoints(peers=peers, store=store, writer=self.writer)
        settings = ocpi or OcpiSettings(public_url="http://127.0.0.1:8000")
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        base = f"{settings.public_url.rstrip('/')}/ocpi"
        own = (settings.country_code, settings.party_id)
        self.ocpi_connections = OcpiConnections(
            store,
            versions_url=f"{base}/versions",
            own_party=own,
            http=self.http,
            operators=settings.operators,
        )
        self.ocpi_commands = CommandSender(
            self.ocpi_connections,
            store,
            callback_base=f"{base}/2.2.1/commands",
            min_wait_s=settings.command_min_wait_s,
        )
        self.ocpi_locations = LocationIngest(store, self.writer, self.bus)
        self.ocpi_objects = ObjectIngest(store)
        self.tokens = TokenAuthority(store, own)
        self.ocpi = OcpiEmspEndpoints(
            store=store,
            connections=self.ocpi_connections,
            locations=self.ocpi_locations,
            objects=self.ocpi_objects,
            tokens=self.tokens,
            commands=self.ocpi_commands,
            base_url=base,
        )
        # sessions, through whichever protocol the operator speaks
        clients = tcec_clients or (lambda _operator, _http: None)
        self.tcec_charging = TcecCharging(
            lambda op: clients(op, self.http), settings.tcec_operator_id
        )
        self.ocpi_charging = OcpiCharging(store, self.ocpi_commands, own)
        self.prices = Prices(
            store, lambda op: clients(op, self.http), self.tcec_charging.new_ref
        )  # what drivers are shown: station detail and the preview
        self.tcec_charging.prices = self.ocpi_charging.prices = self.prices
        self.sessions = SessionService(
            store,
            self.bus,
            {"tcec": self.tcec_charging, "ocpi": self.ocpi_charging},
            start_timeout_s=settings.session_start_timeout_s,
            stop_timeout_s=settings.session_stop_timeout_s,
        )
        self.tcec_charging.service = self.ocpi_charging.service = self.sessions
        self.tcec.listener = self.tcec_charging.on_message
        self.tcec.plug_and_charge = self.tcec_charging.plug_and_charge
        self.ocpi_objects.session_listeners.append(self.ocpi_charging.on_session)
        self.ocpi_objects.cdr_listeners.append(self.ocpi_charging.on_cdr)
        self.tokens.on_allowed = self.ocpi_charging.on_authorized

    def app(self, *, schedule: Config | None = None, feeds: Config | None = None) -> FastAPI:
        """The ASGI app. With ``schedule``, every feed of that config is synced at start and
        then every ``sync.interval_s`` (what ``chargemesh serve`` runs). The statuses of the
        feeds of ``feeds`` (default: ``schedule``'s) are kept fresh by polling between pushes
        (services/freshness.py; ``serve`` and ``demo``)."""
        feeds = feeds or schedule
        side = OcpiSide(self.ocpi_connections, self.ocpi_locations, self.ocpi_objects)
        self.refresher = (
            StatusRefresher(feeds, self.store, self.bus, self.writer, self.http, side)
            if feeds is not None and feeds.operators
            else None
        )

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await asyncio.to_thread(self.index.build)
            await asyncio.to_thread(self.refresh_compatibility)
            await self.writer.start()
            upkeep = asyncio.create_task(self._index_upkeep(), name="index upkeep")
            timeouts = asyncio.create_task(self.sessions.run(), name="session timeouts")
            scheduler = refresher = None
            if schedule is not None and schedule.sync.interval_s > 0 and schedule.operators:
                scheduler = asyncio.create_task(self._scheduled_syncs(schedule), name="syncs")
            if self.refresher is not None:
                refresher = asyncio.create_task(self.refresher.run(), name="status refresher")
            try:
                yield
            finally:
                for task in (scheduler, refresher, upkeep, timeouts):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                await self.writer.stop()
                await self.http.aclose()

        app = FastAPI(
            title="chargemesh", version=__version__, lifespan=lifespan, docs_url=None,
            redoc_url=None,
        )  # fmt: skip
        errors.install(app)
        for router in (
            operators_router(self.store, self.refresher),
            search_router(self.index),  # before stations/{id}: "nearby"
            stations_router(self.store, self.prices),
            events_router(self.streams),
            sessions_router(self.sessions),
            analytics_router(self.store),
        ):
            app.include_router(router, responses=errors.RESPONSES)
        app.router.routes.extend(self.tcec.routes())
        app.router.routes.extend(self.ocpi.location_routes("/ocpi"))  # the hot path, first
        app.mount("/ocpi", self.ocpi.app())
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

        return app

    def refresh_compatibility(self) -> None:
        """The compatibility lab's flags, for search to steer drivers' vehicles away."""
        report = compatibility_report(self.store)
        self.index.known_failures = known_failures(report)

    async def _index_upkeep(self) -> None:
        """Stations added or changed reach the index within ``INDEX_TICK_S``; availability
        that aged out is retired every ``SWEEP_EVERY_S``; many small segments are compacted."""
        swept = checked = time.monotonic()
        while True:
            await asyncio.sleep(INDEX_TICK_S)
            try:
                await asyncio.to_thread(self.index.apply_pending)
                if self.index.needs_compaction():
                    await asyncio.to_thread(self.index.build)
                if time.monotonic() - swept >= SWEEP_EVERY_S:
                    swept = time.monotonic()
                    await asyncio.to_thread(self.index.sweep)
                if time.monotonic() - checked >= COMPATIBILITY_EVERY_S:
                    checked = time.monotonic()
                    await asyncio.to_thread(self.refresh_compatibility)
            except Exception:  # keep serving what the index holds; try again next tick
                log.exception("search index upkeep failed")

    async def _scheduled_syncs(self, config: Config) -> None:
        side = OcpiSide(self.ocpi_connections, self.ocpi_locations, self.ocpi_objects)
        jitter = random.Random()
        while True:
            results = await sync_all(
                config, self.store, self.bus, ocpi=side, parallel=config.sync.parallel
            )
            failed = [r.operator_id for r in results if not r.ok]
            log.info("scheduled sync: %d feeds, %d failed %s", len(results), len(failed),
                     failed)  # fmt: skip
            interval = config.sync.interval_s
            await asyncio.sleep(interval * jitter.uniform(0.9, 1.1))
