"""The one door to storage. Callers hold a ``Store`` and never know which backend it is."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from chargemesh.domain import (
    AccessMethod,
    ConnectorStatus,
    Operator,
    Station,
    StationAdded,
    StationChanged,
    StationRemoved,
    StatusChanged,
    StatusConfirmed,
    Tariff,
    Token,
)
from chargemesh.domain.accounts import Account, LoginFailures, OpsKey, RefreshGrant
from chargemesh.domain.cards import ChargeCard
from chargemesh.domain.events import Event
from chargemesh.domain.firmware import Campaign, CampaignState, FirmwareImage, Update, UpdateState
from chargemesh.domain.own import OcppTransaction, OwnCharger
from chargemesh.domain.session import ChargeAttempt, ChargeSession, Vehicle

if TYPE_CHECKING:
    from chargemesh.store.outbox_sql import OutboxWatcher
    from chargemesh.store.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class ConnectorRef:
    """A connector with what a start needs to know of it and of its pile and station."""

    id: str
    source_id: str  # the operator's ConnectorID / OCPI connector id
    station_id: str
    evse_id: str
    evse_source_id: str  # OCPI: the EVSE uid
    operator_id: str
    standard: str
    max_power_kw: float
    access_methods: frozenset[AccessMethod]
    status: ConnectorStatus
    status_at: datetime | None
    manufacturer: str | None
    model: str | None
    firmware: str | None
    evse_code: str | None  # printed on the pile, e.g. CN*ABC*E123*1
    station_source_id: str  # OCPI: the location id


@dataclass(frozen=True, slots=True)
class CoverageSnapshot:
    """Coverage after one sync: the headline counts, and the report's detail (JSON-able)."""

    at: datetime
    operators: int
    stations: int
    evses: int
    connectors: int
    counties: int
    highway_service_areas: int
    detail: dict[str, Any]


#: id, operator_id, name, lon, lat, highway_service_area, tariff_id
IndexStationRow = tuple[str, str, str, float, float, bool, str | None]
#: id, station_id, standard, max_power_kw, access_methods (comma-separated), status, status_at,
#: and its pile's manufacturer, model, firmware
IndexConnectorRow = tuple[
    str, str, str, float, str, str, datetime | None, str | None, str | None, str | None
]


class StoreError(Exception):
    """A storage failure, worded for the person running chargemesh (one line)."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached or refuses us."""


class StoreCorrupt(StoreError):
    """The database file is damaged or not a database."""


class StoreIntegrityError(StoreError):
    """A write would break the registry (e.g. a station of an unregistered operator)."""


class StoreUrlError(StoreError):
    """The store URL names no backend we have."""


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One observation of a connector's status by a feed."""

    connector_id: str
    status: ConnectorStatus
    at: datetime  # when the operator observed it (timezone-aware)
    source: str  # e.g. "tcec:push", "ocpi:patch", "tcec:poll"
    source_code: str | None = None  # the protocol's own code
    only_confirms: bool = False
    """A confirmation only (the feed said nothing changed): it moves the observation time if
    ``status`` is still the one held, and is ignored (stale) if the status changed meanwhile."""


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """One change: ``previous`` held from ``previous_since`` until ``at``, then ``status``."""

    connector_id: str
    status: ConnectorStatus
    at: datetime
    source: str
    source_code: str | None
    previous: ConnectorStatus
    previous_since: datetime | None


@dataclass(slots=True)
class UpsertResult:
    added: list[StationAdded] = field(default_factory=list)
    changed: list[StationChanged] = field(default_factory=list)
    unchanged: int = 0
    evses_written: int = 0
    connectors_written: int = 0


class Outcome(StrEnum):
    """What became of one status observation."""

    CHANGED = "changed"
    CONFIRMED = "confirmed"
    STALE = "stale"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class StatusResult:
    outcomes: list[Outcome] = field(default_factory=list)  # one per update, in order
    changed: list[StatusChanged] = field(default_factory=list)
    confirmed: int = 0  # same status, newer observation: only the time moved
    stale: int = 0  # older than what we hold: ignored
    unknown: list[str] = field(default_factory=list)  # connector ids we do not know
    confirmations: list[tuple[str, str, datetime]] = field(default_factory=list)

    @property
    def events(self) -> list[StatusChanged | StatusConfirmed]:
        """What to publish: each change, and the confirmations as one event."""
        confirmed = [StatusConfirmed(tuple(self.confirmations))] if self.confirmations else []
        return [*self.changed, *confirmed]


@dataclass(frozen=True, slots=True)
class InboxMessage:
    id: int
    operator_id: str
    protocol: str  # "tcec", "ocpi"
    message: str  # e.g. "notification_charge_order_info"
    payload: dict[str, Any]
    received_at: datetime


@dataclass(frozen=True, slots=True)
class RegistryCounts:
    """What the registry holds. A station is a physical one, after merge (the map, search and
    the coverage report count the same): a listing merged into another network's is not a
    station of its own, nor are its EVSEs and connectors. ``listings`` counts what the feeds
    list, duplicates across feeds included."""

    operators: int
    stations: int
    evses: int
    connectors: int
    listings: int


# OcpiParty.stage
INVITED, REGISTERING, REGISTERED, NONE = "invited", "registering", "registered", "none"


@dataclass(frozen=True, slots=True)
class OcpiParty:
    """One OCPI connection: the credentials exchanged and the peer's endpoints.

    ``id`` is the operator id (``CC-PID``). ``token_in`` is what the party presents to us: the
    registration token A we gave it (``stage`` "invited") until it registers, then the token we
    issued (token C when it registered with us, token B when we registered with it: "registering"
    while our POST is open, then "registered"). ``token_out`` is what we present to it.
    ``endpoints`` are its version details' endpoints (identifier, role, url).
    """

    id: str
    token_in: str | None = None
    stage: str = "none"  # "invited", "registering", "registered" or "none"
    token_out: str | None = None
    versions_url: str | None = None
    version: str | None = None
    endpoints: tuple[dict[str, str], ...] = ()
    roles: tuple[dict[str, Any], ...] = ()
    sync_state: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None
    raw_token: bool = False  # it reads our token raw, not Base64 (found out at registration)

    @property
    def registered(self) -> bool:
        return self.stage == REGISTERED and self.token_out is not None

    def endpoint(self, module: str, role: str) -> str | None:
        for e in self.endpoints:
            if e.get("identifier") == module and e.get("role", role) == role:
                return e.get("url")
        return None

    def parties(self) -> set[tuple[str, str]]:
        """The (country_code, party_id) pairs, upper-case, this connection speaks for."""
        found = {
            (str(r.get("country_code", "")).upper(), str(r.get("party_id", "")).upper())
            for r in self.roles
        }
        cc, _, pid = self.id.upper().partition("-")
        found.add((cc, pid))
        return found


@dataclass(frozen=True, slots=True)
class OcpiObject:
    """An object a party owns (location, tariff, session, CDR), in its wire form."""

    module: str
    country_code: str  # upper-case (CiString)
    party_id: str
    object_id: str  # upper-case (CiString)
    owner: str  # the OcpiParty id it came through
    last_updated: datetime
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """How one operator's feed is doing: its last sync and what it brought."""

    operator_id: str
    state: str = "never"  # "never", "running", "ok" or "failed"
    last_started: datetime | None = None
    last_finished: datetime | None = None
    last_success: datetime | None = None  # when the last sync that succeeded finished
    records: int = 0  # stations the last sync took in
    errors: int = 0  # syncs that failed in a row (0 after a success)
    last_error: str | None = None
    listed: int | None = None  # stations the last *full* sync listed
    duration_s: float | None = None  # how long the last sync took


@dataclass(frozen=True, slots=True)
class OperatorCounts:
    stations: int
    evses: int
    connectors: int


class Store(ABC):
    """Repository over the registry. Each method is one transaction of its own, unless called
    inside a unit of work (``unit_of_work()``), whose transaction it then joins."""

    url: str

    # the unit of work and its outbox (store/unit_of_work.py, store/outbox_sql.py)
    @abstractmethod
    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work: ``with``/``async with`` it is one transaction."""

    @abstractmethod
    def watch_outbox(self, watcher: OutboxWatcher) -> None:
        """Call ``watcher`` after each commit that wrote events, with their ids, in order."""

    @abstractmethod
    def outbox_after(self, position: int, limit: int = 1000) -> list[tuple[int, Event]]: ...

    @abstractmethod
    def outbox_position(self, relay: str) -> int: ...

    @abstractmethod
    def outbox_rows(self, ids: list[int]) -> list[tuple[int, Event]]:
        """The events of these outbox ids that exist, in id order."""

    @abstractmethod
    def outbox_end(self) -> int:
        """The newest outbox id written (0: none)."""

    @abstractmethod
    def save_outbox_position(
        self, relay: str, position: int, *, keep: int = 10_000, at: datetime | None = None
    ) -> None: ...

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def close(self) -> None: ...

    # operators and tariffs
    @abstractmethod
    def upsert_operator(self, operator: Operator) -> None: ...

    @abstractmethod
    def get_operator(self, operator_id: str) -> Operator | None: ...

    @abstractmethod
    def list_operators(self) -> list[Operator]: ...

    @abstractmethod
    def upsert_tariffs(self, tariffs: Iterable[Tariff]) -> int: ...

    @abstractmethod
    def get_tariff(self, tariff_id: str) -> Tariff | None: ...

    # stations
    @abstractmethod
    def upsert_stations(self, stations: Iterable[Station], *, at: datetime) -> UpsertResult:
        """Bulk insert or update stations with their EVSEs and connectors.

        Unchanged stations are skipped by fingerprint; EVSEs and connectors a changed station
        no longer lists are deleted. Connector status is written only for new connectors:
        existing connectors change status through ``apply_status_updates`` alone.
        """

    @abstractmethod
    def remove_stations(self, station_ids: Iterable[str], *, at: datetime) -> list[StationRemoved]:
        """Delist stations (kept for history; hidden from counts and iteration)."""

    @abstractmethod
    def get_station(self, station_id: str) -> Station | None: ...

    @abstractmethod
    def iter_stations(self, operator_id: str | None = None) -> Iterator[Station]:
        """Every live station, with EVSEs and connectors, ordered by id."""

    @abstractmethod
    def station_ids(self, operator_id: str) -> set[str]:
        """The ids of an operator's live stations."""

    @abstractmethod
    def connector_ids_by_source(
        self, operator_id: str, source_ids: Sequence[str]
    ) -> dict[str, str]:
        """Map an operator's own connector ids (e.g. T/CEC ConnectorID) to registry ids."""

    # status
    @abstractmethod
    def apply_status_updates(
        self, updates: Sequence[StatusUpdate], *, objects: Sequence[OcpiObject] = ()
    ) -> StatusResult:
        """Apply observations in order; record a history row for every change.

        An observation older than the one held is ignored, so late or replayed pushes can
        never roll a connector back. ``objects`` (the protocol objects the observations came
        in) are kept in the same transaction, so a push is kept whole or not at all.
        """

    @abstractmethod
    def status_history(
        self,
        connector_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[StatusRecord]: ...

    @abstractmethod
    def counts(self) -> RegistryCounts: ...

    # protocol inbox
    @abstractmethod
    def append_inbox(
        self,
        operator_id: str,
        protocol: str,
        message: str,
        payload: Mapping[str, Any],
        *,
        at: datetime,
    ) -> int:
        """Keep an acknowledged protocol message for its consumer; returns its id."""

    @abstractmethod
    def inbox(
        self, protocol: str, message: str | None = None, operator_id: str | None = None
    ) -> list[InboxMessage]: ...

    # OCPI connections, their objects, and the tokens we own
    @abstractmethod
    def save_ocpi_party(self, party: OcpiParty) -> None: ...

    @abstractmethod
    def get_ocpi_party(self, party_id: str) -> OcpiParty | None: ...

    @abstractmethod
    def ocpi_party_by_token(self, token: str) -> OcpiParty | None: ...

    @abstractmethod
    def list_ocpi_parties(self) -> list[OcpiParty]: ...

    @abstractmethod
    def put_ocpi_objects(self, objects: Sequence[OcpiObject]) -> None: ...

    @abstractmethod
    def get_ocpi_object(
        self, module: str, country_code: str, party_id: str, object_id: str
    ) -> OcpiObject | None: ...

    @abstractmethod
    def delete_ocpi_object(
        self, module: str, country_code: str, party_id: str, object_id: str
    ) -> bool: ...

    @abstractmethod
    def ocpi_last_updated(
        self, module: str, country_code: str, party_id: str, object_ids: Sequence[str]
    ) -> dict[str, datetime]:
        """``last_updated`` of the objects we hold among ``object_ids`` (keys upper-case)."""

    @abstractmethod
    def list_ocpi_objects(self, module: str, owner: str | None = None) -> list[OcpiObject]: ...

    @abstractmethod
    def upsert_tokens(self, tokens: Iterable[Token]) -> int: ...

    @abstractmethod
    def get_token(self, uid: str, token_type: str | None = None) -> Token | None:
        """A token by uid (case-insensitive), of the given type when one is named."""

    @abstractmethod
    def list_tokens(
        self,
        *,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[Token], int]:
        """Tokens with ``date_from <= last_updated < date_to`` by (last_updated, uid), one page,
        and how many match in all."""

    # feed health
    @abstractmethod
    def save_feed_health(self, health: FeedHealth) -> None: ...

    @abstractmethod
    def feed_health(self) -> dict[str, FeedHealth]:
        """Every feed's health, by operator id."""

    @abstractmethod
    def counts_by_operator(self) -> dict[str, OperatorCounts]:
        """Live listings, their EVSEs and connectors per operator (one feed's listing each,
        duplicates of other networks' stations included)."""

    @abstractmethod
    def station_counts_by_operator(self) -> dict[str, OperatorCounts]:
        """Physical stations (after merge: what the map and the reports count), their EVSEs
        and connectors per operator."""

    @abstractmethod
    def station_source_ids(self, operator_id: str) -> list[str]:
        """The operator's own ids of its live stations (what its status poll asks about)."""

    @abstractmethod
    def statuses_observed_before(
        self, operator_id: str, before: datetime
    ) -> list[tuple[str, ConnectorStatus]]:
        """(connector id, status) of the operator's live connectors last observed before
        ``before`` (never observed: left out)."""

    @abstractmethod
    def stale_connectors(self, before: datetime) -> dict[str, tuple[int, int]]:
        """Per operator: (its live connectors not observed since ``before`` or never, all its
        live connectors)."""

    # T/CEC tokens we issued and requests seen by the replay guard (tcec_sql.py)
    @abstractmethod
    def keep_tcec_token(
        self, token_hash: str, operator_id: str, *, issued_at: datetime, expires_at: datetime
    ) -> None: ...

    @abstractmethod
    def tcec_token(self, token_hash: str, *, at: datetime) -> tuple[str, datetime] | None: ...

    @abstractmethod
    def revoke_tcec_tokens(self, *, at: datetime) -> int: ...

    @abstractmethod
    def remember_tcec_requests(
        self,
        requests: Sequence[tuple[str, str, datetime]],
        *,
        forget_before: datetime | None = None,
    ) -> list[bool]: ...

    # drivers' accounts, refresh tokens, wrong passwords, ops keys, secrets (accounts_sql.py)
    @abstractmethod
    def create_account(self, account: Account) -> None: ...

    @abstractmethod
    def account_by_email(self, email: str) -> Account | None: ...

    @abstractmethod
    def account_by_id(self, account_id: str) -> Account | None: ...

    @abstractmethod
    def signed_in(self, account_id: str, *, at: datetime, password_hash: str | None) -> None: ...

    @abstractmethod
    def login_failures(self, email: str) -> LoginFailures | None: ...

    @abstractmethod
    def count_login_failure(
        self, email: str, *, at: datetime, window: timedelta, lock_after: int, lock_for: timedelta
    ) -> LoginFailures: ...

    @abstractmethod
    def clear_login_failures(self, email: str) -> None: ...

    @abstractmethod
    def keep_refresh_token(
        self, token_hash: str, account_id: str, family_id: str, *, at: datetime,
        expires_at: datetime,
    ) -> None: ...  # fmt: skip

    @abstractmethod
    def spend_refresh_token(self, token_hash: str, *, at: datetime) -> RefreshGrant | None: ...

    @abstractmethod
    def refresh_grant(self, token_hash: str) -> RefreshGrant | None: ...

    @abstractmethod
    def revoke_refresh_family(self, family_id: str, *, at: datetime) -> int: ...

    @abstractmethod
    def create_ops_key(self, key: OpsKey) -> None: ...

    @abstractmethod
    def ops_key(self, prefix: str) -> OpsKey | None: ...

    @abstractmethod
    def ops_keys(self) -> list[OpsKey]: ...

    @abstractmethod
    def ops_key_used(self, prefix: str, *, at: datetime) -> None: ...

    @abstractmethod
    def revoke_ops_keys(self, prefix_or_name: str, *, at: datetime) -> int: ...

    @abstractmethod
    def platform_secret(self, name: str, fresh: str, *, at: datetime) -> str: ...

    # the own chargers and their OCPP transactions (csms_sql.py)
    # firmware and campaigns (firmware_sql.py)
    @abstractmethod
    def add_firmware(self, image: FirmwareImage, content: bytes) -> bool: ...

    @abstractmethod
    def firmware(self, firmware_id: str) -> FirmwareImage | None: ...

    @abstractmethod
    def firmware_by_sha256(self, sha256: str) -> FirmwareImage | None: ...

    @abstractmethod
    def list_firmware(self) -> list[FirmwareImage]: ...

    @abstractmethod
    def firmware_content(self, sha256: str) -> bytes | None: ...

    @abstractmethod
    def create_campaign(self, campaign: Campaign, updates: Sequence[Update]) -> None: ...

    @abstractmethod
    def campaign(self, campaign_id: str) -> Campaign | None: ...

    @abstractmethod
    def list_campaigns(self) -> list[Campaign]: ...

    @abstractmethod
    def live_campaigns(self) -> list[Campaign]: ...

    @abstractmethod
    def change_campaign(
        self, campaign: Campaign, expected: CampaignState, event: str | None = None
    ) -> bool: ...

    @abstractmethod
    def campaign_updates(self, campaign_id: str) -> list[Update]: ...

    @abstractmethod
    def updates_of_charger(self, charger_id: str) -> list[tuple[Campaign, Update]]: ...

    @abstractmethod
    def chargers_in_live_campaigns(self) -> set[str]: ...

    @abstractmethod
    def change_update(self, update: Update, expected: UpdateState, event: str | None) -> bool: ...

    @abstractmethod
    def change_updates(
        self, changes: Sequence[tuple[Update, UpdateState, str | None]]
    ) -> list[bool]: ...

    @abstractmethod
    def campaign_history(
        self, campaign_id: str, limit: int = 500
    ) -> list[tuple[datetime, str | None, str]]: ...

    @abstractmethod
    def chargers_in_transaction(self, since: datetime) -> set[str]: ...

    @abstractmethod
    def add_own_charger(self, charger: OwnCharger) -> None: ...

    @abstractmethod
    def own_charger(self, charger_id: str) -> OwnCharger | None: ...

    @abstractmethod
    def own_chargers(self, owner_account_id: str | None = None) -> list[OwnCharger]: ...

    @abstractmethod
    def own_charger_at_station(self, station_id: str) -> OwnCharger | None: ...

    @abstractmethod
    def private_station_owners(self) -> dict[str, str]: ...

    @abstractmethod
    def charger_booted(
        self, charger_id: str, *, at: datetime, vendor: str | None, model: str | None,
        serial: str | None, firmware: str | None, ocpp_version: str,
    ) -> None: ...  # fmt: skip

    @abstractmethod
    def new_ocpp_transaction_id(self, charger_id: str, *, at: datetime) -> int: ...

    @abstractmethod
    def ocpp_transaction(self, charger_id: str, transaction_id: str) -> OcppTransaction | None: ...

    @abstractmethod
    def ocpp_transaction_started(
        self, charger_id: str, connector: int, started_at: datetime
    ) -> OcppTransaction | None: ...

    @abstractmethod
    def ocpp_transaction_of_session(self, session_ref: str) -> OcppTransaction | None: ...

    @abstractmethod
    def save_ocpp_transaction(self, t: OcppTransaction) -> None: ...

    @abstractmethod
    def remember_ocpp_event(self, charger_id: str, transaction_id: str, seq_no: int) -> bool: ...

    # charging sessions, vehicles, attempts (sessions_sql.py)
    @abstractmethod
    def create_session(self, session: ChargeSession) -> tuple[ChargeSession, bool]:
        """Insert it, or return the session the account's idempotency key already made."""

    @abstractmethod
    def save_session(self, session: ChargeSession) -> None: ...

    @abstractmethod
    def get_session(self, session_id: str) -> ChargeSession | None: ...

    @abstractmethod
    def session_by_ref(self, operator_id: str, protocol_ref: str) -> ChargeSession | None: ...

    @abstractmethod
    def session_by_remote_id(self, operator_id: str, remote_id: str) -> ChargeSession | None: ...

    @abstractmethod
    def session_by_key(self, account_id: str, idempotency_key: str) -> ChargeSession | None: ...

    @abstractmethod
    def open_sessions(self) -> list[ChargeSession]: ...

    @abstractmethod
    def account_sessions(self, account_id: str) -> list[ChargeSession]: ...

    @abstractmethod
    def save_vehicle(self, vehicle: Vehicle) -> None: ...

    @abstractmethod
    def get_vehicle(self, vehicle_id: str) -> Vehicle | None: ...

    @abstractmethod
    def vehicle_by_vin(self, vin: str) -> Vehicle | None: ...

    @abstractmethod
    def account_vehicles(self, account_id: str) -> list[Vehicle]: ...

    @abstractmethod
    def delete_vehicle(self, vehicle_id: str) -> bool: ...

    @abstractmethod
    def vehicle_by_emaid(self, emaid: str) -> Vehicle | None: ...

    @abstractmethod
    def add_card(self, card: ChargeCard) -> bool: ...

    @abstractmethod
    def card_by_uid(self, uid: str) -> ChargeCard | None: ...

    @abstractmethod
    def account_cards(self, account_id: str) -> list[ChargeCard]: ...

    @abstractmethod
    def delete_card(self, account_id: str, uid: str) -> bool: ...

    @abstractmethod
    def add_attempts(self, attempts: Sequence[ChargeAttempt]) -> None: ...

    @abstractmethod
    def list_attempts(self, since: datetime | None = None) -> list[ChargeAttempt]: ...

    @abstractmethod
    def connector_ref(self, connector_id: str) -> ConnectorRef | None: ...

    @abstractmethod
    def connectors_by_source_id(
        self, source_id: str, operator_id: str | None = None
    ) -> list[ConnectorRef]: ...

    @abstractmethod
    def connectors_by_evse_code(self, evse_code: str) -> list[ConnectorRef]: ...

    @abstractmethod
    def connectors_of_evse(self, evse_id: str) -> list[ConnectorRef]: ...

    # coverage (coverage_sql.py)
    @abstractmethod
    def coverage_evses(
        self, supercharger_kw: float
    ) -> list[tuple[str, str, tuple[bool, ...], int]]: ...

    @abstractmethod
    def coverage_connectors(self) -> dict[str, int]: ...

    @abstractmethod
    def coverage_stations(self) -> list[tuple[str, str | None, bool, int]]: ...

    @abstractmethod
    def save_coverage_snapshot(self, snapshot: CoverageSnapshot) -> None: ...

    @abstractmethod
    def coverage_snapshots(self, since: datetime | None = None) -> list[CoverageSnapshot]: ...

    # what the search index is built from, in keyset pages
    @abstractmethod
    def index_stations(self, after: str, limit: int) -> list[IndexStationRow]:
        """Live stations that are not merged into another, with ids after ``after``."""

    @abstractmethod
    def index_connectors(self, after: str, limit: int) -> list[IndexConnectorRow]:
        """Connectors with ids after ``after``, in id order."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- ingest across feeds: merge and delisting (issue 5) ------------------------------------
    # The rows these methods read and write are defined at the end of this module.
    @abstractmethod
    def merge_candidates(self) -> MergeCandidates:
        """Every live station as columns, ordered by id: just what the merge pass compares.

        Reads no EVSE or connector objects: each station's connectors come as their mix,
        ``(standard, max_power_kw, count)`` rows sorted, so the pass can read a national
        registry in seconds.
        """

    @abstractmethod
    def replace_station_sources(
        self, sources: Iterable[StationSource], *, at: datetime
    ) -> StationSourcesChange:
        """Make the merge table exactly ``sources`` (one row per listing of a merged station).

        Rows not given are deleted (the listing is un-merged); a row whose canonical station is
        unchanged keeps its ``merged_at`` (its rule may change); new or re-linked rows get
        ``at``. The ``merged_at`` of the given rows is ignored.
        """

    @abstractmethod
    def station_sources(self, station_id: str) -> list[StationSource]:
        """Every listing of the physical station ``station_id`` is a listing of (it may be any
        of them), the canonical one first, then by id; ``[]`` if it is merged with nothing."""

    @abstractmethod
    def canonical_of(self, station_ids: Iterable[str]) -> dict[str, str]:
        """The canonical station id of each id given (an unmerged station is its own)."""

    @abstractmethod
    def count_physical_stations(self) -> int:
        """``counts().stations`` alone: live listings not merged into another."""

    @abstractmethod
    def missing_stations(self, operator_id: str) -> list[MissingStation]:
        """The operator's stations its full syncs stopped listing, not yet delisted, by id."""

    @abstractmethod
    def save_missing_stations(
        self, rows: Sequence[MissingStation], *, cleared: Iterable[str] = ()
    ) -> None:
        """Delete the rows of the ``cleared`` station ids, then write ``rows`` as given (insert
        or overwrite), in one transaction."""

    # --- reliability (reliability_sql.py): what services/analytics/reliability/ reads ---------
    # The rows these methods read and write are defined at the end of this module.
    @abstractmethod
    def add_excluded_downtime(self, records: Iterable[ExcludedDowntime]) -> int:
        """Insert or overwrite (by id) downtime excluded from uptime; returns how many."""

    @abstractmethod
    def excluded_downtime(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[ExcludedDowntime]:
        """The records overlapping ``[since, until)`` (all when not given), by start and id."""

    @abstractmethod
    def reliability_connectors(self, after: str, limit: int) -> list[ReliabilityConnectorRow]:
        """Connectors with ids after ``after`` in id order, one keyset page, with their current
        status and what the reliability figures need of their station (removed ones too)."""

    @abstractmethod
    def status_changes_between(
        self, first_id: str, last_id: str, since: datetime, until: datetime
    ) -> list[StatusChangeRow]:
        """The history rows of connectors ``first_id <= id <= last_id`` whose ended status
        reaches into ``[since, until)`` or later: ``at >= since`` and ``previous_since`` before
        ``until`` (or unknown); by connector, then time. Each such row ends one timeline
        segment, so a page of connectors' timelines over the window is rebuilt from them."""

    @abstractmethod
    def visit_attempts(self, since: datetime, until: datetime) -> list[VisitAttemptRow]:
        """Charge attempts with ``since <= at < until`` joined to their session's account and
        station (``None`` without a session), by time and id."""


# --- ingest across feeds: merge and delisting (issue 5) ------------------------------------------


@dataclass(frozen=True, slots=True)
class MergeCandidates:
    """Live stations as parallel columns (index ``i`` is one station), ordered by id."""

    ids: list[str]
    operator_ids: list[str]
    source_ids: list[str]
    names: list[str]
    addresses: list[str | None]
    lons: list[float]  # GCJ-02 inside China, as stored
    lats: list[float]
    connector_mix: list[tuple[tuple[str, float, int], ...]]  # (standard, max_power_kw, count)

    def __len__(self) -> int:
        return len(self.ids)


# StationSource.rule
SELF, SOURCE_REF, NAME_ADDRESS, NEARBY = "self", "source_ref", "name_address", "nearby"


@dataclass(frozen=True, slots=True)
class StationSource:
    """One listing of a physical station listed by several feeds.

    ``canonical_id`` is the listing shown for the group (its own row has rule "self");
    ``rule`` is the strongest merge rule linking this listing into the group ("source_ref",
    "name_address" or "nearby"); ``merged_at`` is when it was first linked to that canonical.
    """

    station_id: str
    canonical_id: str
    rule: str
    merged_at: datetime


@dataclass(frozen=True, slots=True)
class StationSourcesChange:
    """What one ``replace_station_sources`` changed."""

    added: int = 0  # listings newly merged
    relinked: int = 0  # listings now under another canonical
    rule_changed: int = 0  # same canonical, another rule
    removed: int = 0  # listings un-merged
    kept: int = 0


@dataclass(frozen=True, slots=True)
class MissingStation:
    """A live station that full syncs of its operator stopped listing.

    ``first_missing`` is when a full sync first did not list it; ``misses`` how many successful
    (not suspect) full syncs in a row have not listed it since.
    """

    station_id: str
    operator_id: str
    first_missing: datetime
    misses: int


# --- reliability (issue 8) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExcludedDowntime:
    """Downtime the operator does not answer for (NEVI's T_excluded: e.g. grid failure,
    vandalism, scheduled maintenance), for one connector or for every connector of a station
    (exactly one of ``connector_id``, ``station_id``), from ``starts_at`` until ``ends_at``."""

    id: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    connector_id: str | None = None
    station_id: str | None = None

    def __post_init__(self) -> None:
        if (self.connector_id is None) == (self.station_id is None):
            raise ValueError("excluded downtime names exactly one of connector_id, station_id")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("excluded downtime times must be timezone-aware")
        if self.ends_at <= self.starts_at:
            raise ValueError("excluded downtime must end after it starts")


#: id, operator_id, station_id, max_power_kw, status, status_since, status_at,
#: station opening_hours, station removed_at
ReliabilityConnectorRow = tuple[
    str, str, str, float, str, datetime | None, datetime | None, str | None, datetime | None
]
#: connector_id, status, at, previous, previous_since (``previous`` held from
#: ``previous_since`` until ``at``, then ``status``)
StatusChangeRow = tuple[str, str, datetime, str, datetime | None]
#: at, operator_id, outcome, account_id, station_id (the last two from the attempt's session)
VisitAttemptRow = tuple[datetime, str, str, str | None, str | None]
