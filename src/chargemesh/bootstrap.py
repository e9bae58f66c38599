"""The composition root: the one place where the platform's objects are built and wired.

Everything is handed its collaborators when it is made; nothing is wired afterwards. The
sessions and their protocol adapters would need each other: the adapters (what we ask an
operator) are made first, the sessions over them, and what operators tell us about sessions
(:class:`~chargemesh.services.charging.tcec.TcecSessionMessages`,
:class:`~chargemesh.services.charging.ocpi.OcpiSessionMessages`) over the sessions: their
methods are the event handler table's, fed by the events the endpoints write with the messages.
One outbox relay carries every unit of work's events to the bus; the app's lifespan runs it.

``chargemesh serve``, ``sync`` and ``demo`` call :func:`build_platform`; tests call
:func:`assemble` with a store and settings of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType

import httpx
from fastapi import FastAPI

from chargemesh.api.app import PlatformApp, Readiness, create_app
from chargemesh.api.auth import Guards
from chargemesh.api.events import EventStreams
from chargemesh.api.ocpi import OcpiEmspEndpoints
from chargemesh.api.ratelimit import RateLimits
from chargemesh.api.tcec import TcecPeer, TcecPlatformEndpoints
from chargemesh.bus import EventBus
from chargemesh.config import (
    AuthConfig,
    BodyLimitsConfig,
    Config,
    CsmsConfig,
    MetricsConfig,
    RateLimitsConfig,
)
from chargemesh.csms.campaigns import Campaigns
from chargemesh.csms.chargers import Chargers
from chargemesh.csms.cluster import ClusterLinks
from chargemesh.csms.links import Links
from chargemesh.csms.network import OwnNetwork
from chargemesh.csms.remote import OcppCharging
from chargemesh.csms.service import Csms
from chargemesh.domain import Operator
from chargemesh.domain.events import (
    OcpiCdrReceived,
    OcpiCommandResult,
    OcpiSessionReceived,
    OcpiTokenAuthorized,
    TcecNotificationReceived,
)
from chargemesh.events.handlers import HandlerRunner
from chargemesh.events.nats_bus import NatsBus, OutboxSweeper
from chargemesh.events.relay import OutboxRelay
from chargemesh.events.tail import OutboxTail
from chargemesh.protocols.address_guard import AddressPolicy, guarded_client
from chargemesh.protocols.bounded import MB, FetchLimits
from chargemesh.protocols.tcec.client import TcecClient, client_from_config
from chargemesh.protocols.tcec.codec import Secrets
from chargemesh.protocols.tcec.wire import dialect_of
from chargemesh.runtime.leader import Follower, Leadership, Singleton, leader_for
from chargemesh.runtime.schedule import repeat
from chargemesh.runtime.workers import WorkerSeat
from chargemesh.search.index import StationIndex
from chargemesh.search.upkeep import keep_index
from chargemesh.services.accounts.ops_keys import OpsKeys
from chargemesh.services.accounts.service import Accounts, SignInRules
from chargemesh.services.accounts.tokens import KEY_NAME, AccessTokens, new_secret
from chargemesh.services.analytics.compatibility import compatibility_report, known_failures
from chargemesh.services.charging.ocpi import OcpiCharging, OcpiSessionMessages
from chargemesh.services.charging.ocpi_commands import CommandSender
from chargemesh.services.charging.ocpi_tokens import TokenAuthority
from chargemesh.services.charging.prices import Prices
from chargemesh.services.charging.sessions import ChargingAdapter, SessionService
from chargemesh.services.charging.tcec import TcecCharging, TcecSessionMessages, new_seq
from chargemesh.services.feeds.freshness import StatusRefresher
from chargemesh.services.feeds.ingest import OcpiSide, sync_all
from chargemesh.services.feeds.ocpi_connections import OcpiConnections
from chargemesh.services.feeds.ocpi_locations import LocationIngest
from chargemesh.services.feeds.ocpi_objects import ObjectIngest
from chargemesh.services.feeds.status import StatusWriter
from chargemesh.services.firmware.images import LINK_SECRET, DownloadLinks
from chargemesh.services.firmware.signing import Signer
from chargemesh.store import Store, StoreError, open_store

log = logging.getLogger(__name__)

#: the T/CEC client for an operator (None: not one we can call), on the platform's HTTP client
TcecClients = Callable[[str, httpx.AsyncClient], TcecClient | None]


def tcec_peers(config: Config) -> dict[str, TcecPeer]:
    """The T/CEC operators that may call us, with the secrets they call with."""
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
    """Our OCPI identity and where peers reach us (``public_url`` without ``/ocpi``), our T/CEC
    OperatorID and the sessions' timeouts; ``fetch_policy``: where a party's URLs may lead
    (default: the internet only, no loopback), ``page_limits``: one answer's size and time."""

    public_url: str
    country_code: str = "CN"
    party_id: str = "CMH"
    operators: Mapping[str, Operator] | None = None
    command_min_wait_s: float = 1.0
    tcec_operator_id: str = "MA01H3BQ2"  # ours, the prefix of our StartChargeSeqs
    session_start_timeout_s: float = 60.0
    session_stop_timeout_s: float = 60.0
    fetch_policy: AddressPolicy = field(default_factory=AddressPolicy)
    page_limits: FetchLimits = field(default_factory=FetchLimits)

    @classmethod
    def from_config(cls, config: Config) -> OcpiSettings:
        return cls(
            public_url=config.server.base_url,
            country_code=config.ocpi.country_code,
            party_id=config.ocpi.party_id,
            tcec_operator_id=config.tcec.operator_id,
            fetch_policy=AddressPolicy.of(
                allow=config.ocpi.fetch_allow,
                deny=config.ocpi.fetch_deny,
                allow_loopback=config.ocpi.allow_loopback,
            ),
            page_limits=FetchLimits(
                max_bytes=int(config.sync.page_max_mb * MB), total_s=config.sync.page_timeout_s
            ),
            operators={
                op.id.upper(): op.to_operator() for op in config.operators if op.protocol == "ocpi"
            },
        )


@dataclass
class _Node:
    """What changes while the process runs (the index built)."""

    index_built: bool = False


@dataclass(frozen=True, kw_only=True)
class Platform:
    """The built platform: its parts, the singletons its leader runs, and the app over them."""

    store: Store
    bus: EventBus
    relay: OutboxRelay
    handlers: HandlerRunner
    http: httpx.AsyncClient
    index: StationIndex
    streams: EventStreams
    writer: StatusWriter
    tcec: TcecPlatformEndpoints
    ocpi: OcpiEmspEndpoints
    ocpi_connections: OcpiConnections
    ocpi_commands: CommandSender
    ocpi_locations: LocationIngest
    ocpi_objects: ObjectIngest
    ocpi_side: OcpiSide
    tokens: TokenAuthority
    tcec_charging: TcecCharging
    ocpi_charging: OcpiCharging
    prices: Prices
    sessions: SessionService
    accounts: Accounts
    ops_keys: OpsKeys
    guards: Guards
    refresher: StatusRefresher | None
    leader: Leadership
    singletons: tuple[Singleton, ...]
    owns_store: bool = False
    search: bool = True  # False: the index is never built nor kept (see build_platform)
    feed_urls: Mapping[str, str] = field(default_factory=dict)  # configured feeds, for ops
    csms: Csms | None = None  # the own chargers' CSMS, when [csms] is configured
    ocpi_http: httpx.AsyncClient | None = None  # OCPI calls, through the address guard
    rate_limits: RateLimits = field(default_factory=RateLimits.off)  # this node's buckets
    metrics: MetricsConfig = field(default_factory=MetricsConfig)  # who may read /metrics
    body_limits: BodyLimitsConfig = field(default_factory=BodyLimitsConfig)  # largest bodies
    tail: OutboxTail | None = None  # a worker process: the other workers' events
    worker: int | None = None  # which worker process this is ([server] workers), None: one
    _node: _Node = field(default_factory=_Node)

    def app(self) -> PlatformApp:
        """The ASGI app; its lifespan builds the index and runs the upkeep, and the singletons
        while this process leads."""
        return create_app(
            store=self.store, index=self.index, streams=self.streams, sessions=self.sessions,
            prices=self.prices, refresher=self.refresher, tcec=self.tcec, ocpi=self.ocpi,
            accounts=self.accounts, guards=self.guards, lifespan=self.lifespan,
            readiness=self.readiness, ocpi_connections=self.ocpi_connections,
            feed_urls=self.feed_urls, csms=self.csms, relay=self.relay,
            rate_limits=self.rate_limits, metrics=self.metrics, body_limits=self.body_limits,
        )  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        # first what was committed but not yet published (a process that died before its
        # relay did), then every commit as it comes; the index is built from the store after
        if isinstance(self.bus, NatsBus):  # following the stream before the index is built
            await self.bus.start()
        await self.handlers.start()
        await self.relay.start()
        if self.tail is not None:
            await self.tail.start()
        if self.search:
            if self.index.last_build is None:  # a worker's came built (runtime/workers.py)
                await asyncio.to_thread(self.index.build)
            await asyncio.to_thread(self.refresh_compatibility)
            self._node.index_built = True
        await self.writer.start()
        if self.csms is not None:  # after the writer: chargers' statuses go through it
            await self.csms.start()
        tasks = [asyncio.create_task(self.leader.run(self.singletons), name="leader")]
        if self.search:
            tasks.append(
                asyncio.create_task(
                    keep_index(self.index, self.refresh_compatibility), name="index upkeep"
                )
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.csms is not None:
                await self.csms.stop()
            await self.writer.stop()
            if self.tail is not None:
                await self.tail.stop()
            await self.relay.stop()
            await self.handlers.stop()
            if isinstance(self.bus, NatsBus):
                await self.bus.stop()
            await self.http.aclose()
            if self.ocpi_http is not None:
                await self.ocpi_http.aclose()

    async def readiness(self) -> Readiness:
        try:
            await asyncio.to_thread(self.store.schema_version)
            reachable = True
        except StoreError:
            reachable = False
        bus = self.bus.online if isinstance(self.bus, NatsBus) else True
        return Readiness(store=reachable, index=self._node.index_built, leader=self.leader.leading,
                         bus=bus, worker=self.worker)  # fmt: skip

    def refresh_compatibility(self) -> None:
        """The compatibility lab's flags, for search to steer drivers' vehicles away."""
        self.index.known_failures = known_failures(compatibility_report(self.store))

    def close(self) -> None:
        if self.owns_store:
            self.store.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def sign_in_rules(store: Store, auth: AuthConfig) -> tuple[AccessTokens, SignInRules]:
    """The access tokens' signer (the config's key, else the one kept in the store, made on
    first use) and the sign-in rules of ``[auth]``."""
    if auth.signing_key is not None:
        key = auth.signing_key.get_secret_value()
    else:
        key = store.platform_secret(KEY_NAME, new_secret(), at=datetime.now(UTC))
    rules = SignInRules(
        access_ttl=timedelta(seconds=auth.access_ttl_s),
        refresh_ttl=timedelta(seconds=auth.refresh_ttl_s),
        failure_window=timedelta(seconds=auth.failure_window_s),
        slow_after=auth.slow_after,
        lock_after=auth.lock_after,
        lock_for=timedelta(seconds=auth.lock_s),
    )
    return AccessTokens(key, rules.access_ttl), rules


def build_platform(
    config: Config,
    store: Store | None = None,
    *,
    scheduled_syncs: bool = True,
    status_polls: bool = True,
    singletons: bool = True,
    search: bool = True,
    csms: bool = True,
    worker: WorkerSeat | None = None,
) -> Platform:
    """The platform a configuration describes, over its store (opened and migrated here unless
    given; then closed with the platform). ``scheduled_syncs``: every feed synced at start and
    every ``sync.interval_s`` (``serve``); ``status_polls``: statuses kept fresh by polling
    between pushes (``serve``, ``demo``); ``singletons`` False: this process never leads and
    runs none of them (``sync``); ``search`` False: no search index (``sync``: nobody searches
    there, and an index of the whole registry, rebuilt as the sync fills it, made its CPU grow
    with the square of the country and its memory with all it had synced; the store gets a
    larger page cache instead); ``worker``: one of several worker processes (its seat: the index
    built before it was started, where the others' events start)."""
    owned = store is None
    # a process without the index gives its memory to the store's page cache (bulk syncs)
    opened = open_store(config.store.url, bulk=not search) if store is None else store
    try:
        return assemble(
            opened,
            tcec_peers(config),
            NatsBus(config.bus, config.cluster.node_id) if config.bus is not None else None,
            ocpi=OcpiSettings.from_config(config),
            tcec_clients=tcec_clients(config),
            schedule=config if scheduled_syncs else None,
            feeds=config if status_polls else None,
            leader=None if singletons else Follower(),
            owns_store=owned,
            search=search,
            auth=config.auth,
            csms=config.csms if csms else None,
            rate_limits=config.rate_limits,
            metrics=config.metrics,
            body_limits=config.limits,
            csms_links=(
                ClusterLinks(config.bus.url, config.cluster.node_id)
                if csms and config.bus is not None
                else None
            ),
            worker=worker,
        )
    except BaseException:
        if owned:
            opened.close()
        raise


def assemble(
    store: Store,
    peers: Mapping[str, TcecPeer] | None = None,
    bus: EventBus | None = None,
    *,
    ocpi: OcpiSettings | None = None,
    tcec_clients: TcecClients | None = None,
    schedule: Config | None = None,
    feeds: Config | None = None,
    leader: Leadership | None = None,
    owns_store: bool = False,
    search: bool = True,
    auth: AuthConfig | None = None,
    csms: CsmsConfig | None = None,
    csms_links: Links | None = None,
    rate_limits: RateLimitsConfig | None = None,
    metrics: MetricsConfig | None = None,
    body_limits: BodyLimitsConfig | None = None,
    worker: WorkerSeat | None = None,
) -> Platform:
    """Build and wire every part over ``store``. ``schedule``: the config whose feeds are synced
    at start and on its ``sync.interval_s``; ``feeds``: the config whose statuses are polled
    between pushes (default: ``schedule``'s); ``leader``: the election (default: the store's,
    :func:`~chargemesh.runtime.leader.leader_for`); ``search`` False: the index stays empty and
    off the bus; ``auth``: how drivers sign in (default: ``AuthConfig()``, the signing key kept
    in the store); ``csms_links``: who holds the own chargers' connections (a cluster's
    :class:`~chargemesh.csms.cluster.ClusterLinks`; default: this node alone); ``rate_limits``:
    default ``RateLimitsConfig()``'s, on; ``metrics``: who may read ``/metrics``; ``body_limits``:
    the largest request bodies (default ``BodyLimitsConfig()``'s); ``worker``: this process is
    one of several serving the port (:mod:`chargemesh.runtime.workers`)."""
    limits = RateLimits.from_config(rate_limits or RateLimitsConfig())
    bus = bus or EventBus()
    settings = ocpi or OcpiSettings(public_url="http://127.0.0.1:8000")
    feeds = feeds or schedule
    http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
    clients = tcec_clients or (lambda _operator, _http: None)

    def tcec_client(operator_id: str) -> TcecClient | None:
        return clients(operator_id, http)

    def tcec_seq() -> str:
        return new_seq(settings.tcec_operator_id)

    index = StationIndex(store)
    if worker is not None and worker.index is not None:
        index = worker.index  # built before this worker was forked: shared copy-on-write
        index.store = store
    if search:
        index.subscribe(bus)
    # the one relay: every unit of work's events reach the bus; over NATS each node's relay
    # keeps its own position and saves no further than the stream stored
    relay = (
        OutboxRelay(store, bus, name=bus.node_id, stored=bus.stored_through)
        if isinstance(bus, NatsBus)
        else OutboxRelay(store, bus)
        if worker is None
        else OutboxRelay(store, bus, name=worker.relay_name, new_from_end=True)
    )
    tail = None if worker is None else OutboxTail(store, bus, relay, after=worker.outbox_from)
    writer = StatusWriter(store, relay)
    base = f"{settings.public_url.rstrip('/')}/ocpi"
    own = (settings.country_code, settings.party_id)
    # every OCPI call goes where a party's wire said: through the address guard
    ocpi_http = guarded_client(settings.fetch_policy, httpx.Timeout(30.0, connect=5.0))
    connections = OcpiConnections(
        store, versions_url=f"{base}/versions", own_party=own, http=ocpi_http,
        operators=settings.operators, page_limits=settings.page_limits,
    )  # fmt: skip
    commands = CommandSender(
        connections, store, relay, callback_base=f"{base}/2.2.1/commands",
        min_wait_s=settings.command_min_wait_s,
    )  # fmt: skip
    locations = LocationIngest(store, writer, relay)
    # sessions, through whichever protocol the operator speaks, at the price drivers are shown
    prices = Prices(store, tcec_client, tcec_seq)
    tcec_charging = TcecCharging(tcec_client, settings.tcec_operator_id, prices)
    ocpi_charging = OcpiCharging(store, commands, own, prices)
    adapters: dict[str, ChargingAdapter] = {"tcec": tcec_charging, "ocpi": ocpi_charging}
    own_csms: Csms | None = None
    if csms is not None:  # the own chargers: their adapter first, the CSMS over the sessions
        network = OwnNetwork.from_config(csms)
        links = csms_links if csms_links is not None else Links()  # a cluster: csms/cluster.py
        adapters["ocpp"] = OcppCharging(store, network, links)
    sessions = SessionService(
        store, relay, adapters,
        start_timeout_s=settings.session_start_timeout_s,
        stop_timeout_s=settings.session_stop_timeout_s,
    )  # fmt: skip
    campaigns: Campaigns | None = None
    if csms is not None:
        own_csms = Csms(csms, store, writer, network, links, Chargers(store))
        own_csms.serve_sessions(sessions)
        secret = store.platform_secret(LINK_SECRET, new_secret(), at=datetime.now(UTC))
        campaigns = Campaigns(store, links, DownloadLinks(settings.public_url, secret.encode()))
        signer = None
        if csms.firmware_signing_key is not None and csms.firmware_signing_cert is not None:
            signer = Signer.load(csms.firmware_signing_key, csms.firmware_signing_cert)
        own_csms.serve_campaigns(campaigns, signer)
    # what operators tell us about sessions, received by the protocol endpoints
    tcec_said = TcecSessionMessages(sessions, tcec_charging.new_ref)
    ocpi_said = OcpiSessionMessages(sessions, store)
    # what operators told us reaches them as events: the handler table, wired once
    handlers = HandlerRunner(
        {
            TcecNotificationReceived: [tcec_said.on_notification],
            OcpiSessionReceived: [ocpi_said.on_session],
            OcpiCdrReceived: [ocpi_said.on_cdr],
            OcpiTokenAuthorized: [ocpi_said.on_authorized],
            OcpiCommandResult: [commands.on_result],
        },
        bus,
        everywhere=frozenset({OcpiCommandResult}),  # the sender waits on whichever node
    )
    tcec = TcecPlatformEndpoints(
        peers=peers or {}, store=store, writer=writer,
        plug_and_charge=tcec_said.plug_and_charge, rate_limit=limits.push,
    )  # fmt: skip
    objects = ObjectIngest(store, relay)
    tokens = TokenAuthority(store, own, relay)
    endpoints = OcpiEmspEndpoints(
        store=store, connections=connections, locations=locations, objects=objects,
        tokens=tokens, commands=commands, base_url=base, rate_limit=limits.push,
    )  # fmt: skip
    side = OcpiSide(connections, locations, objects)
    refresher = (
        StatusRefresher(feeds, store, writer, http, side)
        if feeds is not None and feeds.operators
        else None
    )
    # who may call: drivers' accounts and tokens, the operations team's keys
    access, rules = sign_in_rules(store, auth or AuthConfig())
    accounts = Accounts(store, access, rules)
    ops_keys = OpsKeys(store)
    guards = Guards(store, access, ops_keys, rate_limit=limits.driver)
    singletons = [Singleton("session timeouts", sessions.run)]
    if isinstance(bus, NatsBus):  # what a node that died committed and never published
        singletons.append(Singleton("outbox sweeper", OutboxSweeper(store, bus, relay).run))
    if schedule is not None and schedule.sync.interval_s > 0 and schedule.operators:
        synced = schedule

        async def sync_every_feed() -> None:
            try:
                results = await sync_all(
                    synced, store, relay, ocpi=side, parallel=synced.sync.parallel
                )
            except Exception:  # the next round tries again
                log.exception("scheduled sync failed")
                return
            failed = [r.operator_id for r in results if not r.ok]
            log.info("scheduled sync: %d feeds, %d failed %s", len(results), len(failed),
                     failed)  # fmt: skip

        singletons.append(
            Singleton("scheduled syncs", lambda: repeat(sync_every_feed, synced.sync.interval_s))
        )
    if refresher is not None:
        singletons.append(Singleton("status refresher", refresher.run))
    if campaigns is not None:
        singletons.append(Singleton("firmware campaigns", campaigns.run))
    return Platform(
        store=store, bus=bus, relay=relay, handlers=handlers, http=http, index=index,
        streams=EventStreams(index, bus),
        writer=writer, tcec=tcec, ocpi=endpoints, ocpi_connections=connections,
        ocpi_commands=commands, ocpi_locations=locations, ocpi_objects=objects, ocpi_side=side,
        tokens=tokens, tcec_charging=tcec_charging, ocpi_charging=ocpi_charging, prices=prices,
        sessions=sessions, accounts=accounts, ops_keys=ops_keys, guards=guards,
        refresher=refresher,
        leader=leader if leader is not None else leader_for(
            store.url, None if worker is None else worker.lock_file
        ),
        singletons=tuple(singletons), owns_store=owns_store, search=search,
        feed_urls={op.id: op.url for op in feeds.operators} if feeds is not None else {},
        csms=own_csms, ocpi_http=ocpi_http, rate_limits=limits, metrics=metrics or MetricsConfig(),
        body_limits=body_limits or BodyLimitsConfig(), tail=tail,
        worker=None if worker is None else worker.number,
    )  # fmt: skip
