"""The simulated T/CEC operator's charging over loopback HTTP: a real operator server with
:class:`TcecOperatorCharging` attached, the platform played by a stub that records every
notification."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

import httpx
import pytest

from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.tcec.charging import (
    START_FAILURE_TEXT,
    NotificationChargeOrderInfoRequest,
    NotificationEquipChargeStatusRequest,
    QueryEquipChargeStatusRequest,
    QueryEquipChargeStatusResponse,
    QueryStartChargeRequest,
    QueryStartChargeResponse,
    QueryStopChargeRequest,
    QueryStopChargeResponse,
    StartChargeRefusal,
    StartFailure,
    StopChargeRefusal,
)
from chargemesh.protocols.tcec.client import TcecClient
from chargemesh.protocols.tcec.codec import Ret, TcecError
from chargemesh.protocols.tcec.interfaces import Interface
from chargemesh.protocols.tcec.stations import StationInfo
from chargemesh.protocols.tcec.wire import DIALECTS, Dialect
from chargemesh.sim.charging import (
    BadSlice,
    CompatibilityMatrix,
    FailureReason,
    SimVehicle,
    make_vehicle,
)
from chargemesh.sim.peers.tcec.charging import ConnectorOccupied, TcecOperatorCharging
from chargemesh.sim.peers.tcec.network import OperatorNetwork
from chargemesh.sim.peers.tcec.server import TcecOperatorServer
from tests.helpers import wait_for
from tests.peers.tcec_samples import (
    OPERATOR_ID,
    PLATFORM_ID,
    PLATFORM_SECRETS,
    PUSH_SECRETS,
    T0,
    connector_id,
    station,
)
from tests.sim.tcec_platform_stub import StubPlatform

T = TypeVar("T")
DC = connector_id(0, 1, 1)  # 120 kW DC gun
DC2 = connector_id(0, 1, 2)
AC = connector_id(0, 2, 1)  # 7 kW AC
MAKER, DC_MODEL, AC_MODEL = "砺新电气", "LX-DC120-2", "LX-AC7-S"
START = Interface.NOTIFICATION_START_CHARGE_RESULT
STATUS = Interface.NOTIFICATION_EQUIP_CHARGE_STATUS
STOP = Interface.NOTIFICATION_STOP_CHARGE_RESULT
BILL = Interface.NOTIFICATION_CHARGE_ORDER_INFO
STATION = Interface.NOTIFICATION_STATION_STATUS
PNC = Interface.NOTIFICATION_PLUG_AND_CHARGE


def seq(n: int) -> str:
    return f"{PLATFORM_ID}2026011008000{n:05d}"


def piles(n: int) -> StationInfo:
    """Sample station ``n`` with its piles' maker and model filled in."""
    base = station(n)
    models = {"01": DC_MODEL, "02": AC_MODEL}
    equipment = tuple(
        e.model_copy(
            update={"manufacturer_name": MAKER, "equipment_model": models[e.equipment_id[-2:]]}
        )
        for e in base.equipment_infos
    )
    return base.model_copy(update={"equipment_infos": equipment})


@dataclass
class World:
    network: OperatorNetwork
    server: TcecOperatorServer
    charging: TcecOperatorCharging
    platform: StubPlatform
    operator_url: str
    dialect: Dialect

    def call(self, use: Callable[[TcecClient], Coroutine[Any, Any, T]]) -> T:
        async def run() -> T:
            async with httpx.AsyncClient(timeout=10) as http:
                client = TcecClient(
                    base_url=self.operator_url,
                    operator_id=OPERATOR_ID,
                    platform_operator_id=PLATFORM_ID,
                    secrets=PLATFORM_SECRETS,
                    dialect=self.dialect,
                    http=http,
                    retries=0,
                    backoff_s=0.01,
                )
                return await use(client)

        return asyncio.run(run())

    def start(self, sequence: str, connector: str = DC) -> QueryStartChargeResponse:
        request = QueryStartChargeRequest(
            start_charge_seq=sequence, connector_id=connector, qr_code=f"hlht://{connector}"
        )
        return self.call(lambda c: c.start_charge(request))

    def stop(self, sequence: str, connector: str = DC) -> QueryStopChargeResponse:
        request = QueryStopChargeRequest(start_charge_seq=sequence, connector_id=connector)
        return self.call(lambda c: c.stop_charge(request))

    def status(self, sequence: str) -> QueryEquipChargeStatusResponse:
        request = QueryEquipChargeStatusRequest(start_charge_seq=sequence)
        return self.call(lambda c: c.charge_status(request))

    def connector(self, cid: str = DC) -> int:
        info = self.network.connector_status(cid)
        assert info is not None
        return info.status


@pytest.fixture(params=["cec"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    dialect: Dialect = request.param
    network = OperatorNetwork([piles(n) for n in range(2)], changed_at=T0)
    network.firmware = {"LT00000001": "V2.3.1", "LT00000002": "V1.5.0"}
    server = TcecOperatorServer(OPERATOR_ID, dialect, network, {PLATFORM_ID: PLATFORM_SECRETS})
    platform = StubPlatform({OPERATOR_ID: PUSH_SECRETS})
    with LoopbackServer(server.app) as op, LoopbackServer(platform.app()) as ours:
        charging = TcecOperatorCharging(
            OPERATOR_ID,
            network,
            platform_url=f"{ours.url}/tcec/v1/",
            secrets=PUSH_SECRETS,
            dialect=dialect,
            matrix=CompatibilityMatrix.never_failing(),
            time_scale=600.0,  # a real second is ten minutes of charging
            status_interval_s=0.2,
            start_delay_s=0.05,
            stop_delay_s=0.05,
            retry_s=(0.05, 0.2),
        ).attach(server)
        try:
            yield World(network, server, charging, platform, server.base_url(op.url), dialect)
        finally:
            charging.close()


def car(soc: float = 20.0, target: float = 90.0, model: str = "lt-m3", n: int = 1) -> SimVehicle:
    return make_vehicle(11, n, model=model, soc=soc, target_soc=target)


def money(value: Any) -> Decimal:
    return Decimal(str(value))


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def check_live(push: dict[str, Any]) -> None:
    """A live status is consistent: money adds up, kW follows from V × A."""
    live = NotificationEquipChargeStatusRequest.model_validate(push)
    assert live.total_money == (live.elec_money or 0) + (live.service_money or 0)
    assert live.sum_period == len(live.charge_details) >= 1
    assert round(sum(d.detail_power for d in live.charge_details), 3) == live.total_power
    for detail in live.charge_details:
        assert detail.elec_price is not None
        assert detail.service_price is not None
        kwh = Decimal(str(detail.detail_power))
        assert detail.detail_elec_money == (kwh * detail.elec_price).quantize(Decimal("0.01"))
        assert detail.detail_service_money == (kwh * detail.service_price).quantize(Decimal("0.01"))


# ----------------------------------------------------------------------------- a whole session


@pytest.mark.parametrize("world", DIALECTS, indirect=True)
def test_a_scan_start_charges_pushes_its_status_and_stops_with_a_bill(world: World) -> None:
    assert world.charging.plug_in(DC, car()).result(10) is None  # no plug-and-charge here
    world.platform.wait_for(STATION, ConnectorStatusInfo={"ConnectorID": DC, "Status": 2})

    answer = world.start(seq(1))
    assert (answer.succ_stat, answer.start_charge_seq_stat, answer.fail_reason) == (0, 1, 0)
    [started] = world.platform.wait_for(START, StartChargeSeq=seq(1))
    assert started["StartChargeSeqStat"] == 2
    assert started["ConnectorID"] == DC
    assert "FailReason" not in started
    world.platform.wait_for(STATION, ConnectorStatusInfo={"ConnectorID": DC, "Status": 3})
    assert world.connector() == 3

    lives = world.platform.wait_for(STATUS, 3, StartChargeSeq=seq(1))
    for push in lives:
        check_live(push)
        assert (push["StartChargeSeqStat"], push["ConnectorStatus"]) == (2, 3)
        assert push["StartTime"] == started["StartTime"]
    energy = [push["TotalPower"] for push in lives]
    assert energy == sorted(energy)
    assert energy[-1] > energy[0]
    assert lives[-1]["Soc"] > 20.0
    last = lives[-1]
    early = lives[1]  # 2 simulated minutes in, far from the taper at 55 %
    kw = early["VoltageA"] * early["CurrentA"] / 1000
    assert kw == pytest.approx(120, abs=0.1)  # the 120 kW pile caps the 170 kW car

    live = world.status(seq(1))
    assert (live.start_charge_seq_stat, live.connector_status) == (2, 3)
    assert live.total_power >= last["TotalPower"]

    stopping = world.stop(seq(1))
    assert (stopping.succ_stat, stopping.start_charge_seq_stat) == (0, 3)
    [stopped] = world.platform.wait_for(STOP, StartChargeSeq=seq(1))
    assert (stopped["StartChargeSeqStat"], stopped["SuccStat"]) == (4, 0)
    [bill_payload] = world.platform.wait_for(BILL, StartChargeSeq=seq(1))
    bill = NotificationChargeOrderInfoRequest.model_validate(bill_payload)
    assert bill.stop_reason == 1  # stopped by the platform
    assert bill.total_money == bill.total_elec_money + bill.total_service_money
    assert bill.total_power >= last["TotalPower"]
    assert bill.start_time == started["StartTime"]
    assert round(sum(d.detail_power for d in bill.charge_details), 3) == bill.total_power
    # the last live push says it ended; the car is still there: occupied, not charging
    final = world.platform.wait_for(STATUS, StartChargeSeq=seq(1), StartChargeSeqStat=4)
    assert final[-1]["TotalPower"] == bill.total_power
    assert world.connector() == 2
    world.platform.wait_for(STATION, 2, ConnectorStatusInfo={"ConnectorID": DC, "Status": 2})
    # the energy stopped with the stop: nothing more afterwards
    after = world.status(seq(1))
    assert (after.start_charge_seq_stat, after.total_power) == (4, bill.total_power)
    assert after.total_money == bill.total_money
    again = world.stop(seq(1))
    assert (again.succ_stat, again.start_charge_seq_stat) == (0, 4)
    # the order of the notifications
    names = [n for n in world.platform.names() if n != STATION]
    assert names[0] == START
    assert names[-1] == BILL
    assert names.index(STOP) < names.index(BILL)
    assert world.charging.bills[seq(1)] == bill
    [attempt] = world.charging.attempts
    assert (attempt.manufacturer, attempt.model, attempt.firmware) == (MAKER, DC_MODEL, "V2.3.1")
    assert (attempt.method, attempt.failure) == ("scan", None)


def test_prices_follow_the_published_business_policy(world: World) -> None:
    world.network.policy = (
        world.network.policy[0].model_copy(
            update={"start_time": "000000", "elec_price": Decimal("1.2"),
                    "service_price": Decimal("0.5")}
        ),
    )  # fmt: skip
    world.charging.plug_in(AC, car(model="hw-k60")).result(10)
    world.start(seq(2), AC)
    world.platform.wait_for(STATUS, 2, StartChargeSeq=seq(2))
    live = world.platform.all(STATUS, StartChargeSeq=seq(2))[-1]
    details = live["ChargeDetails"]
    assert {(d["ElecPrice"], d["SevicePrice"]) for d in details} == {(1.2, 0.5)}
    kw = live["VoltageA"] * live["CurrentA"] / 1000
    assert kw == pytest.approx(7.0, abs=0.05)  # the car's 7 kW on-board charger, one phase
    world.stop(seq(2), AC)
    world.platform.wait_for(BILL, StartChargeSeq=seq(2))


def test_a_car_that_reaches_its_target_stops_by_itself(world: World) -> None:
    world.charging.plug_in(DC, car(soc=78.0, target=80.0)).result(10)
    world.start(seq(3))
    [bill] = world.platform.wait_for(BILL, StartChargeSeq=seq(3))
    assert bill["StopReason"] == 2  # the BMS ended it
    assert world.platform.all(STOP, StartChargeSeq=seq(3))[0]["StartChargeSeqStat"] == 4
    assert bill["TotalPower"] == pytest.approx(0.02 * 74, abs=0.002)  # 2 % of 74 kWh
    final = world.status(seq(3))
    assert final.soc == 80.0
    assert world.connector() == 2


def test_unplugging_ends_the_session_and_frees_the_connector(world: World) -> None:
    world.charging.plug_in(DC, car()).result(10)
    world.start(seq(4))
    world.platform.wait_for(STATUS, 2, StartChargeSeq=seq(4))
    world.charging.unplug(DC).result(10)
    [bill] = world.platform.wait_for(BILL, StartChargeSeq=seq(4))
    assert bill["StopReason"] == 4
    assert world.connector() == 1
    world.platform.wait_for(STATION, ConnectorStatusInfo={"ConnectorID": DC, "Status": 1})
    assert world.charging.vehicle_at(DC) is None
    # a new car may come
    world.charging.plug_in(DC, car(n=2)).result(10)
    assert world.connector() == 2


# ----------------------------------------------------------------------------- refusals


def test_a_start_is_refused_without_a_car_or_on_a_busy_or_broken_connector(world: World) -> None:
    nothing = world.start(seq(10))
    assert (nothing.succ_stat, nothing.fail_reason) == (1, StartChargeRefusal.NO_VEHICLE)
    world.charging.plug_in(DC, car()).result(10)
    assert world.start(seq(11)).succ_stat == 0
    busy = world.start(seq(12))
    assert (busy.succ_stat, busy.fail_reason) == (1, StartChargeRefusal.BUSY)
    twice = world.start(seq(11))  # a retried request: the same session, nothing new
    assert twice.succ_stat == 0
    elsewhere = world.start(seq(11), DC2)
    assert (elsewhere.succ_stat, elsewhere.fail_reason) == (1, StartChargeRefusal.DUPLICATE_SEQ)
    world.network.set_status(DC2, 255)
    world.charging.plug_in(DC2, car(n=3)).result(10)
    assert world.connector(DC2) == 255  # a faulted pile stays faulted with a car at it
    faulted = world.start(seq(13), DC2)
    assert (faulted.succ_stat, faulted.fail_reason) == (1, StartChargeRefusal.FAULTED)
    world.network.set_status(AC, 0)
    world.charging.plug_in(AC, car(n=4, model="hw-k60")).result(10)
    offline = world.start(seq(14), AC)
    assert (offline.succ_stat, offline.fail_reason) == (1, StartChargeRefusal.OFFLINE)
    with pytest.raises(TcecError) as unknown:
        world.start(seq(15), "MA6LTCD01nope")
    assert unknown.value.ret is Ret.INVALID_PARAMETER
    with pytest.raises(ConnectorOccupied):
        world.charging.plug_in(DC, car(n=5))
    world.platform.wait_for(START, StartChargeSeq=seq(11))
    assert len(world.platform.all(START)) == 1  # only the accepted one
    stop_unknown = world.stop(seq(16))
    assert (stop_unknown.succ_stat, stop_unknown.fail_reason) == (
        1,
        StopChargeRefusal.NO_SUCH_SESSION,
    )
    with pytest.raises(TcecError):
        world.status(seq(16))


def test_a_connector_occupied_by_someone_else_cannot_take_a_car(world: World) -> None:
    world.network.set_status(DC, 3)
    with pytest.raises(ConnectorOccupied):
        world.charging.plug_in(DC, car())
    with pytest.raises(KeyError):
        world.charging.plug_in("MA6LTCD01nope", car())


def test_a_compatibility_failure_is_reported_with_its_reason(world: World) -> None:
    vehicle = car(model="km-e3")
    insulation = FailureReason.INSULATION_CHECK_FAILED
    world.charging.matrix = CompatibilityMatrix(
        bad_slices=(BadSlice("km-e3", MAKER, DC_MODEL, "V2.3.1", 1.0, insulation),)
    )
    world.charging.plug_in(DC, vehicle).result(10)
    world.start(seq(20))
    [failed] = world.platform.wait_for(START, StartChargeSeq=seq(20))
    assert failed["StartChargeSeqStat"] == 4
    assert failed["FailReason"] == StartFailure.INSULATION_CHECK_FAILED == 3
    assert failed["FailReasonMsg"] == START_FAILURE_TEXT[StartFailure.INSULATION_CHECK_FAILED]
    assert world.connector() == 2  # the car is still there, nothing charges
    assert world.status(seq(20)).start_charge_seq_stat == 4
    [attempt] = world.charging.attempts
    assert attempt.failure is FailureReason.INSULATION_CHECK_FAILED
    assert (attempt.vehicle_model, attempt.vin) == ("km-e3", vehicle.vin)
    # another car of another model starts on the same pile
    world.charging.plug_in(DC2, car(n=7)).result(10)
    world.start(seq(21), DC2)
    [ok] = world.platform.wait_for(START, StartChargeSeq=seq(21))
    assert ok["StartChargeSeqStat"] == 2
    assert not world.platform.all(STATUS, StartChargeSeq=seq(20))
    assert not world.platform.all(BILL, StartChargeSeq=seq(20))


def test_an_operator_that_never_answers(world: World) -> None:
    world.charging.silent_starts = True
    world.charging.plug_in(DC, car()).result(10)
    answer = world.start(seq(30))
    assert (answer.succ_stat, answer.start_charge_seq_stat) == (0, 1)
    pushed = len(world.platform.received)
    asyncio.run(asyncio.sleep(0.6))
    assert world.platform.all(START) == []
    assert world.connector() == 2  # nothing charges
    assert world.status(seq(30)).start_charge_seq_stat == 1  # still "starting"
    stop = world.stop(seq(30))
    assert (stop.succ_stat, stop.start_charge_seq_stat) == (0, 4)
    asyncio.run(asyncio.sleep(0.3))
    assert len(world.platform.received) == pushed  # not a word
    assert world.charging.session_at(DC) is None
    # the operator heals: the same car starts under a new sequence
    world.charging.silent_starts = False
    assert world.start(seq(31)).succ_stat == 0
    world.platform.wait_for(START, StartChargeSeq=seq(31))


def test_a_bill_that_disagrees_with_the_live_data(world: World) -> None:
    world.charging.bill_adjust[seq(40)] = Decimal("5.00")
    world.charging.plug_in(DC, car()).result(10)
    world.start(seq(40))
    world.platform.wait_for(STATUS, 2, StartChargeSeq=seq(40))
    world.stop(seq(40))
    [bill] = world.platform.wait_for(BILL, StartChargeSeq=seq(40))
    final = world.status(seq(40))  # what the live data says at the end
    assert final.total_money is not None
    assert money(bill["TotalMoney"]) == final.total_money + Decimal("5.00")
    assert bill["TotalPower"] == final.total_power
    assert money(bill["TotalElecMoney"]) == final.elec_money
    assert money(bill["TotalMoney"]) == money(bill["TotalElecMoney"]) + money(
        bill["TotalSeviceMoney"]
    )
    # the daily reconciliation lists the bill as it was sent
    answer = world.charging.check_charge_orders().result(10)
    assert answer.total_dispute_order == 0
    [check] = world.platform.all(Interface.CHECK_CHARGE_ORDERS)
    assert check["OrderCount"] == 1
    assert check["ChargeOrders"] == [
        {
            "StartChargeSeq": seq(40),
            "TotalPower": bill["TotalPower"],
            "TotalMoney": bill["TotalMoney"],
        }
    ]


def test_a_platform_restarting_mid_session_still_gets_the_bill(world: World) -> None:
    world.charging.plug_in(DC, car()).result(10)
    world.start(seq(50))
    world.platform.wait_for(STATUS, 2, StartChargeSeq=seq(50))
    world.platform.down = True
    world.stop(seq(50))
    asyncio.run(asyncio.sleep(0.5))
    assert world.charging.push_failures[str(STOP)] >= 1
    world.platform.down = False
    world.platform.wait_for(STOP, StartChargeSeq=seq(50))
    [bill] = world.platform.wait_for(BILL, StartChargeSeq=seq(50))
    assert bill["StopReason"] == 1


# ----------------------------------------------------------------------------- plug-and-charge


def test_plug_and_charge_asks_the_platform_and_starts_when_it_says_go(world: World) -> None:
    world.network.plug_and_charge = {DC, DC2}
    world.charging.plug_and_charge = True
    known, stranger = car(n=1), car(n=2, model="by-t9")
    world.platform.pnc_answers[known.vin] = {"SuccStat": 0, "StartChargeSeq": seq(60)}

    answer = world.charging.plug_in(DC, known).result(10)
    assert answer is not None
    assert (answer.succ_stat, answer.start_charge_seq) == (0, seq(60))
    [asked] = world.platform.all(PNC)
    assert (asked["VIN"], asked["ConnectorID"]) == (known.vin, DC)
    assert asked["PlugAndChargeSeq"].startswith(OPERATOR_ID)
    assert len(asked["PlugAndChargeSeq"]) == 27
    [started] = world.platform.wait_for(START, StartChargeSeq=seq(60))
    assert started["StartChargeSeqStat"] == 2
    world.platform.wait_for(STATUS, 2, StartChargeSeq=seq(60))
    assert world.charging.attempts[0].method == "plug_and_charge"
    # the status went to "plugged in" before the request
    names = world.platform.names()
    assert names.index(STATION) < names.index(PNC) < names.index(START)

    refused = world.charging.plug_in(DC2, stranger).result(10)
    assert refused is not None
    assert (refused.succ_stat, refused.fail_reason) == (1, 1)
    asyncio.run(asyncio.sleep(0.3))
    assert world.charging.session_at(DC2) is None
    assert world.connector(DC2) == 2  # the driver may still scan
    world.start(seq(61), DC2)
    world.platform.wait_for(START, StartChargeSeq=seq(61))

    # a pile without plug-and-charge asks nothing
    assert world.charging.plug_in(AC, car(n=3, model="hw-k60")).result(10) is None
    assert len(world.platform.all(PNC)) == 2
    world.stop(seq(60))
    world.platform.wait_for(BILL, StartChargeSeq=seq(60))


def test_plug_and_charge_is_off_unless_the_network_does_it(world: World) -> None:
    world.network.plug_and_charge = True  # the piles could …
    vehicle = car()
    world.platform.pnc_answers[vehicle.vin] = {"SuccStat": 0, "StartChargeSeq": seq(70)}
    assert world.charging.plug_in(DC, vehicle).result(10) is None  # … the network does not
    wait_for(lambda: world.platform.all(STATION) != [])
    assert world.platform.all(PNC) == []


def test_plug_and_charge_without_an_answer_starts_nothing(world: World) -> None:
    world.network.plug_and_charge = True
    world.charging.plug_and_charge = True
    vehicle = car()
    world.platform.pnc_answers[vehicle.vin] = {"SuccStat": 0, "StartChargeSeq": seq(80)}
    world.platform.down = True
    with pytest.raises(httpx.HTTPStatusError):
        world.charging.plug_in(DC, vehicle).result(10)
    world.platform.down = False
    assert world.charging.session_at(DC) is None
    assert world.connector() == 2
    assert world.charging.session_state(seq(80)) is None


def test_with_arriving_cars_a_scan_start_brings_its_car(world: World) -> None:
    world.charging.arriving_cars = lambda _connector: car(n=7)
    answer = world.start(seq(70))
    assert (answer.succ_stat, answer.fail_reason) == (0, 0)
    [started] = world.platform.wait_for(START, StartChargeSeq=seq(70))
    assert started["StartChargeSeqStat"] == 2
    assert world.charging.vehicle_at(DC) == car(n=7)
