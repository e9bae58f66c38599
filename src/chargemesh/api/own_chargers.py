"""The own chargers over HTTP: operations register and command them (``/api/v1/ops/chargers``,
an ops key), and a driver sees the home chargers they own (``GET /api/v1/me/chargers``).
docs/csms.md."""

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from chargemesh.api.auth import Guards, responses
from chargemesh.csms.network import STATUS_FRESHNESS
from chargemesh.csms.registration import ChargerRegistration, RegistrationRefused, register
from chargemesh.csms.remote import ChargerOffline
from chargemesh.csms.service import Csms
from chargemesh.domain import effective_status
from chargemesh.domain.own import OwnCharger
from chargemesh.events.relay import OutboxRelay
from chargemesh.store import Store

# No ``from __future__ import annotations``: ``Driver`` is made per router (see sessions.py).


class ConnectorIn(BaseModel):
    standard: str = Field(max_length=20, description="gbt_dc, gbt_ac, ccs2, …")
    max_power_kw: float = Field(gt=0, le=1000)


class ChargerIn(BaseModel):
    id: str = Field(min_length=1, max_length=48, description="the OCPP charge point id")
    password: str = Field(min_length=16, max_length=40, description="its Basic auth password")
    kind: Literal["supercharger", "home"]
    name: str = Field(min_length=1, max_length=200)
    lat: float = Field(ge=-90, le=90, description="GCJ-02, like the registry")
    lon: float = Field(ge=-180, le=180)
    connectors: list[ConnectorIn] = Field(min_length=1, max_length=12)
    owner: str | None = Field(None, max_length=254, description="home: the owner's email")
    site: str | None = Field(
        None, max_length=48,
        description="superchargers of one site share it: a firmware campaign updates at most "
        "a few of them at once",
    )  # fmt: skip


class ChargerOut(BaseModel):
    id: str
    kind: str
    name: str
    station_id: str
    connectors: int
    owner_account_id: str | None
    vendor: str | None
    model: str | None
    serial: str | None
    firmware: str | None
    ocpp_version: str | None
    last_boot_at: datetime | None
    site: str | None
    connected: bool  # holds a connection to this node now


class CommandOut(BaseModel):
    status: str  # the charger's answer: Accepted, Rejected, Scheduled, Unlocked…


class ResetIn(BaseModel):
    hard: bool = False


class AvailabilityIn(BaseModel):
    connector: int = Field(0, ge=0, le=12, description="0: the whole charger")
    operative: bool


class UnlockIn(BaseModel):
    connector: int = Field(ge=1, le=12)


class MyConnectorOut(BaseModel):
    id: str
    standard: str
    max_power_kw: float
    status: str


class MyChargerOut(BaseModel):
    id: str
    name: str
    station_id: str
    connected: bool
    connectors: list[MyConnectorOut]


def _out(c: OwnCharger, csms: Csms) -> ChargerOut:
    return ChargerOut(
        id=c.id, kind=str(c.kind), name=c.name, station_id=c.station_id,
        connectors=c.connectors, owner_account_id=c.owner_account_id, vendor=c.vendor,
        model=c.model, serial=c.serial, firmware=c.firmware, ocpp_version=c.ocpp_version,
        last_boot_at=c.last_boot_at, site=c.site, connected=csms.links.get(c.id) is not None,
    )  # fmt: skip


def ops_chargers_router(
    guards: Guards, store: Store, relay: OutboxRelay, csms: Csms | None
) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1/ops/chargers",
        tags=["operations"],
        dependencies=[Depends(guards.ops)],
        responses=responses(401, 403),
    )

    def running() -> Csms:
        if csms is None:
            raise HTTPException(409, {"code": "no_csms", "reason": "this platform runs no CSMS",
                                      "advice": "add a [csms] section to the config"})  # fmt: skip
        return csms

    @router.post("", response_model=ChargerOut, status_code=201)
    async def add(body: ChargerIn) -> ChargerOut:
        """Register an own charger: superchargers appear on the public map, home chargers in
        their owner's app; the charger may connect with its id and password from now on."""
        own = running()
        request = ChargerRegistration(
            body.id, body.password, body.kind, body.name, body.lat, body.lon,
            tuple((c.standard, c.max_power_kw) for c in body.connectors), body.owner, body.site,
        )  # fmt: skip
        try:
            made = await register(store, relay, own.network, request)
        except RegistrationRefused as exc:
            raise HTTPException(exc.status, str(exc)) from None
        own.provisioning.watch([made.id])
        own.chargers.forget(made.id)
        return _out(made, own)

    @router.get("", response_model=list[ChargerOut])
    async def listed() -> list[ChargerOut]:
        """Every own charger: what it said at its last boot, and whether it is connected."""
        own = running()
        return [_out(c, own) for c in await asyncio.to_thread(store.own_chargers)]

    async def _command(charger_id: str, work: str, *args: object) -> CommandOut:
        own = running()
        if await asyncio.to_thread(store.own_charger, charger_id) is None:
            raise HTTPException(404, f"no own charger {charger_id!r}")
        try:
            status = await getattr(own.commands, work)(charger_id, *args)
        except ChargerOffline:
            offline = {"code": "charger_offline", "advice": "try again once it is online",
                       "reason": f"charger {charger_id} is not connected"}  # fmt: skip
            raise HTTPException(409, offline) from None
        except TimeoutError:
            raise HTTPException(504, f"charger {charger_id} did not answer") from None
        return CommandOut(status=status)

    @router.post("/{charger_id}/reset", response_model=CommandOut)
    async def reset(charger_id: str, body: ResetIn) -> CommandOut:
        return await _command(charger_id, "reset", body.hard)

    @router.post("/{charger_id}/availability", response_model=CommandOut)
    async def availability(charger_id: str, body: AvailabilityIn) -> CommandOut:
        return await _command(charger_id, "change_availability", body.connector, body.operative)

    @router.post("/{charger_id}/unlock", response_model=CommandOut)
    async def unlock(charger_id: str, body: UnlockIn) -> CommandOut:
        return await _command(charger_id, "unlock", body.connector)

    return router


def my_chargers_router(guards: Guards, store: Store, csms: Csms | None) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["accounts"], responses=responses(401))
    Driver = Annotated[str, Depends(guards.driver)]  # noqa: N806 - a type

    @router.get("/me/chargers", response_model=list[MyChargerOut])
    async def mine(account: Driver) -> list[MyChargerOut]:
        """The home chargers this account owns, with their connectors' live status (start
        them with ``POST /api/v1/sessions {"connector_id"}``)."""
        owned = await asyncio.to_thread(store.own_chargers, account)
        out = []
        now = datetime.now().astimezone()
        for c in owned:
            station = await asyncio.to_thread(store.get_station, c.station_id)
            connectors = []
            for evse in station.evses if station else ():
                for k in evse.connectors:
                    shown = effective_status(k.status, k.status_at, now, STATUS_FRESHNESS)
                    connectors.append(MyConnectorOut(id=k.id, standard=str(k.standard),
                                                     max_power_kw=k.max_power_kw,
                                                     status=str(shown)))  # fmt: skip
            out.append(MyChargerOut(
                id=c.id, name=c.name, station_id=c.station_id, connectors=connectors,
                connected=csms is not None and csms.links.get(c.id) is not None,
            ))  # fmt: skip
        return out

    return router
