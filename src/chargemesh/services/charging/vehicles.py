"""Drivers' vehicles: enabling plug-and-charge on a network is one unit of work (the EMAID
token an OCPI network authorizes by, and the vehicle's networks, commit together)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from chargemesh.domain import Token, TokenType
from chargemesh.domain.session import Vehicle
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
