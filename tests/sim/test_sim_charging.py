"""Charging in the running simulator: its T/CEC operators start, run and bill sessions for cars
plugged in through :meth:`Simulator.plug_in`, ask the platform for plug-and-charge, and keep the
status churn off the connectors that have a car."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.tcec.charging import (
    QueryStartChargeRequest,
    QueryStopChargeRequest,
)
from chargemesh.protocols.tcec.client import TcecClient
from chargemesh.protocols.tcec.codec import Secrets
from chargemesh.protocols.tcec.interfaces import Interface
from chargemesh.protocols.tcec.wire import dialect_of
from chargemesh.sim.charging import make_vehicle
from chargemesh.sim.country import Country
from chargemesh.sim.feeds import TcecOperatorFeed
from chargemesh.sim.manifest import PLATFORM_OPERATOR_ID, operator_secrets
from chargemesh.sim.operators import operator_by_id
from chargemesh.sim.runner import Simulator
from tests.sim.tcec_platform_stub import StubPlatform

PNC_OPERATOR = "MA1QQC017"  # CEC dialect, plug-and-charge on part of its piles
SEQ = PLATFORM_OPERATOR_ID + "202601100800000001"
PNC_SEQ = PLATFORM_OPERATOR_ID + "202601100800000002"


def call(sim: Simulator, op_id: str, request: Any) -> Any:
    op = operator_by_id(op_id)
    outbound, _ = operator_secrets(sim.country.seed, op)

    async def run() -> Any:
        async with httpx.AsyncClient(timeout=10) as http:
            client = TcecClient(
                base_url=sim.urls[op_id],
                operator_id=op_id,
                platform_operator_id=PLATFORM_OPERATOR_ID,
                secrets=Secrets(**outbound),
                dialect=dialect_of(op.dialect),
                http=http,
                retries=0,
            )
            if isinstance(request, QueryStartChargeRequest):
                return await client.start_charge(request)
            return await client.stop_charge(request)

    return asyncio.run(run())


def test_simulated_operators_charge_plugged_in_cars(country: Country) -> None:
    inbound = {
        op.id: Secrets(**operator_secrets(country.seed, op)[1])
        for op in country.operators
        if op.protocol == "tcec"
    }
    platform = StubPlatform(inbound)
    with (
        LoopbackServer(platform.app()) as ours,
        Simulator(
            country, platform_url=ours.url, churn_rate=0, time_scale=600, status_interval_s=0.2
        ) as sim,
    ):
        charging = sim.charging[PNC_OPERATOR]
        assert charging.plug_and_charge
        assert charging.matrix is sim.compatibility
        charging.start_delay_s = charging.stop_delay_s = 0.05
        feed = sim.feeds[PNC_OPERATOR]
        assert isinstance(feed, TcecOperatorFeed)

        # a scan start
        [cid] = sim.idle_connectors(PNC_OPERATOR, dc=True, plug_and_charge=False)
        pile = feed.pile_info(cid)
        assert pile is not None
        assert pile.dc
        assert not pile.plug_and_charge
        vehicle = make_vehicle(1, 1, model="lt-m3", soc=20)
        assert sim.plug_in(cid, vehicle).result(10) is None
        assert feed.held[feed.unit_of(cid) or 0]
        start = QueryStartChargeRequest(start_charge_seq=SEQ, connector_id=cid)
        assert call(sim, PNC_OPERATOR, start).succ_stat == 0
        result = Interface.NOTIFICATION_START_CHARGE_RESULT
        [started] = platform.wait_for(result, StartChargeSeq=SEQ)
        [attempt] = charging.attempts
        assert (attempt.manufacturer, attempt.model, attempt.firmware) == (
            pile.manufacturer,
            pile.model,
            pile.firmware,
        )
        assert attempt.failure is None  # the country's matrix lets this car start here
        assert started["StartChargeSeqStat"] == 2
        platform.wait_for(Interface.NOTIFICATION_EQUIP_CHARGE_STATUS, 2, StartChargeSeq=SEQ)
        # the churn leaves the connector alone while the car is there
        unit = feed.unit_of(cid)
        assert unit is not None
        sim.churn.step(20 * sim.churn.units)
        assert int(feed.status[unit]) == 3
        call(sim, PNC_OPERATOR, QueryStopChargeRequest(start_charge_seq=SEQ, connector_id=cid))
        [bill] = platform.wait_for(Interface.NOTIFICATION_CHARGE_ORDER_INFO, StartChargeSeq=SEQ)
        assert bill["TotalPower"] > 0
        sim.unplug(cid).result(10)
        assert int(feed.status[feed.unit_of(cid) or 0]) == 1
        assert not feed.held[feed.unit_of(cid) or 0]

        # plug-and-charge: the platform says go, the session starts by itself
        [pnc] = sim.idle_connectors(PNC_OPERATOR, plug_and_charge=True)
        car = make_vehicle(1, 2, model="dm-9", soc=30)
        platform.pnc_answers[car.vin] = {"SuccStat": 0, "StartChargeSeq": PNC_SEQ}
        said = sim.plug_in(pnc, car).result(10)
        assert said is not None
        assert said.succ_stat == 0
        [asked] = platform.all(Interface.NOTIFICATION_PLUG_AND_CHARGE)
        assert (asked["ConnectorID"], asked["VIN"]) == (pnc, car.vin)
        platform.wait_for(result, StartChargeSeq=PNC_SEQ)
        assert charging.attempts[-1].method == "plug_and_charge"

        # operators without plug-and-charge never ask
        plain = next(
            op.id
            for op in country.operators
            if op.protocol == "tcec" and "plug_and_charge" not in op.capabilities
        )
        [other] = sim.idle_connectors(plain)
        assert sim.plug_in(other, make_vehicle(1, 3)).result(10) is None
        assert len(platform.all(Interface.NOTIFICATION_PLUG_AND_CHARGE)) == 1
