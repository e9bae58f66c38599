"""The TOML configuration (see docs/configuration.md), validated on load.

A bad file is reported as one line naming the key and the problem; nothing is half-loaded.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from chargemesh.domain import Capability, Operator, OperatorProtocol

TCEC_OPERATOR_ID = re.compile(r"^[0-9A-Z]{9}$")  # 9-character organisation code
OCPI_PARTY = re.compile(r"^[A-Z]{2}-[0-9A-Z]{3}$")  # country_code-party_id


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line for the person running us."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(_Section):
    url: str = "sqlite:///chargemesh.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return url


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    public_url: str | None = None  # where operators push to us; default http://host:port
    #: processes serving the port (docs/operations.md "Worker processes"): the stations index
    #: is built once and shared, each worker follows the others' events through the store
    workers: Annotated[int, Field(ge=1, le=64)] = 1

    @field_validator("public_url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^/\s]+", url):
            raise ValueError("must be an http:// or https:// URL")
        return url

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class TcecSecrets(_Section):
    """The four T/CEC secrets of one direction."""

    operator_secret: SecretStr
    data_secret: SecretStr
    data_secret_iv: SecretStr
    sig_secret: SecretStr

    @field_validator("data_secret", "data_secret_iv")
    @classmethod
    def _aes_block(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) != 16:
            raise ValueError("must be exactly 16 bytes (AES-128 key / IV)")
        return value

    @field_validator("operator_secret", "sig_secret")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value


CapabilityName = Literal["realtime", "scan", "plug_and_charge", "view_only"]


class OperatorConfig(_Section):
    id: str
    name: str | None = None
    protocol: Literal["tcec", "ocpi"]
    url: str
    capabilities: list[CapabilityName] = Field(default_factory=list)
    status_freshness_s: Annotated[int, Field(gt=0)] = 900
    # T/CEC
    dialect: Literal["cec", "xiaoju"] | None = None
    outbound: TcecSecrets | None = None
    inbound: TcecSecrets | None = None
    # OCPI
    token_a: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError("must be an http:// or https:// URL")
        return url

    @model_validator(mode="after")
    def _protocol_fields(self) -> Self:
        if self.protocol == "tcec":
            if not TCEC_OPERATOR_ID.match(self.id):
                raise ValueError(
                    f"id {self.id!r}: a T/CEC OperatorID is 9 characters, digits and capitals"
                )
            missing = [k for k in ("outbound", "inbound") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"T/CEC operator {self.id} needs [operators.{missing[0]}] secrets")
            if self.token_a is not None:
                raise ValueError("token_a is for OCPI operators, not T/CEC")
        else:
            if not OCPI_PARTY.match(self.id.upper()):
                raise ValueError(
                    f"id {self.id!r}: an OCPI operator id is country_code-party_id, e.g. CN-ABC"
                )
            if self.token_a is None:
                raise ValueError(f"OCPI operator {self.id} needs token_a")
            extra = [k for k in ("dialect", "outbound", "inbound") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"{extra[0]} is for T/CEC operators, not OCPI")
        if "view_only" in self.capabilities and {"scan", "plug_and_charge"} & set(
            self.capabilities
        ):
            raise ValueError("capabilities: view_only cannot be combined with scan/plug_and_charge")
        return self

    def to_operator(self) -> Operator:
        return Operator(
            id=self.id,
            name=self.name or self.id,
            protocol=OperatorProtocol(self.protocol),
            capabilities=frozenset(Capability(c) for c in self.capabilities),
            status_freshness=timedelta(seconds=self.status_freshness_s),
        )


class TcecConfig(_Section):
    operator_id: str = "MA01H3BQ2"

    @field_validator("operator_id")
    @classmethod
    def _nine(cls, value: str) -> str:
        if not TCEC_OPERATOR_ID.match(value):
            raise ValueError("a T/CEC OperatorID is 9 characters, digits and capitals")
        return value


class OcpiConfig(_Section):
    country_code: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "CN"
    party_id: Annotated[str, Field(pattern=r"^[0-9A-Z]{3}$")] = "CMH"
    allow_loopback: bool = False
    """Whether URLs a party gives us (its versions URL, its module endpoints) may be on
    loopback: only for a simulator's or a test's CPOs on this machine."""
    fetch_allow: list[str] = Field(default_factory=list)
    """Address ranges (CIDR) a party's URLs may be in although they are private or link-local,
    e.g. ``["10.20.0.0/16"]`` for a partner on a private link."""
    fetch_deny: list[str] = Field(default_factory=list)
    """Address ranges (CIDR) never called, even if public or allowed above."""

    @field_validator("fetch_allow", "fetch_deny")
    @classmethod
    def _ranges(cls, ranges: list[str]) -> list[str]:
        for text in ranges:
            try:
                ipaddress.ip_network(text.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{text!r} is not an address range (e.g. 10.0.0.0/8)") from None
        return ranges


class SyncConfig(_Section):
    """``chargemesh serve``'s own schedule: a full sync of every feed every ``interval_s``
    (jittered by ±10 %, so operators are not all asked at once); 0 turns it off."""

    interval_s: Annotated[int, Field(ge=0)] = 3600
    parallel: Annotated[int, Field(ge=1, le=64)] = 8
    full_every_s: Annotated[int, Field(ge=0)] = 86400
    """OCPI: a full listing (no date_from) at least this often, so the delisting rule sees
    stations a CPO dropped; the syncs between are incremental. 0: every sync is full."""
    page_max_mb: Annotated[float, Field(gt=0, le=1024)] = 50.0
    """The largest answer one page of an operator may be (MB, decompressed): read as a
    stream, and the page dropped (the feed marked failed) past it."""
    page_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    """The longest one page may take, from the request to its last byte: a page that trickles
    forever ends here."""


class StatusConfig(_Section):
    """How statuses are kept fresh between pushes (docs/ingest.md, "Keeping statuses fresh")."""

    poll_interval_s: Annotated[float, Field(ge=0)] = 300.0
    """Every feed's statuses are polled once per interval (T/CEC ``query_station_status`` in
    batches of 50 spread over it; OCPI an incremental Locations pull), and at least three times
    within the feed's ``status_freshness_s``; 0 turns polling off."""
    degraded_stale_share: Annotated[float, Field(ge=0, le=1)] = 0.1
    """A feed with more than this share of its connectors older than its freshness limit is
    reported ``degraded``."""


class MergeConfig(_Section):
    """How listings of one physical station by several feeds are found (docs/ingest.md)."""

    nearby_m: Annotated[float, Field(ge=0, le=500)] = 50.0
    """Rule 3: listings closer than this, with the same connectors, are one station."""
    corroborate_m: Annotated[float, Field(gt=0, le=50_000)] = 2000.0
    """Rules 1 and 2 (same source reference; same name and address) also need this closeness."""
    resellers: list[str] = Field(default_factory=list)
    """Operators known to list other networks' stations (aggregators): never the canonical
    listing of a merged station."""


class DelistingConfig(_Section):
    """When stations a feed stopped listing are taken off the map (docs/ingest.md)."""

    suspect_below: Annotated[float, Field(ge=0, le=1)] = 0.5
    """A full listing with fewer than this share of the feed's live stations is suspect:
    it delists nothing."""
    misses_to_delist: Annotated[int, Field(ge=1, le=100)] = 2
    min_missing_h: Annotated[float, Field(ge=0)] = 24.0


class CoverageConfig(_Section):
    """Power class thresholds of the coverage report (EVSE power, kW)."""

    supercharger_kw: Annotated[float, Field(gt=0, le=2000)] = 250.0
    rapid_kw: Annotated[float, Field(gt=0, le=2000)] = 50.0


class OwnTariffPeriod(_Section):
    """One time-of-use period of the own network's price (China time), like a T/CEC business
    policy: from ``start`` until the next period's start."""

    start: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    electricity_fee: Annotated[float, Field(ge=0, le=100)]  # per kWh
    service_fee: Annotated[float, Field(ge=0, le=100)] = 0.0  # per kWh


def _default_own_tariff() -> list[OwnTariffPeriod]:
    return [
        OwnTariffPeriod(start="00:00", electricity_fee=0.35, service_fee=0.40),
        OwnTariffPeriod(start="08:00", electricity_fee=1.05, service_fee=0.80),
        OwnTariffPeriod(start="22:00", electricity_fee=0.35, service_fee=0.40),
    ]


class CsmsConfig(_Section):
    """The own chargers' CSMS (docs/csms.md); absent: no CSMS."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9000
    public_url: str | None = None
    """What chargers are configured with; default ``ws(s)://host:port/ocpp``."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allow_insecure: bool = False
    """Plain ws (security profile 1) on a non-loopback address: refused unless this is true."""
    network_name: str = "chargemesh Supercharge"
    operator_id: Annotated[str, Field(min_length=2, max_length=20)] = "CN-CMX"
    heartbeat_s: Annotated[int, Field(ge=5, le=86_400)] = 300
    boots_per_s: Annotated[float, Field(gt=0)] = 200.0
    """Boots accepted per second; beyond, chargers are told ``Pending`` and to come back."""
    lenient_models: list[str] = Field(default_factory=list)
    """``vendor/model`` of known non-compliant firmware whose messages skip schema validation."""
    tariff: list[OwnTariffPeriod] = Field(default_factory=_default_own_tariff)
    firmware_signing_key: Path | None = None
    """The ECDSA P-256 key firmware images are signed with at upload (docs/firmware.md; made by
    ``chargemesh ops firmware signing-key``); absent: images are unsigned, and only OCPP 1.6
    chargers without the security extension can take them."""
    firmware_signing_cert: Path | None = None
    """Its certificate, sent to chargers with each signed update."""

    @model_validator(mode="after")
    def _tls_pair(self) -> CsmsConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if (self.firmware_signing_key is None) != (self.firmware_signing_cert is None):
            raise ValueError("firmware_signing_key and firmware_signing_cert go together")
        if not self.tariff:
            raise ValueError("the own network needs at least one tariff period")
        return self

    @property
    def secure(self) -> bool:
        return self.tls_cert is not None

    @property
    def url(self) -> str:
        scheme = "wss" if self.secure else "ws"
        return (self.public_url or f"{scheme}://{self.host}:{self.port}/ocpp").rstrip("/")


class AuthConfig(_Section):
    """Drivers' sign-in (docs/accounts.md)."""

    signing_key: SecretStr | None = None
    """The key access tokens are signed with (at least 32 characters); absent: one made once
    and kept in the store, shared by every node over it."""
    access_ttl_s: Annotated[int, Field(ge=60, le=86_400)] = 900
    refresh_ttl_s: Annotated[int, Field(ge=3600, le=365 * 86_400)] = 30 * 86_400
    failure_window_s: Annotated[int, Field(ge=1)] = 900
    slow_after: Annotated[int, Field(ge=1)] = 3
    """Wrong passwords for one email (within the window) before each answer is slowed by 1 s."""
    lock_after: Annotated[int, Field(ge=1)] = 5
    """Wrong passwords for one email (within the window) that pause its sign-in (429)."""
    lock_s: Annotated[int, Field(ge=1)] = 300

    @field_validator("signing_key")
    @classmethod
    def long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value()) < 32:
            raise ValueError("a signing key needs at least 32 characters")
        return key


class RateLimitsConfig(_Section):
    """Requests a second (and the burst saved up) allowed per caller, counted per node in
    memory (docs/operations.md); a rate of 0 switches that limit off."""

    search_per_s: Annotated[float, Field(ge=0)] = 1000.0
    """Anonymous search (stations, map, route, event streams), per client address."""
    search_burst: Annotated[int, Field(ge=0)] = 2000
    driver_per_s: Annotated[float, Field(ge=0)] = 50.0
    """A signed-in driver's requests, per account."""
    driver_burst: Annotated[int, Field(ge=0)] = 100
    push_per_s: Annotated[float, Field(ge=0)] = 5000.0
    """An operator's pushes, per operator (T/CEC OperatorID, OCPI party)."""
    push_burst: Annotated[int, Field(ge=0)] = 10_000
    max_keys: Annotated[int, Field(ge=100)] = 100_000
    """Callers remembered per limit; beyond, the least recently seen is forgotten."""


class LogConfig(_Section):
    """What ``chargemesh serve`` logs and how (docs/operations.md)."""

    format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line (time, level, logger, message, extra fields)."""
    level: Literal["debug", "info", "warning", "error"] = "info"


class MetricsConfig(_Section):
    """``GET /metrics`` (Prometheus' text format)."""

    public: bool = False
    """False: the scraper sends an ops key (``Authorization: Bearer <key>``); True: anyone who
    reaches the port reads it (a scraper on a private network)."""


class BodyLimitsConfig(_Section):
    """The largest request body each kind of caller may send (bytes), refused with 413 in the
    caller's protocol before it is read (docs/configuration.md)."""

    tcec_bytes: Annotated[int, Field(ge=1024)] = 1 << 20
    """A T/CEC call (a status push is under 1 kB; a day's charge orders to reconcile, more)."""
    ocpi_bytes: Annotated[int, Field(ge=1024)] = 4 << 20
    """An OCPI object (a location with all its EVSEs, a CDR, a tariff, credentials)."""
    api_bytes: Annotated[int, Field(ge=1024)] = 64 << 10
    """A driver's or an app's request to our API (sign-in, a vehicle, a session, a card)."""
    ops_bytes: Annotated[int, Field(ge=1024)] = 32 << 20
    """An operations team's request (e.g. a compatibility lab's campaign rows)."""
    firmware_bytes: Annotated[int, Field(ge=1024)] = 65 << 20
    """A firmware image upload (multipart): an image is at most 64 MiB, and the form around it."""


NATS_NAME = r"^[A-Za-z0-9_-]+$"  # a JetStream stream name: no dots, wildcards or spaces


class BusConfig(_Section):
    """The event bus shared by the nodes of a cluster: NATS JetStream (docs/cluster.md);
    absent: the in-process bus of one node."""

    url: str
    """The NATS server (several: comma-separated, e.g. ``nats://a:4222,nats://b:4222``)."""
    stream: Annotated[str, Field(pattern=NATS_NAME, max_length=64)] = "CHARGEMESH_EVENTS"
    """The JetStream stream the events are kept in (made on first start)."""
    subjects: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")] = "cm.events"
    """Subject prefix: an event is published on ``<subjects>.<kind>.<key>``."""
    retention_s: Annotated[int, Field(ge=60)] = 86_400
    """How long the stream keeps events: the longest partition a node catches up from."""
    connect_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    heartbeat_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    """The server's heartbeat on a node's consumer: two missed, and the node resumes it
    where it stopped."""

    @field_validator("url")
    @classmethod
    def _nats(cls, url: str) -> str:
        if not all(re.match(r"^(nats|tls)://[^\s/]+$", u.strip()) for u in url.split(",")):
            raise ValueError("must be a nats:// (or tls://) URL, several comma-separated")
        return url


class ClusterConfig(_Section):
    """This node among the nodes sharing [store] (PostgreSQL) and [bus]."""

    node_id: Annotated[str, Field(pattern=NATS_NAME, max_length=64)] = Field(
        default_factory=lambda: socket.gethostname().split(".")[0] or "node"
    )
    """Unique per node: the outbox relay's name (each node keeps its own position)."""


class Config(_Section):
    store: StoreConfig = Field(default_factory=StoreConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    status: StatusConfig = Field(default_factory=StatusConfig)
    merge: MergeConfig = Field(default_factory=MergeConfig)
    delisting: DelistingConfig = Field(default_factory=DelistingConfig)
    coverage: CoverageConfig = Field(default_factory=CoverageConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    operators: list[OperatorConfig] = Field(default_factory=list)
    tcec: TcecConfig = Field(default_factory=TcecConfig)
    ocpi: OcpiConfig = Field(default_factory=OcpiConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    csms: CsmsConfig | None = None
    bus: BusConfig | None = None
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    limits: BodyLimitsConfig = Field(default_factory=BodyLimitsConfig)
    rate_limits: RateLimitsConfig = Field(default_factory=RateLimitsConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    source: Path | None = Field(default=None, exclude=True)
    """The file it came from: relative SQLite paths are relative to the current directory."""

    @model_validator(mode="after")
    def _unique_operators(self) -> Self:
        seen: set[str] = set()
        for op in self.operators:
            if op.id.upper() in seen:
                raise ValueError(f"operator id {op.id!r} appears twice")
            seen.add(op.id.upper())
        unknown = [r for r in self.merge.resellers if r.upper() not in seen]
        if unknown:
            raise ValueError(f"merge.resellers: {', '.join(map(repr, unknown))} is not an operator")
        return self

    @model_validator(mode="after")
    def _bus_over_postgres(self) -> Self:
        if self.bus is not None and self.store.url.startswith("sqlite:"):
            raise ValueError(
                "[bus] needs a PostgreSQL store: the nodes of a cluster share it "
                "(store.url is SQLite, one machine's file)"
            )
        return self

    @model_validator(mode="after")
    def _workers_without_csms(self) -> Self:
        if self.server.workers > 1 and self.csms is not None:
            raise ValueError(
                "[server] workers > 1 cannot serve [csms]: a charger's link lives in the process "
                "it reached, and commands for it would reach another; run the CSMS in a node "
                "of its own (one worker) or scale out as a cluster ([bus])"
            )
        if self.server.workers > 1 and self.bus is not None:
            raise ValueError(
                "[server] workers > 1 is for one machine without [bus]: a cluster grows by "
                "nodes (one process each, behind the balancer)"
            )
        return self

    def operator(self, operator_id: str) -> OperatorConfig:
        for op in self.operators:
            if op.id.upper() == operator_id.upper():
                return op
        raise ConfigError(f"{self._where()}: no operator with id {operator_id!r}")

    def _where(self) -> str:
        return str(self.source) if self.source else "config"


def _location(loc: tuple[int | str, ...], data: object) -> str:
    """pydantic's error location as the key a person would look for: operators[1].outbound."""
    parts: list[str] = []
    node = data
    for step in loc:
        if isinstance(step, int):
            name = ""
            if isinstance(node, list) and step < len(node) and isinstance(node[step], dict):
                name = str(node[step].get("id", ""))
            parts[-1] += f"[{step}]" + (f" (id {name})" if name else "")
            node = node[step] if isinstance(node, list) and step < len(node) else None
        elif step.startswith(("function-", "literal[", "constrained-")) or "[" in step:
            continue  # pydantic's internal validator names, not keys
        else:
            parts.append(step)
            node = node.get(step) if isinstance(node, dict) else None
    return ".".join(parts)


def _describe(exc: ValidationError, data: object) -> str:
    err = exc.errors(include_url=False, include_input=False)[0]
    key = _location(tuple(err["loc"]), data)
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (misspelt?)"
    elif err["type"] == "missing":
        msg = "is required"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{key}: {msg}{suffix}" if key else f"{msg}{suffix}"


def parse_config(text: str, source: Path | None = None) -> Config:
    where = str(source) if source else "config"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe(exc, data)}") from None
    return config.model_copy(update={"source": source})


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, path)
