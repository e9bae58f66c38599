"""Drivers' vehicles: enabling plug-and-charge on a network is one unit of work (the EMAID
token an OCPI network authorizes by, and the vehicle's networks, commit together)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from chargemesh.domain import Operator, Token, TokenType
from chargemesh.domain.session import Vehicle
from chargemesh.domain.vehicle_ids import emaid_problem, normalize_emaid, normalize_vin, vin_problem
from chargemesh.store import Store, StoreIntegrityError
from chargemesh.store.unit_of_work import UnitOfWork


class Refused(Exception):
    """Why plug-and-charge cannot be enabled; ``status`` is the HTTP status that says so."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def emaid_token(vehicle: Vehicle, at: datetime) -> Token:
    assert vehicle.emaid is not None
    return Token(
        uid=vehicle.emaid, type=TokenType.EMAID, contract_id=vehicle.emaid,
        issuer="chargemesh", last_updated=at,
    )  # fmt: skip


def enable_plug_and_charge(
    uow: UnitOfWork, account_id: str, vehicle_id: str, operator_id: str, at: datetime
) -> Vehicle:
    """The vehicle with ``operator_id`` among its plug-and-charge networks (sync: run it in a
    thread)."""
    with uow:
        vehicle = uow.sessions.get_vehicle(vehicle_id)
        if vehicle is None or vehicle.account_id != account_id:
            raise Refused(404, f"no vehicle {vehicle_id!r} in this account")
        operator = uow.registry.get_operator(operator_id)
        if operator is None:
            raise Refused(404, f"no operator {operator_id!r}")
        if "plug_and_charge" not in {str(c) for c in operator.capabilities}:
            raise Refused(409, f"{operator.name} does not support plug-and-charge")
        if str(operator.protocol) == "ocpi":
            if vehicle.emaid is None:
                raise Refused(409, "this network needs the vehicle's EMAID (ISO 15118)")
            uow.ocpi.upsert_tokens([emaid_token(vehicle, at)])
        enabled = replace(vehicle, networks=vehicle.networks | {operator_id})
        uow.sessions.save_vehicle(enabled)
    return enabled


def register_vehicle(
    store: Store, account_id: str, vin: str, model: str, emaid: str | None
) -> Vehicle:
    """A new vehicle of the account, its VIN's check digit and its EMAID's check character
    verified (``Refused`` 422 with the reason; 409 if another car has the VIN or EMAID)."""
    vin = normalize_vin(vin)
    problem = vin_problem(vin)
    if problem is None and emaid is not None:
        emaid = normalize_emaid(emaid)
        problem = emaid_problem(emaid)
    if problem is not None:
        raise Refused(422, problem)
    if store.vehicle_by_vin(vin) is not None:
        raise Refused(409, "this VIN is already registered")
    vehicle = Vehicle(secrets.token_hex(8), account_id, vin, model.strip(), emaid)
    try:
        store.save_vehicle(vehicle)
    except StoreIntegrityError:  # the EMAID (or, racing, the VIN) is another car's
        raise Refused(409, "this VIN or EMAID is already registered") from None
    return vehicle


def switch_plug_and_charge(
    uow: UnitOfWork,
    operators: Iterable[Operator],
    account_id: str,
    vehicle_id: str,
    on: bool,
    at: datetime,
) -> Vehicle:
    """Plug-and-charge for the vehicle on every network of ``operators`` that supports it and
    that the car can use (T/CEC networks know it by VIN, OCPI ones by its EMAID), or off on
    all of them (its EMAID token is then invalid everywhere). ``Refused`` 404 for a vehicle
    not of this account, 409 when no network can take it."""
    with uow:
        vehicle = uow.sessions.get_vehicle(vehicle_id)
        if vehicle is None or vehicle.account_id != account_id:
            raise Refused(404, f"no vehicle {vehicle_id!r} in this account")
        networks: frozenset[str] = frozenset()
        if on:
            networks = frozenset(
                op.id
                for op in operators
                if "plug_and_charge" in {str(c) for c in op.capabilities}
                and (str(op.protocol) != "ocpi" or vehicle.emaid is not None)
            )
            if not networks:
                raise Refused(409, "no network supports plug-and-charge for this car yet")
        if vehicle.emaid is not None:
            token = emaid_token(vehicle, at)
            uow.ocpi.upsert_tokens([replace(token, valid=on)])
        switched = replace(vehicle, networks=networks)
        uow.sessions.save_vehicle(switched)
    return switched
