"""Oversized protocol fields are refused at the door, through the real servers (issue 19, item 3).

OCPI: a Location PUT whose ``name`` is 5 MB or 256 characters (string(255) in 2.2.1) is answered
HTTP 400 with OCPI 2001 naming the field; the stored object and every nearby answer stay as they
were. 255 characters are accepted, and so are unknown fields (lenient). The platform here allows
16 MiB OCPI bodies, so that what refuses the 5 MB name is the field's bound and not the body's.

T/CEC: a pushed field beyond the standard's size (a 100 kB StartChargeSeq, a Status beyond 32
bits) is refused with Ret 4004 and nothing is kept, a 100 kB envelope Seq with Ret 4003; a
pulled station whose StationName is beyond 100 characters is left out of its page, the others
are stored.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from chargemesh.api.tcec import TcecPeer
from chargemesh.bootstrap import OcpiSettings, Platform, assemble
from chargemesh.config import BodyLimitsConfig
from chargemesh.domain import Capability, ConnectorStatus, Operator, OperatorProtocol
from chargemesh.events.relay import OutboxRelay
from chargemesh.protocols.address_guard import AddressPolicy
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.ocpi import mapping
from chargemesh.protocols.ocpi.transport import encode_token, format_datetime
from chargemesh.protocols.tcec.client import TcecClient
from chargemesh.protocols.tcec.codec import CHINA_TZ, Ret, open_response, seal_request
from chargemesh.protocols.tcec.interfaces import Interface
from chargemesh.protocols.tcec.stations import StationInfo
from chargemesh.services.feeds.ocpi_sync import OcpiSyncReport, sync_ocpi_operator
from chargemesh.services.feeds.tcec_sync import SyncReport, sync_tcec_operator
from chargemesh.sim.peers.ocpi.data import CpoNetwork
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
from chargemesh.sim.peers.tcec.network import OperatorNetwork
from chargemesh.sim.peers.tcec.push import PlatformPusher
from chargemesh.sim.peers.tcec.server import TcecOperatorServer
from chargemesh.store import Store
from tests.helpers import free_port, wait_for
from tests.peers.ocpi_samples import (
    CPO_PARTY,
    EMSP_PARTY,
    TOKEN_A,
    location,
    location_id,
    location_json,
)
from tests.peers.tcec_samples import (
    OPERATOR_ID,
    PLATFORM_ID,
    PLATFORM_SECRETS,
    PUSH_SECRETS,
    T0,
    connector_id,
    station,
)

# ============================================================================ OCPI

PARTY = "CN-LTC"
OCPI_OPERATOR = Operator(
    PARTY, "Lanting Charging", OperatorProtocol.OCPI, frozenset({Capability.REALTIME})
)
BEIJING = {"lat": 39.990475, "lon": 116.481499, "radius_km": 5, "coords": "wgs84"}
FIVE_MB = 5_000_000


@dataclass
class Ocpi:
    store: Store
    server: LoopbackServer
    token: str  # what the registered CPO pushes to us with
    platform: Platform
    network: CpoNetwork  # what the CPO serves to our pulls

    def sync(self) -> OcpiSyncReport:
        p = self.platform
        return self.server.call(
            sync_ocpi_operator(p.ocpi_connections, p.ocpi_locations, p.ocpi_objects, PARTY)
        )

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": encode_token(self.token)}
        url = f"{self.server.url}/ocpi/2.2.1/locations/CN/LTC{path}"
        return httpx.request(method, url, headers=headers, timeout=30, **kw)

    def held(self) -> dict[str, Any] | None:
        held = self.store.get_ocpi_object("locations", "CN", "LTC", location_id(1))
        return None if held is None else held.payload

    def nearby(self) -> bytes:
        answer = httpx.get(f"{self.server.url}/api/v1/stations/nearby", params=BEIJING)
        assert answer.status_code == 200
        return answer.content


@pytest.fixture
def ocpi(store: Store) -> Iterator[Ocpi]:
    """Our platform with the simulator's CPO registered, and location 1 pushed and searchable."""
    port = free_port()
    settings = OcpiSettings(
        public_url=f"http://127.0.0.1:{port}",
        country_code=EMSP_PARTY[0],
        party_id=EMSP_PARTY[1],
        operators={PARTY: OCPI_OPERATOR},
        fetch_policy=AddressPolicy.of(allow_loopback=True),  # the CPO listens on loopback
    )
    big_bodies = BodyLimitsConfig(ocpi_bytes=16 << 20)
    platform = assemble(store, ocpi=settings, body_limits=big_bodies)
    network = CpoNetwork(*CPO_PARTY)
    cpo = OcpiCpoServer(network, token_a=TOKEN_A)
    with LoopbackServer(platform.app(), port=port) as ours, LoopbackServer(cpo.app) as theirs:
        cpo.set_base_url(theirs.url)
        token_a = ours.call(platform.ocpi_connections.invite(PARTY))
        theirs.call(cpo.register_with(f"{ours.url}/ocpi/versions", token_a))
        party = store.get_ocpi_party(PARTY)
        assert party is not None
        assert party.token_in is not None
        side = Ocpi(store, ours, party.token_in, platform, network)
        assert side.call("PUT", f"/{location_id(1)}", json=location_json(1)).status_code == 200
        wait_for(lambda: b'"count":1' in side.nearby())
        yield side
        theirs.call(cpo.close())


def renamed(name: str, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Location 1 with a new name, newer than what we hold."""
    stamp = format_datetime(datetime.now(UTC) + timedelta(seconds=1))
    return location_json(1) | {"name": name, "last_updated": stamp} | (extra or {})


def assert_refused(answer: httpx.Response, problem: str) -> None:
    assert answer.status_code == 400
    body = answer.json()
    assert body["status_code"] == 2001
    assert problem in body["status_message"]
    assert len(answer.content) < 1000  # the message names the field, never quotes the value


def test_a_location_name_of_5_mb_is_refused_and_changes_nothing(ocpi: Ocpi) -> None:
    held, nearby = ocpi.held(), ocpi.nearby()
    answer = ocpi.call("PUT", f"/{location_id(1)}", json=renamed("长" * FIVE_MB))
    assert_refused(answer, "name: at most 255 characters")
    assert ocpi.held() == held
    assert ocpi.nearby() == nearby


def test_256_characters_are_refused_255_accepted_and_unknown_fields_ignored(ocpi: Ocpi) -> None:
    held, nearby = ocpi.held(), ocpi.nearby()
    answer = ocpi.call("PUT", f"/{location_id(1)}", json=renamed("长" * 256))
    assert_refused(answer, "name: at most 255 characters")
    assert ocpi.held() == held
    assert ocpi.nearby() == nearby
    # The longest name the spec allows, with fields we do not know (a newer version's, a
    # vendor's): accepted, the unknown fields dropped.
    name = "长" * 255
    extra = {"help_phone": "+86 10 0000 0000", "vendor_notes": {"anything": [1, 2, 3]}}
    answer = ocpi.call("PUT", f"/{location_id(1)}", json=renamed(name, extra=extra))
    assert answer.status_code == 200
    assert answer.json()["status_code"] == 1000
    stored = ocpi.held()
    assert stored is not None
    assert stored["name"] == name
    assert "help_phone" not in stored
    station = ocpi.store.get_station(mapping.location_key(PARTY, location_id(1)))
    assert station is not None
    assert station.name == name
    wait_for(lambda: name.encode() in ocpi.nearby())


def test_oversized_evse_and_connector_fields_are_refused_and_change_nothing(ocpi: Ocpi) -> None:
    held, nearby = ocpi.held(), ocpi.nearby()
    evse = f"/{location_id(1)}/{location_id(1)}-DC"
    now = format_datetime(datetime.now(UTC) + timedelta(seconds=1))
    evse_json = location_json(1)["evses"][0] | {"last_updated": now}
    connector = evse_json["connectors"][0]
    cases = [  # (method, path, body, the problem named)
        ("PATCH", evse, {"status": "X" * 65, "last_updated": now}, "status: at most 64"),
        ("PUT", evse, evse_json | {"physical_reference": "P" * 17}, "at most 16 characters"),
        ("PUT", evse, evse_json | {"connectors": [connector] * 101}, "at most 100 items"),
        (
            "PUT",
            f"{evse}/1",
            connector | {"tariff_ids": ["T" * 37], "last_updated": now},
            "tariff_ids[0]: at most 36 characters",
        ),
        (
            "PATCH",
            f"/{location_id(1)}",
            {"coordinates": {"latitude": "39." + "9" * 100, "longitude": "116.4"}},
            "latitude is not a decimal number",
        ),
    ]
    for method, path, body, problem in cases:
        assert_refused(ocpi.call(method, path, json=body | {"last_updated": now}), problem)
    assert ocpi.held() == held
    assert ocpi.nearby() == nearby


def test_a_pulled_location_with_an_oversized_name_is_left_out_and_the_others_stored(
    ocpi: Ocpi,
) -> None:
    """A partner's answer to our pull is held to the same sizes: its 5 MB name never reaches
    the registry; the rest of the page does. (The CPO's data is changed without validation, as
    a careless CPO's would be.)"""
    ocpi.network.put_location(location(2).model_copy(update={"name": "x" * FIVE_MB}))
    ocpi.network.put_location(location(3).model_copy(update={"name": "长" * 256}))
    ocpi.network.put_location(location(4))
    report = ocpi.sync()
    assert (report.locations, report.rejected) == (1, 2)
    for n, kept in ((2, False), (3, False), (4, True)):
        station = ocpi.store.get_station(mapping.location_key(PARTY, location_id(n)))
        assert (station is not None) is kept
    assert ocpi.store.counts().stations == 2  # location 1 (pushed) and 4


# ============================================================================ T/CEC

TCEC_OPERATOR = Operator(
    OPERATOR_ID, "Lanting Charging", OperatorProtocol.TCEC, frozenset({Capability.REALTIME})
)
STATIONS = 3


@dataclass
class Tcec:
    store: Store
    network: OperatorNetwork
    operator_url: str  # the simulator's T/CEC base
    platform_url: str  # ours: …/tcec/v1/
    relay: OutboxRelay
    rejected: int = 0  # stations the last sync's client left out

    def sync(self) -> SyncReport:
        async def run() -> SyncReport:
            async with httpx.AsyncClient(timeout=30) as http:
                client = TcecClient(
                    base_url=self.operator_url,
                    operator_id=OPERATOR_ID,
                    platform_operator_id=PLATFORM_ID,
                    secrets=PLATFORM_SECRETS,
                    dialect="cec",
                    http=http,
                )
                report = await sync_tcec_operator(
                    client, TCEC_OPERATOR, self.store, self.relay, page_size=10
                )
                self.rejected = client.rejected_stations
                return report

        return asyncio.run(run())

    def push(self, interface: Interface, payload: dict[str, Any], seq: str) -> dict[str, Any]:
        """``payload`` sealed and signed as the operator, sent with a fresh token; the answer's
        envelope with its ``Data`` opened."""

        async def token() -> str:
            async with httpx.AsyncClient(timeout=30) as http:
                pusher = PlatformPusher(self.platform_url, OPERATOR_ID, PUSH_SECRETS, "cec", http)
                return await pusher.token()

        sealed = seal_request(
            OPERATOR_ID, payload, PUSH_SECRETS, seq=seq, timestamp=datetime.now(CHINA_TZ)
        )
        answer = httpx.post(
            self.platform_url + str(interface),
            content=json.dumps(sealed).encode(),
            headers={
                "Authorization": f"Bearer {asyncio.run(token())}",
                "Content-Type": "application/json",
            },
            timeout=30,
        )
        assert answer.status_code == 200
        envelope: dict[str, Any] = answer.json()
        if envelope["Ret"] == Ret.OK:
            envelope["Data"] = open_response(answer.content, PUSH_SECRETS)
        return envelope


@pytest.fixture
def tcec(store: Store) -> Iterator[Tcec]:
    network = OperatorNetwork([station(n) for n in range(STATIONS)], changed_at=T0)
    operator = TcecOperatorServer(OPERATOR_ID, "cec", network, {PLATFORM_ID: PLATFORM_SECRETS})
    platform = assemble(store, {OPERATOR_ID: TcecPeer(OPERATOR_ID, PUSH_SECRETS, "cec")})
    with LoopbackServer(operator.app) as op_server, LoopbackServer(platform.app()) as ours:
        yield Tcec(
            store,
            network,
            operator.base_url(op_server.url),
            f"{ours.url}/tcec/v1/",
            platform.relay,
        )


def unvalidated(base: StationInfo, **changes: Any) -> StationInfo:
    """A station as a careless operator holds it: changed without validation (the simulator's
    server writes whatever its network holds)."""
    return base.model_copy(update=changes)


def test_a_pulled_station_with_an_oversized_name_is_left_out_and_the_others_stored(
    tcec: Tcec,
) -> None:
    tcec.network.put_station(unvalidated(station(STATIONS), station_name="长" * 101), changed_at=T0)
    tcec.network.put_station(
        unvalidated(station(STATIONS + 1), station_name="x" * 500_000), changed_at=T0
    )
    tcec.network.put_station(
        unvalidated(station(STATIONS + 2), station_name="长" * 100), changed_at=T0
    )
    report = tcec.sync()
    assert tcec.rejected == 2
    assert report.stations == STATIONS + 1
    assert tcec.store.get_station(f"{OPERATOR_ID}:LT{STATIONS:06d}") is None
    assert tcec.store.get_station(f"{OPERATOR_ID}:LT{STATIONS + 1:06d}") is None
    kept = tcec.store.get_station(f"{OPERATOR_ID}:LT{STATIONS + 2:06d}")
    assert kept is not None
    assert kept.name == "长" * 100
    assert tcec.store.counts().stations == STATIONS + 1


def bill(**changes: Any) -> dict[str, Any]:
    return {
        "StartChargeSeq": f"{PLATFORM_ID}{1:018d}",
        "ConnectorID": connector_id(1, 1, 1),
        "StartTime": "2026-11-20 08:00:00",
        "EndTime": "2026-11-20 08:40:00",
        "TotalPower": 30.5,
        "TotalElecMoney": 10,
        "TotalSeviceMoney": 5,
        "TotalMoney": 15,
    } | changes


def bills(tcec: Tcec) -> list[dict[str, Any]]:
    kept = tcec.store.inbox("tcec", str(Interface.NOTIFICATION_CHARGE_ORDER_INFO), OPERATOR_ID)
    return [m.payload for m in kept]


def test_pushed_fields_beyond_their_size_are_refused_and_nothing_is_kept(tcec: Tcec) -> None:
    tcec.sync()
    cid = connector_id(1, 1, 1)
    key = f"{OPERATOR_ID}:LT000001:LT00000101:{cid}"
    history = tcec.store.status_history(key)
    cases = [  # (interface, payload, the field named)
        (Interface.NOTIFICATION_CHARGE_ORDER_INFO, bill(StartChargeSeq="9" * 100_000), "Start"),
        (Interface.NOTIFICATION_CHARGE_ORDER_INFO, bill(TotalMoney="1e999999"), "TotalMoney"),
        (
            Interface.NOTIFICATION_STATION_STATUS,
            {"ConnectorStatusInfo": {"ConnectorID": cid, "Status": 2**40}},
            "Status",
        ),
        (
            Interface.NOTIFICATION_STATION_STATUS,
            {"ConnectorStatusInfo": {"ConnectorID": cid + "9" * 1000, "Status": 3}},
            "ConnectorID",
        ),
    ]
    for n, (interface, payload, field) in enumerate(cases):
        answer = tcec.push(interface, payload, seq=f"{n + 1:04d}")
        assert answer["Ret"] == Ret.INVALID_PARAMETER, (interface, field)
        assert field in answer["Msg"]
        assert len(answer["Msg"]) < 500
    # A well-formed push in an envelope whose Seq (kept by the replay guard) is 100 kB.
    status = {"ConnectorStatusInfo": {"ConnectorID": cid, "Status": 3}}
    answer = tcec.push(Interface.NOTIFICATION_STATION_STATUS, status, seq="1" * 100_000)
    assert answer["Ret"] == Ret.MALFORMED
    assert answer["Msg"] == "envelope field Seq: at most 32 characters"
    assert bills(tcec) == []
    assert tcec.store.status_history(key) == history
    # Within the sizes, a field we do not know changes nothing: accepted (lenient).
    answer = tcec.push(
        Interface.NOTIFICATION_CHARGE_ORDER_INFO, bill(VendorNote="夜间优惠"), seq="0100"
    )
    assert answer["Ret"] == Ret.OK
    assert answer["Data"]["StartChargeSeq"] == f"{PLATFORM_ID}{1:018d}"
    assert [b["StartChargeSeq"] for b in bills(tcec)] == [f"{PLATFORM_ID}{1:018d}"]
    status = {"ConnectorStatusInfo": {"ConnectorID": cid, "Status": 3, "Vendor": 1}}
    assert tcec.push(Interface.NOTIFICATION_STATION_STATUS, status, seq="0101")["Ret"] == Ret.OK
    got = tcec.store.get_station(f"{OPERATOR_ID}:LT000001")
    assert got is not None
    assert next(c.status for c in got.connectors if c.source_id == cid) is ConnectorStatus.CHARGING
