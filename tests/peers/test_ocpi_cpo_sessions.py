"""Charging at the simulated OCPI CPO, over loopback HTTP against the real platform: START_SESSION
with a car plugged in, live Session PATCHes, STOP_SESSION and the CDR; refusals and failures;
silent operators; plug-and-charge with real-time authorization; a CDR that disagrees.

What the platform received is read from its store (``list_ocpi_objects("sessions"|"cdrs")``):
nothing here reaches into the platform's objects otherwise.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chargemesh.bootstrap import OcpiSettings, Platform, assemble
from chargemesh.domain import (
    Capability,
    ConnectorStatus,
    Operator,
    OperatorProtocol,
    Token,
    TokenStanding,
    TokenType,
)
from chargemesh.domain.session import StartMethod, Vehicle
from chargemesh.protocols.address_guard import AddressPolicy
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.ocpi import mapping
from chargemesh.protocols.ocpi.enums import CommandType, Status
from chargemesh.protocols.ocpi.models import (
    Connector,
    Location,
    Session,
    StartSession,
    StopSession,
    Tariff,
    parse,
)
from chargemesh.protocols.ocpi.transport import format_datetime
from chargemesh.services.charging.ocpi_commands import CommandOutcome
from chargemesh.services.feeds.ocpi_sync import sync_ocpi_operator
from chargemesh.sim.charging import (
    SimVehicle,
    VehicleModel,
    charge_power_kw,
    make_vehicle,
    make_vin,
)
from chargemesh.sim.peers.ocpi.charge import charge_run
from chargemesh.sim.peers.ocpi.data import CpoNetwork
from chargemesh.sim.peers.ocpi.pricing import PricedPeriod, session_costs
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
from chargemesh.store import OcpiObject, Store, open_store
from tests.factories import valid_vin
from tests.helpers import free_port, wait_for
from tests.peers.ocpi_samples import (
    CPO_PARTY,
    EMSP_PARTY,
    T0,
    TOKEN_A,
    location_id,
    locations,
)

PARTY = "CN-LTC"
OPERATOR = Operator(
    PARTY,
    "Lanting Charging",
    OperatorProtocol.OCPI,
    frozenset({Capability.REALTIME, Capability.SCAN, Capability.PLUG_AND_CHARGE}),
)
LOC = location_id(2)
DC = f"{LOC}-DC"
AC = f"{LOC}-AC"
EMAID = "CNCMSC000000427"
FLEET = 14  # the seed of the cars below: the simulator's cars, one model for both protocols


def sim_car(
    n: int, model: str, *, soc: float = 20.0, target_soc: float = 80.0, emaid: str | None = None
) -> SimVehicle:
    """Car ``n`` of a seeded fleet, of a model of the simulator's (battery, limits, curve)."""
    return make_vehicle(FLEET, n, model=model, soc=soc, target_soc=target_soc, emaid=emaid)


CAR = sim_car(1, "yc-aster", soc=30, target_soc=90)  # 96 kWh, 340 kW DC


@dataclass
class Peers:
    store: Store
    platform: Platform
    emsp: LoopbackServer
    network: CpoNetwork
    cpo: OcpiCpoServer
    cpo_server: LoopbackServer

    def send(self, command: CommandType, fields: dict[str, Any], model: Any) -> CommandOutcome:
        outcome: CommandOutcome = self.emsp.call(
            self.platform.ocpi_commands.send(PARTY, command, fields, model=model)
        )
        return outcome

    def start(self, evse: str = DC, reference: str = "REF-0001", **extra: Any) -> CommandOutcome:
        fields = {
            "token": app_token(),
            "location_id": LOC,
            "evse_uid": evse,
            "connector_id": "1",
            "authorization_reference": reference,
            **extra,
        }
        return self.send(CommandType.START_SESSION, fields, StartSession)

    def stop(self, session_id: str) -> CommandOutcome:
        return self.send(CommandType.STOP_SESSION, {"session_id": session_id}, StopSession)

    def plug_in(self, vehicle: SimVehicle = CAR, evse: str = DC) -> Session | None:
        session: Session | None = self.cpo_server.call(self.cpo.plug_in(LOC, evse, vehicle))
        return session

    def sessions(self) -> list[OcpiObject]:
        return self.store.list_ocpi_objects("sessions")

    def session(self, session_id: str) -> dict[str, Any] | None:
        held = self.store.get_ocpi_object("sessions", *CPO_PARTY, session_id)
        return held.payload if held else None

    def cdr(self, session_id: str) -> dict[str, Any] | None:
        held = [c for c in self.store.list_ocpi_objects("cdrs")]
        found = [c.payload for c in held if c.payload.get("session_id") == session_id]
        return found[0] if found else None

    def status(self, evse: str = DC) -> ConnectorStatus:
        station = self.store.get_station(mapping.location_key(PARTY, LOC))
        assert station is not None
        wanted = mapping.connector_key(PARTY, LOC, evse, "1")
        return next(c.status for c in station.connectors if c.id == wanted)


def app_token() -> dict[str, Any]:
    return {
        "country_code": EMSP_PARTY[0],
        "party_id": EMSP_PARTY[1],
        "uid": "APP0001",
        "type": "APP_USER",
        "contract_id": "CN-CMS-C000001",
        "issuer": "chargemesh",
        "valid": True,
        "whitelist": "ALLOWED",
        "last_updated": format_datetime(T0),
    }


@pytest.fixture(name="p")
def peers(tmp_path: Path) -> Iterator[Peers]:
    store = open_store(f"sqlite:///{tmp_path / 'chargemesh.db'}")
    try:
        yield from peers_on(store)
    finally:
        store.close()


def peers_on(store: Store) -> Iterator[Peers]:
    """The platform on ``store`` and the CPO, registered with each other, on loopback."""
    port = free_port()
    settings = OcpiSettings(
        public_url=f"http://127.0.0.1:{port}",
        country_code=EMSP_PARTY[0],
        party_id=EMSP_PARTY[1],
        operators={PARTY: OPERATOR},
        command_min_wait_s=0.5,
        fetch_policy=AddressPolicy.of(allow_loopback=True),  # the CPO listens on loopback
    )
    platform = assemble(store, ocpi=settings)
    network = CpoNetwork(*CPO_PARTY, locations=locations(3))
    cpo = OcpiCpoServer(
        network,
        token_a=TOKEN_A,
        command_delay_s=0.01,
        backoff_s=0.01,
        session_update_s=0.1,
        time_scale=600,
    )
    with (
        LoopbackServer(platform.app(), port=port) as emsp,
        LoopbackServer(cpo.app) as cpo_server,
    ):
        cpo.set_base_url(cpo_server.url)
        p = Peers(store, platform, emsp, network, cpo, cpo_server)
        emsp.call(
            platform.ocpi_connections.register_with(
                PARTY, f"{cpo_server.url}/ocpi/versions", TOKEN_A
            )
        )
        yield p
        if cpo_server.running:  # a test may have taken the CPO down
            for session in cpo.charging.active_sessions():  # nothing left running
                cpo_server.call(cpo.charging.stop(session.id))
            cpo_server.call(cpo.close())


def sync(p: Peers) -> None:
    platform = p.platform
    p.emsp.call(
        sync_ocpi_operator(
            platform.ocpi_connections, platform.ocpi_locations, platform.ocpi_objects, PARTY
        )
    )


def dims(period: dict[str, Any]) -> dict[str, float]:
    return {d["type"]: d["volume"] for d in period["dimensions"]}


def with_evse(location: Location, evse_uid: str, **changes: Any) -> Location:
    evses = [e.model_copy(update=changes) if e.uid == evse_uid else e for e in location.evses or []]
    return location.model_copy(update={"evses": evses})


# --------------------------------------------------------------------------- start, run, stop


def test_a_command_start_charges_with_live_updates_and_a_stop_brings_the_cdr(p: Peers) -> None:
    sync(p)
    assert p.plug_in() is None  # no command yet: the car waits
    outcome = p.start(reference="REF-START-1")
    assert (outcome.response, outcome.result) == ("ACCEPTED", "ACCEPTED")

    # The Session PUT carries the command's authorization_reference, the token and COMMAND.
    held = wait_for(p.sessions)
    assert len(held) == 1
    sid = held[0].object_id
    first = held[0].payload
    assert first["authorization_reference"] == "REF-START-1"
    assert first["auth_method"] == "COMMAND"
    assert first["status"] == "ACTIVE"
    assert first["cdr_token"]["uid"] == "APP0001"
    assert (first["location_id"], first["evse_uid"], first["connector_id"]) == (LOC, DC, "1")
    assert first["currency"] == "CNY"
    wait_for(lambda: p.status() is ConnectorStatus.CHARGING)

    # PATCHes: kWh grows, periods are appended with ENERGY, POWER, TIME and SoC, cost follows.
    live = wait_for(lambda: (s := p.session(sid)) and len(s.get("charging_periods", [])) >= 3 and s)
    assert live["kwh"] > 0
    periods = live["charging_periods"]
    assert all(set(dims(x)) == {"ENERGY", "POWER", "TIME", "STATE_OF_CHARGE"} for x in periods)
    assert sum(dims(x)["ENERGY"] for x in periods) == pytest.approx(live["kwh"], abs=0.01)
    socs = [dims(x)["STATE_OF_CHARGE"] for x in periods]
    assert socs == sorted(socs)
    assert socs[0] > CAR.soc
    assert dims(periods[0])["POWER"] == pytest.approx(120, rel=0.02)  # the EVSE's 120 kW cap
    assert live["total_cost"]["excl_vat"] == pytest.approx(live["kwh"] * 1.2, abs=0.02)
    assert live["total_cost"]["incl_vat"] == pytest.approx(live["kwh"] * 1.2 * 1.13, abs=0.02)

    stop = p.stop(sid)
    assert (stop.response, stop.result) == ("ACCEPTED", "ACCEPTED")
    cdr = wait_for(lambda: p.cdr(sid))
    final = p.session(sid)
    assert final is not None
    assert final["status"] == "COMPLETED"
    assert final["end_date_time"] == cdr["end_date_time"]
    assert cdr["authorization_reference"] == "REF-START-1"
    assert cdr["auth_method"] == "COMMAND"
    assert cdr["cdr_token"]["uid"] == "APP0001"
    assert cdr["total_energy"] == final["kwh"]
    assert cdr["total_cost"] == final["total_cost"]
    assert cdr["total_energy_cost"] == cdr["total_cost"]
    assert cdr["total_time"] > 0
    assert len(cdr["charging_periods"]) == len(final["charging_periods"])
    assert cdr["cdr_location"]["evse_uid"] == DC
    assert cdr["cdr_location"]["connector_standard"] == "GBT_DC"
    assert cdr["tariffs"][0]["id"] == "DEFAULT"
    assert cdr["remark"] == "stopped by the eMSP"
    wait_for(lambda: p.status() is ConnectorStatus.AVAILABLE)
    wait_for(lambda: p.cpo.charging.vehicle_at(LOC, DC) is None)  # the car left
    # A second stop: the session has ended.
    assert p.stop(sid).response == "REJECTED"
    assert p.stop("NO-SUCH-SESSION").response == "UNKNOWN_SESSION"


def test_a_car_reaching_its_target_soc_stops_by_itself(p: Peers) -> None:
    p.plug_in(sim_car(2, "fy-mini", soc=70, target_soc=75), evse=AC)  # 17 kWh
    assert p.start(evse=AC).accepted
    held = wait_for(p.sessions)
    sid = held[0].object_id
    cdr = wait_for(lambda: p.cdr(sid))
    assert cdr["remark"] == "the vehicle reached its target state of charge"
    assert cdr["total_energy"] == pytest.approx(17 * 0.05, abs=0.01)
    last = cdr["charging_periods"][-1]
    assert dims(last)["STATE_OF_CHARGE"] == 75
    assert all(dims(x)["POWER"] <= 7 for x in cdr["charging_periods"])  # the AC EVSE's 7 kW
    session = p.session(sid)
    assert session is not None
    assert session["status"] == "COMPLETED"


def test_a_start_that_waits_for_the_car_and_one_that_does_not(p: Peers) -> None:
    assert p.start(reference="REF-EARLY").accepted  # accepted: the charger waits for a car
    assert p.sessions() == []
    session = p.plug_in()
    assert session is not None
    assert session.authorization_reference == "REF-EARLY"
    wait_for(lambda: p.session(session.id))
    p.cpo.charging.plug_in_timeout_s = 0
    outcome = p.start(evse=AC)
    assert outcome.result == "FAILED"
    assert outcome.message == "no vehicle is plugged in"


# --------------------------------------------------------------------------- refusals, failures


def test_a_pile_that_cannot_be_started_remotely_is_rejected(p: Peers) -> None:
    loc = p.network.location(LOC)
    assert loc is not None
    p.network.put_location(with_evse(loc, DC, capabilities=["RFID_READER"]))
    p.plug_in()
    outcome = p.start()
    assert outcome.response == "REJECTED"
    assert outcome.message == "this EVSE cannot be started remotely"
    assert outcome.result is None
    time.sleep(0.2)
    assert p.sessions() == []
    assert p.cpo.sent_results == []


def test_an_occupied_or_inoperative_evse_fails_the_start(p: Peers) -> None:
    p.plug_in()
    p.network.set_evse_status(LOC, DC, Status.CHARGING, datetime.now(UTC))
    occupied = p.start()
    assert occupied.result == "EVSE_OCCUPIED"
    p.network.set_evse_status(LOC, DC, Status.OUTOFORDER, datetime.now(UTC))
    assert p.start().result == "EVSE_INOPERATIVE"
    assert p.sessions() == []


def test_the_compatibility_decision_fails_a_start_with_its_reason(p: Peers) -> None:
    def check(vehicle: SimVehicle, *_: Any) -> str | None:
        return "bms_handshake_timeout" if vehicle.model.id == "lt-m3" else None

    p.cpo.charging.start_check = check
    p.plug_in(sim_car(3, "lt-m3"))
    outcome = p.start()
    assert (outcome.response, outcome.result) == ("ACCEPTED", "FAILED")
    assert outcome.message == "bms_handshake_timeout"
    assert p.sessions() == []
    failed = p.cpo.charging.attempts[-1]
    assert (failed.outcome, failed.reason, failed.vehicle_model) == (
        "FAILED",
        "bms_handshake_timeout",
        "lt-m3",
    )
    sent = wait_for(lambda: p.cpo.sent_results)
    assert sent[-1].message == "bms_handshake_timeout"


def test_a_silent_operator_accepts_and_then_does_nothing(p: Peers) -> None:
    p.plug_in()
    p.cpo.command_timeout_s = 0  # the platform waits its minimum
    p.cpo.silent_commands = True
    outcome = p.start()
    assert outcome.response == "ACCEPTED"
    assert outcome.timed_out
    p.cpo.silent_commands = False
    p.cpo.command_outcomes[CommandType.START_SESSION] = None  # the older knob: the same
    assert p.start().timed_out
    time.sleep(0.3)
    assert p.sessions() == []
    assert p.cpo.charging.session_at(LOC, DC) is None
    assert p.cpo.sent_results == []


# --------------------------------------------------------------------------- plug and charge


def emaid_token(uid: str, standing: TokenStanding = TokenStanding.ALLOWED) -> Token:
    now = datetime.now(UTC)
    return Token(uid, TokenType.EMAID, f"CN-CMS-{uid[-6:]}", "chargemesh", now, standing=standing)


def test_plug_and_charge_starts_by_itself_with_the_emsps_authorization(p: Peers) -> None:
    p.store.upsert_tokens([emaid_token(EMAID)])
    p.cpo.charging.plug_and_charge = True
    session = p.plug_in(sim_car(4, "lh-s5", soc=40, emaid=EMAID))
    assert session is not None
    given = p.store.inbox("ocpi", "authorization", PARTY)
    assert [g.payload["allowed"] for g in given] == ["ALLOWED"]
    assert given[0].payload["type"] == "emaid"
    assert given[0].payload["location"] == {"location_id": LOC, "evse_uids": [DC]}
    reference = given[0].payload["authorization_reference"]
    assert session.authorization_reference == reference
    held = wait_for(lambda: p.session(session.id))
    assert held["auth_method"] == "AUTH_REQUEST"
    assert held["authorization_reference"] == reference
    assert held["cdr_token"]["uid"] == EMAID
    assert held["cdr_token"]["type"] == "EMAID"
    wait_for(lambda: (s := p.session(session.id)) and s.get("charging_periods"))
    cdr = p.cpo_server.call(p.cpo.unplug(LOC, DC))
    assert cdr is not None
    received = wait_for(lambda: p.cdr(session.id))
    assert received["auth_method"] == "AUTH_REQUEST"
    assert received["authorization_reference"] == reference
    assert received["remark"] == "the vehicle was unplugged"


def test_plug_and_charge_is_allowed_only_on_the_networks_the_driver_chose(p: Peers) -> None:
    """The car's EMAID token is one for every OCPI network; a network the driver did not
    switch plug-and-charge on for is answered NOT_ALLOWED, and no session starts."""
    sync(p)  # the platform knows the CPO's EVSEs
    emaid = "CNCMSC000000777"
    p.store.upsert_tokens([emaid_token(emaid)])
    car = Vehicle("v-pnc", "acct-pnc", valid_vin(77), "lh-s5", emaid,
                  networks=frozenset({"CN-XYZ"}))  # another network only  # fmt: skip
    p.store.save_vehicle(car)
    p.cpo.charging.plug_and_charge = True
    assert p.plug_in(sim_car(7, "lh-s5", emaid=emaid)) is None
    given = p.store.inbox("ocpi", "authorization", PARTY)
    assert [g.payload["allowed"] for g in given] == ["NOT_ALLOWED"]
    time.sleep(0.2)
    assert p.store.account_sessions("acct-pnc") == []
    assert p.cpo_server.call(p.cpo.unplug(LOC, DC)) is None
    # switched on for this network too: allowed, and the session is the driver's
    p.store.save_vehicle(dataclasses.replace(car, networks=frozenset({"CN-XYZ", PARTY})))
    assert p.plug_in(sim_car(7, "lh-s5", emaid=emaid)) is not None
    mine = wait_for(lambda: p.store.account_sessions("acct-pnc"))
    assert mine[0].method is StartMethod.PLUG_AND_CHARGE


def test_plug_and_charge_that_is_not_allowed_starts_nothing(p: Peers) -> None:
    p.store.upsert_tokens([emaid_token("CNCMSC000000999", TokenStanding.BLOCKED)])
    p.cpo.charging.plug_and_charge = lambda location_id, evse_uid: evse_uid.endswith("-DC")
    blocked = sim_car(5, "lh-s5", emaid="CNCMSC000000999")
    assert p.plug_in(blocked) is None
    unknown = sim_car(6, "lh-s5", emaid="CNCMSC000000555")
    assert p.plug_in(unknown, evse=AC) is None
    assert p.cpo_server.call(p.cpo.unplug(LOC, AC)) is None
    # AC is not a plug-and-charge EVSE here: nothing was asked
    assert [a.outcome for a in p.cpo.charging.attempts] == ["BLOCKED"]
    p.cpo.charging.plug_and_charge = True
    assert p.plug_in(unknown, evse=AC) is None
    assert [a.outcome for a in p.cpo.charging.attempts][-1] == "AUTHORIZATION_FAILED"
    time.sleep(0.2)
    assert p.sessions() == []
    given = p.store.inbox("ocpi", "authorization", PARTY)
    assert [g.payload["allowed"] for g in given] == ["BLOCKED"]


# --------------------------------------------------------------------------- the bill


def test_a_cdr_adjustment_makes_the_bill_disagree_with_the_session(p: Peers) -> None:
    p.cpo.charging.cdr_adjust = 5.0
    p.plug_in()
    assert p.start().accepted
    sid = wait_for(p.sessions)[0].object_id
    wait_for(lambda: (s := p.session(sid)) and s["kwh"] > 0)
    assert p.stop(sid).accepted
    cdr = wait_for(lambda: p.cdr(sid))
    final = p.session(sid)
    assert final is not None
    assert cdr["total_cost"]["excl_vat"] == pytest.approx(final["total_cost"]["excl_vat"] + 5.0)
    assert cdr["total_cost"]["incl_vat"] == pytest.approx(final["total_cost"]["incl_vat"] + 5.0)
    assert cdr["total_energy_cost"] == final["total_cost"]  # only the total disagrees


# --------------------------------------------------------------------------- the models


def dc_connector(kw: int) -> Connector:
    return Connector(
        id="1",
        standard="GBT_DC",
        format="CABLE",
        power_type="DC",
        max_voltage=750,
        max_amperage=250,
        max_electric_power=kw * 1000,
        last_updated=T0,
    )


def test_the_charge_is_the_simulators_curve_capped_by_the_connector_tapering_after_55() -> None:
    """The CPO charges a car along the one curve of the simulator (``ChargeRun`` over
    ``charge_power_kw``, as the T/CEC operators do), capped by the connector's rating."""
    model = VehicleModel("x", "X", "X", 100, 200, 11, 400, 55, False, "LXX", "X1A1A")
    car = SimVehicle(make_vin(model, 1), model, soc=10, target_soc=99)
    run = charge_run(car, dc_connector(120))
    assert (run.pile_kw, run.dc) == (120, True)

    def power_kw(soc: float) -> float:
        return charge_power_kw(model, soc, run.pile_kw, dc=run.dc)

    assert power_kw(30) == 120  # the EVSE caps
    assert power_kw(model.taper_soc) == 120
    assert power_kw(90) < power_kw(80) < 120  # the car tapers below the cap
    assert power_kw(99) == pytest.approx(200 * (0.05 + 0.95 * (1 / 45) ** 1.3), rel=0.01)
    state = run.snapshot_after(1800)  # half an hour at 120 kW from 10 %
    assert state.energy_kwh == pytest.approx(60, rel=0.01)
    assert state.soc == pytest.approx(70, rel=0.01)
    assert run.snapshot_after(36_000).soc == pytest.approx(99)  # full, then nothing more
    assert run.snapshot_after(36_000).power_kw == 0
    assert run.snapshot_after(600).energy_kwh == pytest.approx(20, rel=0.01)  # earlier again


def test_session_costs_follow_the_tariff_elements_and_vat() -> None:
    tariff = parse(
        Tariff,
        {
            "country_code": "CN",
            "party_id": "LTC",
            "id": "TOU",
            "currency": "CNY",
            "elements": [
                {"price_components": [{"type": "FLAT", "price": 2, "vat": 10, "step_size": 1}]},
                {
                    "price_components": [
                        {"type": "ENERGY", "price": 0.5, "vat": 10, "step_size": 1}
                    ],
                    "restrictions": {"start_time": "23:00", "end_time": "07:00"},
                },
                {
                    "price_components": [
                        {"type": "ENERGY", "price": 1.5, "vat": 10, "step_size": 1},
                        {"type": "TIME", "price": 3, "step_size": 60},
                    ]
                },
            ],
            "last_updated": format_datetime(T0),
        },
    )
    night = datetime(2026, 1, 10, 16, 0, tzinfo=UTC)  # 00:00 in Shanghai
    day = night + timedelta(hours=9)
    slices = [
        PricedPeriod(night, 0.5, 10.0, 20.0, 50.0, 0.0, 0.0),
        PricedPeriod(day, 1.0, 4.0, 4.0, 60.0, 10.0, 1800.0),
    ]
    costs = session_costs(tariff, slices, "Asia/Shanghai")
    assert costs.fixed == pytest.approx((2.0, 2.2))
    assert costs.energy == pytest.approx((10 * 0.5 + 4 * 1.5, (10 * 0.5 + 4 * 1.5) * 1.1))
    assert costs.time == pytest.approx((1.5 * 3, 1.5 * 3))  # TIME: no VAT given
    assert costs.total.excl_vat == pytest.approx(2 + 11 + 4.5)


def test_with_arriving_cars_a_command_start_brings_its_car(p: Peers) -> None:
    sync(p)
    p.cpo.charging.arriving_cars = lambda _location, _evse: CAR
    outcome = p.start(reference="REF-ARRIVES")
    assert (outcome.response, outcome.result) == ("ACCEPTED", "ACCEPTED")
    held = wait_for(p.sessions)
    assert held[0].payload["authorization_reference"] == "REF-ARRIVES"
    assert held[0].payload["status"] == "ACTIVE"
