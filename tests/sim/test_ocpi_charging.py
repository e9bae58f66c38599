"""Charging at the simulator's OCPI operators, against the real platform over loopback: a car
plugged in through the Simulator, plug-and-charge authorized by the platform, a START_SESSION
refused at a pile that cannot be started remotely, one failed by the compatibility matrix, and a
command start that runs to its CDR along the simulator's power curve."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chargemesh.domain import Token, TokenType
from chargemesh.protocols.ocpi.enums import CommandType
from chargemesh.protocols.ocpi.models import StartSession, StopSession
from chargemesh.protocols.ocpi.transport import format_datetime
from chargemesh.services.charging.ocpi_commands import CommandOutcome
from chargemesh.services.feeds.ocpi_sync import ensure_registered
from chargemesh.sim.charging import BadSlice, CompatibilityMatrix, FailureReason, make_vehicle
from tests.helpers import wait_for
from tests.sim.conftest import SEED, World

PNC = "CN-LHA"  # every pile plug-and-charge, all remotely startable
PARTIAL = "CN-LTA"  # 60 % of the piles can be started by scan


def fast(world: World, op_id: str) -> None:
    charging = world.sim.ocpi_servers[op_id].charging
    charging.session_update_s = 0.1
    charging.time_scale = 600
    world.sim.ocpi_charging[op_id].matrix = CompatibilityMatrix.never_failing()
    world.server.call(
        ensure_registered(world.platform.ocpi_connections, world.config.operator(op_id))
    )


def start(world: World, op_id: str, evse_uid: str, reference: str) -> CommandOutcome:
    fields = {
        "token": {
            "country_code": "CN",
            "party_id": "CMH",
            "uid": "APP0001",
            "type": "APP_USER",
            "contract_id": "CN-CMH-C000001",
            "issuer": "chargemesh",
            "valid": True,
            "whitelist": "ALLOWED",
            "last_updated": format_datetime(datetime.now(UTC)),
        },
        "location_id": evse_uid.rpartition("-")[0],
        "evse_uid": evse_uid,
        "authorization_reference": reference,
    }
    send = world.platform.ocpi_commands.send(
        op_id, CommandType.START_SESSION, fields, model=StartSession
    )
    outcome: CommandOutcome = world.server.call(send)
    return outcome


def session_payload(world: World, session_id: str) -> dict[str, Any] | None:
    for held in world.store.list_ocpi_objects("sessions"):
        if held.object_id.upper() == session_id.upper():
            return held.payload
    return None


def cdr_payload(world: World, session_id: str) -> dict[str, Any] | None:
    for held in world.store.list_ocpi_objects("cdrs"):
        if held.payload.get("session_id") == session_id:
            return held.payload
    return None


def test_plug_and_charge_at_a_simulated_ocpi_operator(world: World) -> None:
    fast(world, PNC)
    evse = world.sim.idle_evses(PNC, plug_and_charge=True)[0]
    pile = world.sim.ocpi_pile(PNC, evse)
    assert pile is not None
    assert pile.plug_and_charge
    car = make_vehicle(SEED, 1, model="lh-s5", emaid=True, soc=30)
    assert car.emaid is not None
    now = datetime.now(UTC)
    world.store.upsert_tokens([Token(car.emaid, TokenType.EMAID, "CN-CMH-C000042", "cm", now)])
    session = world.sim.plug_in_evse(PNC, evse, car)
    assert session is not None
    assert session.auth_method == "AUTH_REQUEST"
    assert session.authorization_reference
    assert world.sim.feeds[PNC].held.sum() == 1  # the churn leaves that EVSE alone
    assert world.sim.idle_evses(PNC, count=100).count(evse) == 0
    live = wait_for(
        lambda: (
            (s := session_payload(world, session.id))
            and len(s.get("charging_periods", [])) > 1
            and s
        )
    )
    assert live["authorization_reference"] == session.authorization_reference
    assert live["kwh"] > 0
    cdr = world.sim.unplug_evse(PNC, evse)
    assert cdr is not None
    received = wait_for(lambda: cdr_payload(world, session.id))
    assert received["authorization_reference"] == session.authorization_reference
    assert received["total_energy"] == cdr.total_energy
    assert world.sim.feeds[PNC].held.sum() == 0


def test_command_starts_at_a_partner_that_only_partly_allows_them(world: World) -> None:
    fast(world, PARTIAL)
    remote = world.sim.idle_evses(PARTIAL, remote_start=True)[0]
    local = world.sim.idle_evses(PARTIAL, remote_start=False)[0]
    car = make_vehicle(SEED, 2, model="lt-m3", soc=40)
    world.sim.plug_in_evse(PARTIAL, local, car)
    refused = start(world, PARTIAL, local, "REF-LOCAL")
    assert refused.response == "REJECTED"
    assert refused.message == "this EVSE cannot be started remotely"
    world.sim.unplug_evse(PARTIAL, local)

    # The compatibility matrix decides: this car on this pile always fails, with its reason.
    pile = world.sim.ocpi_pile(PARTIAL, remote)
    assert pile is not None
    bad = BadSlice("lt-m3", pile.manufacturer, pile.model, pile.firmware, 1.0,
                   FailureReason.BMS_HANDSHAKE_TIMEOUT)  # fmt: skip
    world.sim.ocpi_charging[PARTIAL].matrix = CompatibilityMatrix(SEED, 0.0, (bad,))
    assert world.sim.plug_in_evse(PARTIAL, remote, car) is None
    failed = start(world, PARTIAL, remote, "REF-BAD")
    assert (failed.response, failed.result) == ("ACCEPTED", "FAILED")
    assert failed.message == "bms_handshake_timeout"

    world.sim.ocpi_charging[PARTIAL].matrix = CompatibilityMatrix.never_failing()
    started = start(world, PARTIAL, remote, "REF-GOOD")
    assert started.accepted
    held = wait_for(
        lambda: [
            s.payload
            for s in world.store.list_ocpi_objects("sessions")
            if s.payload.get("authorization_reference") == "REF-GOOD"
        ]
    )
    sid = held[0]["id"]
    wait_for(lambda: (s := session_payload(world, sid)) and s["kwh"] > 0)
    stop = world.server.call(
        world.platform.ocpi_commands.send(
            PARTIAL, CommandType.STOP_SESSION, {"session_id": sid}, model=StopSession
        )
    )
    assert stop.accepted
    cdr = wait_for(lambda: cdr_payload(world, sid))
    assert cdr["authorization_reference"] == "REF-GOOD"
    assert cdr["cdr_token"]["uid"] == "APP0001"
    assert cdr["total_energy"] > 0
    assert cdr["total_cost"]["excl_vat"] == pytest.approx(cdr["total_energy"] * 1.2, abs=0.02)
    charging = world.sim.ocpi_servers[PARTIAL].charging
    wait_for(lambda: charging.vehicle_at(remote.rpartition("-")[0], remote) is None)  # it left
