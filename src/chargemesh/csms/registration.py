"""Registering an own charger (``POST /api/v1/ops/chargers``, ``chargemesh ops charger add``):
the charger with its password's hash and its station in the registry commit together, so a
supercharger is on the map (and a home charger in its owner's app) once registered."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from chargemesh.csms.network import CHARGER_ID, PASSWORD_LENGTH, OwnNetwork, hash_password
from chargemesh.domain import ConnectorStandard
from chargemesh.domain.own import ChargerKind, OwnCharger
from chargemesh.events.relay import OutboxRelay
from chargemesh.geo.counties import county_table
from chargemesh.store import Store, StoreIntegrityError
from chargemesh.store.unit_of_work import UnitOfWork


class RegistrationRefused(Exception):
    """``status`` 409 (the id is taken) or 422 (the request is wrong: ``str()`` says how)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class ChargerRegistration:
    id: str
    password: str
    kind: str  # "supercharger" or "home"
    name: str
    lat: float  # GCJ-02, like the registry
    lon: float
    connectors: tuple[tuple[str, float], ...]  # (standard, max kW) of connector 1, 2, …
    owner: str | None = None  # the owner's account email (home chargers)
    site: str | None = None  # superchargers of one site share it (firmware campaigns spare it)


def _checked(r: ChargerRegistration) -> ChargerKind:
    if not CHARGER_ID.match(r.id):
        raise RegistrationRefused(422, "a charger id is 1-48 letters, digits or *_=+|@.-")
    low, high = PASSWORD_LENGTH
    if not (low <= len(r.password) <= high and r.password.isprintable() and ":" not in r.password):
        raise RegistrationRefused(
            422, f"a charger's password is {low}-{high} printable characters without ':'"
        )
    try:
        kind = ChargerKind(r.kind)
    except ValueError:
        raise RegistrationRefused(422, "kind is 'supercharger' or 'home'") from None
    if not r.connectors or len(r.connectors) > 12:
        raise RegistrationRefused(422, "a charger has 1 to 12 connectors")
    for standard, kw in r.connectors:
        try:
            ConnectorStandard(standard)
        except ValueError:
            raise RegistrationRefused(422, f"unknown connector standard {standard!r}") from None
        if not 1 <= kw <= 1000:
            raise RegistrationRefused(422, "a connector's max_power_kw is 1 to 1000")
    if not (-90 <= r.lat <= 90 and -180 <= r.lon <= 180):
        raise RegistrationRefused(422, "lat/lon out of range")
    if kind is ChargerKind.HOME and not r.owner:
        raise RegistrationRefused(422, "a home charger needs its owner (an account email)")
    if kind is ChargerKind.SUPERCHARGER and r.owner:
        raise RegistrationRefused(422, "a supercharger is public: it has no owner")
    return kind


async def register(
    store: Store, relay: OutboxRelay, network: OwnNetwork, r: ChargerRegistration
) -> OwnCharger:
    kind = _checked(r)
    now = datetime.now(UTC)
    county = await asyncio.to_thread(county_table().lookup_one, r.lon, r.lat)

    def work(uow: UnitOfWork) -> OwnCharger:
        """One transaction, off the event loop: the owner, the network, the charger and its
        station (the store's calls join the unit's transaction)."""
        owner_id = None
        if r.owner:
            account = store.account_by_email(r.owner.strip().lower())
            if account is None:
                raise RegistrationRefused(422, f"no account {r.owner!r} to own this charger")
            owner_id = account.id
        charger = OwnCharger(
            id=r.id, password_hash=hash_password(r.password), kind=kind,
            name=r.name.strip()[:200], station_id=network.station_id(r.id),
            connectors=len(r.connectors), created_at=now, owner_account_id=owner_id,
            site=r.site,
        )  # fmt: skip
        if uow.registry.get_operator(network.operator_id) is None:
            store.upsert_operator(network.operator)
            uow.registry.upsert_tariffs([network.tariff])
        store.add_own_charger(charger)
        station = network.station(charger, r.lon, r.lat, list(r.connectors), county, now)
        result = uow.registry.upsert_stations([station], at=now)
        uow.collect([*result.added, *result.changed])
        return charger

    try:
        return await relay.write(work)
    except StoreIntegrityError:
        raise RegistrationRefused(409, f"a charger {r.id!r} is registered already") from None
