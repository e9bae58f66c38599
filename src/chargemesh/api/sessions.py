"""The driver's sessions: check a charger, start (QR or connector), watch, stop; vehicles for
plug-and-charge.

Every route takes the signed-in driver's access token (``api/auth.py``) and sees only that
account's sessions and vehicles: another account's is 404, as one that does not exist.
"""

# No ``from __future__ import annotations``: the routes' ``Driver`` dependency is made per
# router (it holds its Guards), and FastAPI must see it when the route is defined.

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Response
from pydantic import BaseModel, Field, model_validator

from chargemesh.api.auth import Guards, responses
from chargemesh.api.stations import TariffOut, tariff_out
from chargemesh.domain.session import ChargeSession, Vehicle
from chargemesh.services.charging.sessions import SessionService, StartRefused, dispute_of
from chargemesh.services.charging.vehicles import (
    Refused,
    enable_plug_and_charge,
    register_vehicle,
    switch_plug_and_charge,
)

_UNPROCESSABLE = {"unknown_code", "unknown_connector", "no_target", "unknown_vehicle"}


class StartIn(BaseModel):
    qr: str | None = Field(None, max_length=512, description="the code scanned on the charger")
    connector_id: str | None = Field(None, max_length=200)
    vehicle_id: str | None = None

    @model_validator(mode="after")
    def one_target(self) -> "StartIn":
        if (self.qr is None) == (self.connector_id is None):
            raise ValueError("give either qr or connector_id")
        return self


class BillOut(BaseModel):
    kwh: float
    total: Decimal
    currency: str
    energy_cost: Decimal | None
    service_cost: Decimal | None
    reference: str | None


class SessionOut(BaseModel):
    id: str
    state: str
    method: str
    operator_id: str
    connector_id: str
    station_id: str
    vehicle_id: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    #: Charging time by the operator's clock at its last reading (the time ``kwh`` and ``cost``
    #: belong to: kwh / elapsed_s × 3600 is the average kW); our clock if it reports no times.
    elapsed_s: float | None
    kwh: float  # as the operator reported it live
    kw: float | None
    soc: float | None
    cost: Decimal | None  # so far, as the operator reported it
    currency: str
    failure_reason: str | None
    stop_reason: str | None  # the driver's words for stop_code, with the operator's detail
    stop_code: str | None  # battery_full, driver, operator, fault or unplugged
    bill: BillOut | None
    dispute: str | None  # why the bill disagrees with what we metered, if it does


class PriceOut(BaseModel):
    start: str  # "HH:MM" China time
    end: str  # exclusive; "00:00" is midnight
    electricity_fee: Decimal  # per kWh
    service_fee: Decimal  # per kWh
    price_per_kwh: Decimal


class PreviewOut(BaseModel):
    startable: bool
    reason: str | None  # why not
    advice: str | None  # what the driver can do instead
    code: str | None
    operator_id: str
    operator_name: str
    capabilities: list[str]
    connector_id: str
    station_id: str
    standard: str
    max_power_kw: float
    access_methods: list[str]
    status: str  # unknown once older than the feed's freshness limit
    qr_format: str | None
    currency: str | None
    price: list[PriceOut]  # the operator's time-of-use prices (empty: not published)
    price_now: float | None  # per kWh now (China time): what the bill will use
    #: The same price as station detail shows it (the connector's own where it has one)
    tariff: TariffOut | None


class VehicleIn(BaseModel):
    vin: str = Field(
        max_length=40,
        description="the car's 17-character VIN (what a GB/T pile reads), its check digit "
        "(9th character) verified",
    )
    model: str = Field(
        min_length=1,
        max_length=100,
        description="the car's model as the compatibility lab names it (e.g. 'yc-aster'): its "
        "charge attempts are sliced by it, and search warns about chargers that fail with it",
    )
    emaid: str | None = Field(
        None,
        min_length=6,
        max_length=36,
        description="ISO 15118 cars only: the contract id (eMA ID) for plug-and-charge on OCPI "
        "networks, its check character verified",
    )


class VehicleOut(BaseModel):
    id: str
    vin: str
    model: str
    emaid: str | None
    plug_and_charge_networks: list[str]


def session_out(s: ChargeSession, now: datetime) -> SessionOut:
    elapsed = s.charged_s
    if elapsed is None and s.started_at is not None:
        elapsed = ((s.ended_at or now) - s.started_at).total_seconds()
    elapsed = None if elapsed is None else round(elapsed, 1)
    bill = s.bill
    return SessionOut(
        id=s.id, state=str(s.state), method=str(s.method), operator_id=s.operator_id,
        connector_id=s.connector_id, station_id=s.station_id, vehicle_id=s.vehicle_id,
        created_at=s.created_at, started_at=s.started_at, ended_at=s.ended_at,
        elapsed_s=elapsed, kwh=s.kwh, kw=s.kw, soc=s.soc, cost=s.cost, currency=s.currency,
        failure_reason=s.failure_reason, stop_reason=s.stop_reason,
        stop_code=None if s.stop_code is None else str(s.stop_code),
        bill=BillOut(kwh=bill.kwh, total=bill.total, currency=bill.currency,
                     energy_cost=bill.energy_cost, service_cost=bill.service_cost,
                     reference=bill.reference) if bill else None,
        dispute=dispute_of(s),
    )  # fmt: skip


def _refused(exc: StartRefused) -> HTTPException:
    status = 422 if exc.code in _UNPROCESSABLE else 409
    return HTTPException(status, {"reason": exc.reason, "advice": exc.advice, "code": exc.code})


def _vehicle_out(v: Vehicle) -> VehicleOut:
    return VehicleOut(id=v.id, vin=v.vin, model=v.model, emaid=v.emaid,
                      plug_and_charge_networks=sorted(v.networks))  # fmt: skip


def sessions_router(service: SessionService, guards: Guards) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["sessions"], responses=responses(401))
    store = service.store
    Driver = Annotated[str, Depends(guards.driver)]  # noqa: N806 - a type

    def _not_yours(session_id: str) -> HTTPException:
        return HTTPException(404, f"no session {session_id!r} in this account")

    @router.post("/sessions/preview", response_model=PreviewOut)
    async def preview(body: StartIn, account: Driver) -> PreviewOut:
        """What starting here would mean: the network and its capabilities, the connector's
        live status, and whether the app can start it (if not, why and what to do instead)."""
        try:
            p = await service.preview(
                qr=body.qr,
                connector_id=body.connector_id,
                by_scan=body.qr is not None,
                account_id=account,
            )
        except StartRefused as exc:
            raise _refused(exc) from None
        t = p.target
        tariff = p.quote.tariff if p.quote else None
        shown = tariff_out(tariff, datetime.now(UTC))
        return PreviewOut(
            startable=p.startable, reason=p.reason, advice=p.advice, code=p.code,
            operator_id=t.operator_id, operator_name=p.operator_name,
            capabilities=sorted(str(c) for c in p.capabilities), connector_id=t.id,
            station_id=t.station_id, standard=t.standard, max_power_kw=t.max_power_kw,
            access_methods=sorted(str(a) for a in t.access_methods), status=str(p.status),
            qr_format=p.qr_format, currency=tariff.currency if tariff else None,
            price=[PriceOut(start=x.start.strftime("%H:%M"), end=x.end.strftime("%H:%M"),
                            electricity_fee=x.energy_price, service_fee=x.service_price,
                            price_per_kwh=x.price_per_kwh)
                   for x in (tariff.periods if tariff else ())],
            price_now=shown.price_now if shown else None, tariff=shown,
        )  # fmt: skip

    @router.post(
        "/sessions",
        response_model=SessionOut,
        status_code=201,
        responses={200: {"description": "the session this Idempotency-Key already made"},
                   409: {"description": "the charger cannot be started from the app"},
                   422: {"description": "unknown code, connector or vehicle"}},
    )  # fmt: skip
    async def start(
        body: StartIn,
        response: Response,
        account: Driver,
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
        ] = None,
    ) -> SessionOut:
        """Start a charge by the scanned code (``qr``) or a connector id. A retry with the same
        ``Idempotency-Key`` gets the same session, never a second charge."""
        try:
            session, created = await service.start(
                account, qr=body.qr, connector_id=body.connector_id,
                vehicle_id=body.vehicle_id, idempotency_key=idempotency_key,
            )  # fmt: skip
        except StartRefused as exc:
            raise _refused(exc) from None
        if not created:
            response.status_code = 200
        return session_out(session, datetime.now(UTC))

    @router.get("/sessions", response_model=list[SessionOut])
    async def mine(account: Driver) -> list[SessionOut]:
        """The account's sessions with their bills, oldest first: the history (plug-and-charge
        ones appear by themselves)."""
        now = datetime.now(UTC)
        held = await asyncio.to_thread(store.account_sessions, account)
        return [session_out(s, now) for s in held]

    @router.get("/sessions/{session_id}", response_model=SessionOut)
    async def get(session_id: str, account: Driver) -> SessionOut:
        """A session: state, kWh, kW, SoC, elapsed time and cost so far; the bill once it came
        (live: ``GET /api/v1/events?session={id}``)."""
        found = await service.get(session_id, account)
        if found is None:
            raise _not_yours(session_id)
        return session_out(found, datetime.now(UTC))

    @router.post("/sessions/{session_id}/stop", response_model=SessionOut)
    async def stop(session_id: str, account: Driver) -> SessionOut:
        """Stop through the operator's protocol; the session completes when its bill comes."""
        try:
            found = await service.stop(session_id, account)
        except KeyError:
            raise _not_yours(session_id) from None
        return session_out(found, datetime.now(UTC))

    @router.get("/vehicles", response_model=list[VehicleOut])
    async def vehicles(account: Driver) -> list[VehicleOut]:
        """The account's cars."""
        held = await asyncio.to_thread(store.account_vehicles, account)
        return [_vehicle_out(v) for v in held]

    @router.get("/vehicles/{vehicle_id}", response_model=VehicleOut)
    async def vehicle(vehicle_id: str, account: Driver) -> VehicleOut:
        found = await asyncio.to_thread(store.get_vehicle, vehicle_id)
        if found is None or found.account_id != account:
            raise HTTPException(404, f"no vehicle {vehicle_id!r} in this account")
        return _vehicle_out(found)

    @router.delete("/vehicles/{vehicle_id}", status_code=204)
    async def remove_vehicle(vehicle_id: str, account: Driver) -> Response:
        """Remove a car: plug-and-charge ends with it everywhere (its EMAID is no longer
        authorized); its past charges stay in the history."""
        found = await asyncio.to_thread(store.get_vehicle, vehicle_id)
        if found is None or found.account_id != account:
            raise HTTPException(404, f"no vehicle {vehicle_id!r} in this account")
        if found.networks or found.emaid:
            await _switch(vehicle_id, account, False)
        await asyncio.to_thread(store.delete_vehicle, vehicle_id)
        return Response(status_code=204)

    @router.post("/vehicles", response_model=VehicleOut, status_code=201)
    async def add_vehicle(body: VehicleIn, account: Driver) -> VehicleOut:
        """Register a car by its VIN (and its EMAID, for ISO 15118 plug-and-charge); 422 with
        the reason when a check digit or character is wrong."""
        try:
            made = await asyncio.to_thread(
                register_vehicle, store, account, body.vin, body.model, body.emaid
            )
        except Refused as exc:
            raise HTTPException(exc.status, str(exc)) from None
        return _vehicle_out(made)

    async def _switch(vehicle_id: str, account: str, on: bool) -> VehicleOut:
        operators = await asyncio.to_thread(store.list_operators)
        try:
            switched = await asyncio.to_thread(
                switch_plug_and_charge, store.unit_of_work(), operators, account, vehicle_id,
                on, datetime.now(UTC),
            )  # fmt: skip
        except Refused as exc:
            raise HTTPException(exc.status, str(exc)) from None
        return _vehicle_out(switched)

    @router.put("/vehicles/{vehicle_id}/plug-and-charge", response_model=VehicleOut)
    async def plug_and_charge_on(vehicle_id: str, account: Driver) -> VehicleOut:
        """Plug-and-charge on, on every network that supports it and can know the car (T/CEC
        by VIN, OCPI by EMAID): from then on plugging in starts a charge by itself, and the
        session appears in this account."""
        return await _switch(vehicle_id, account, True)

    @router.delete("/vehicles/{vehicle_id}/plug-and-charge", response_model=VehicleOut)
    async def plug_and_charge_off(vehicle_id: str, account: Driver) -> VehicleOut:
        """Plug-and-charge off everywhere (the car's EMAID is no longer authorized)."""
        return await _switch(vehicle_id, account, False)

    @router.put("/vehicles/{vehicle_id}/plug-and-charge/{operator_id}", response_model=VehicleOut)
    async def enable(vehicle_id: str, operator_id: str, account: Driver) -> VehicleOut:
        """Enable plug-and-charge for the vehicle on one network (once; from then on plugging
        in starts a session there by itself)."""
        try:
            enabled = await asyncio.to_thread(
                enable_plug_and_charge, store.unit_of_work(), account, vehicle_id, operator_id,
                datetime.now(UTC),
            )  # fmt: skip
        except Refused as exc:
            raise HTTPException(exc.status, str(exc)) from None
        return _vehicle_out(enabled)

    return router
