"""T/CEC end to end over loopback HTTP: a real operator server (the simulator's) and our platform
(its /tcec/v1/ endpoints, the client, the sync, the store), each on its own port."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from chargemesh.api.tcec import TcecPeer
from chargemesh.bootstrap import Platform, assemble, tcec_peers
from chargemesh.bus import EventBus
from chargemesh.config import parse_config
from chargemesh.domain import (
    Capability,
    ConnectorStatus,
    Operator,
    OperatorProtocol,
    StatusChanged,
)
from chargemesh.events.relay import OutboxRelay
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.tcec.charging import (
    CheckChargeOrdersRequest,
    NotificationChargeOrderInfoRequest,
    QueryEquipAuthRequest,
    QueryEquipBusinessPolicyRequest,
)
from chargemesh.protocols.tcec.client import TcecClient, client_from_config
from chargemesh.protocols.tcec.codec import CHINA_TZ, Ret, Secrets, TcecError, seal_request
from chargemesh.protocols.tcec.interfaces import Interface
from chargemesh.protocols.tcec.stations import ConnectorStatusInfo, NotificationStationStatusRequest
from chargemesh.protocols.tcec.wire import DIALECTS, Dialect, dump
from chargemesh.services.feeds.tcec_sync import SyncReport, poll_tcec_status, sync_tcec_operator
from chargemesh.sim.peers.tcec.network import OperatorNetwork
from chargemesh.sim.peers.tcec.push import PlatformPusher
from chargemesh.sim.peers.tcec.server import TcecOperatorServer
from chargemesh.store import Store
from tests.peers.tcec_samples import (
    OPERATOR_ID,
    PLATFORM_ID,
    PLATFORM_SECRETS,
    PUSH_SECRETS,
    SECRET_TEXTS,
    STATION_COUNT,
    T0,
    connector_id,
    station,
)

OPERATOR = Operator(
    OPERATOR_ID,
    "Lanting Charging",
    OperatorProtocol.TCEC,
    frozenset({Capability.REALTIME, Capability.SCAN}),
)
OTHER_OPERATOR_ID = "MA7QYEV02"
OTHER_PUSH_SECRETS = Secrets("qy-op-secret-001", "qy-data-key-0001", "qy-data-iv-00001", "qy-sig")


@dataclass
class Country:
    network: OperatorNetwork
    operator: TcecOperatorServer
    operator_url: str
    platform: Platform
    platform_url: str  # our T/CEC base, as operators are told: …/tcec/v1/
    store: Store
    dialect: Dialect


@pytest.fixture(params=DIALECTS)
def country(request: pytest.FixtureRequest, store: Store) -> Iterator[Country]:
    dialect: Dialect = request.param
    network = OperatorNetwork([station(n) for n in range(STATION_COUNT)], changed_at=T0)
    operator = TcecOperatorServer(OPERATOR_ID, dialect, network, {PLATFORM_ID: PLATFORM_SECRETS})
    peers = {
        OPERATOR_ID: TcecPeer(OPERATOR_ID, PUSH_SECRETS, dialect),
        OTHER_OPERATOR_ID: TcecPeer(OTHER_OPERATOR_ID, OTHER_PUSH_SECRETS, dialect),
    }
    platform = assemble(store, peers)
    with LoopbackServer(operator.app) as op_server, LoopbackServer(platform.app()) as our_server:
        yield Country(
            network,
            operator,
            operator.base_url(op_server.url),
            platform,
            f"{our_server.url}/tcec/v1/",
            store,
            dialect,
        )


def client_for(country: Country, http: httpx.AsyncClient) -> TcecClient:
    return TcecClient(
        base_url=country.operator_url,
        operator_id=OPERATOR_ID,
        platform_operator_id=PLATFORM_ID,
        secrets=PLATFORM_SECRETS,
        dialect=country.dialect,
        http=http,
        backoff_s=0.01,
    )


def sync(country: Country, page_size: int = 10) -> SyncReport:
    async def run() -> SyncReport:
        async with httpx.AsyncClient(timeout=10) as http:
            return await sync_tcec_operator(
                client_for(country, http),
                OPERATOR,
                country.store,
                country.platform.relay,
                page_size=page_size,
            )

    return asyncio.run(run())


def ours(cid: str, n: int = 0) -> str:
    return f"{OPERATOR_ID}:LT{n:06d}:LT{n:06d}01:{cid}"


def status_of(store: Store, n: int, cid: str) -> ConnectorStatus:
    got = store.get_station(f"{OPERATOR_ID}:LT{n:06d}")
    assert got is not None
    return next(c.status for c in got.connectors if c.source_id == cid)


def push(country: Country, info: ConnectorStatusInfo, secrets: Secrets = PUSH_SECRETS) -> dict:
    async def run() -> dict:
        async with httpx.AsyncClient(timeout=10) as http:
            pusher = PlatformPusher(
                country.platform_url, OPERATOR_ID, secrets, country.dialect, http
            )
            return await pusher.push_status(info)

    return asyncio.run(run())


def test_a_multi_page_network_syncs_with_its_live_status(country: Country) -> None:
    country.network.set_status(connector_id(3, 1, 1), 3)  # charging
    country.network.set_status(connector_id(4, 2, 1), 255)  # faulted
    report = sync(country, page_size=10)
    assert (report.pages, report.stations, report.added) == (3, STATION_COUNT, STATION_COUNT)
    counts = country.store.counts()
    assert (counts.stations, counts.evses, counts.connectors) == (23, 46, 69)
    beijing = country.store.get_station(f"{OPERATOR_ID}:LT000000")
    assert beijing is not None
    assert beijing.county_adcode == "110105"
    highway = country.store.get_station(f"{OPERATOR_ID}:LT000006")
    assert highway is not None
    assert highway.highway_service_area  # Construction 11
    assert status_of(country.store, 3, connector_id(3, 1, 1)) is ConnectorStatus.CHARGING
    assert status_of(country.store, 4, connector_id(4, 2, 1)) is ConnectorStatus.FAULTED
    assert status_of(country.store, 5, connector_id(5, 1, 2)) is ConnectorStatus.AVAILABLE
    # A second sync finds nothing new.
    again = sync(country, page_size=10)
    assert (again.added, again.changed, again.unchanged) == (0, 0, STATION_COUNT)


def test_a_signed_push_changes_the_connector_and_reaches_the_bus(country: Country) -> None:
    sync(country)
    seen: list[StatusChanged] = []
    country.platform.bus.subscribe(StatusChanged, seen.append)
    cid = connector_id(7, 1, 2)
    answer = push(country, country.network.set_status(cid, 3))
    assert answer == {"Status": 0}
    assert status_of(country.store, 7, cid) is ConnectorStatus.CHARGING
    assert [(e.connector_id, e.status, e.source) for e in seen] == [
        (f"{OPERATOR_ID}:LT000007:LT00000701:{cid}", ConnectorStatus.CHARGING, "tcec:push")
    ]
    history = country.store.status_history(f"{OPERATOR_ID}:LT000007:LT00000701:{cid}")
    assert [(h.previous, h.status, h.source, h.source_code) for h in history] == [
        (ConnectorStatus.UNKNOWN, ConnectorStatus.AVAILABLE, "tcec:poll", "1"),  # the sync's poll
        (ConnectorStatus.AVAILABLE, ConnectorStatus.CHARGING, "tcec:push", "3"),
    ]


def post_raw(country: Country, body: object, token: str | None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(
        country.platform_url + "notification_stationStatus",
        content=content,
        headers={**headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200
    answer: dict = response.json()
    return answer


def fresh_token(
    country: Country, operator_id: str = OPERATOR_ID, secrets: Secrets = PUSH_SECRETS
) -> str:
    async def run() -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            return await PlatformPusher(
                country.platform_url, operator_id, secrets, country.dialect, http
            ).token()

    return asyncio.run(run())


def signed_push(
    cid: str,
    status: int,
    secrets: Secrets = PUSH_SECRETS,
    sender: str = OPERATOR_ID,
    seq: str = "0001",
) -> dict:
    info = ConnectorStatusInfo(connector_id=cid, status=status)
    payload = dump(NotificationStationStatusRequest(connector_status_info=info))
    return seal_request(sender, payload, secrets, seq=seq, timestamp=datetime.now(CHINA_TZ))


def test_bad_pushes_get_their_ret_and_change_nothing(country: Country) -> None:
    sync(country)
    cid = connector_id(2, 1, 1)
    token = fresh_token(country)
    before = country.store.status_history(ours(cid, 2))

    tampered = signed_push(cid, 255)
    tampered["Sig"] = "0" * 32
    assert post_raw(country, tampered, token)["Ret"] == Ret.BAD_SIGNATURE

    assert post_raw(country, signed_push(cid, 255, seq="0002"), None)["Ret"] == Ret.BAD_TOKEN
    assert (
        post_raw(country, signed_push(cid, 255, seq="0003"), "stale-token")["Ret"] == Ret.BAD_TOKEN
    )
    country.platform.tcec.tokens.revoke_all()  # every token issued so far has expired
    assert post_raw(country, signed_push(cid, 255, seq="0004"), token)["Ret"] == Ret.BAD_TOKEN
    token = fresh_token(country)

    # Another operator's token never works for this operator's data.
    other = fresh_token(country, OTHER_OPERATOR_ID, OTHER_PUSH_SECRETS)
    assert post_raw(country, signed_push(cid, 255, seq="0005"), other)["Ret"] == Ret.BAD_TOKEN

    assert post_raw(country, b"{not json", token)["Ret"] == Ret.MALFORMED
    missing = signed_push(cid, 255, seq="0006")
    del missing["Seq"]
    assert post_raw(country, missing, token)["Ret"] == Ret.MALFORMED
    bad_body = seal_request(
        OPERATOR_ID, {"ConnectorStatusInfo": {"Status": 255}}, PUSH_SECRETS, seq="0007",
        timestamp=datetime.now(CHINA_TZ),
    )  # fmt: skip
    assert post_raw(country, bad_body, token)["Ret"] in (Ret.MALFORMED, Ret.INVALID_PARAMETER)
    unknown = signed_push(f"{OPERATOR_ID}9999", 255, seq="0008")
    assert post_raw(country, unknown, token)["Ret"] == Ret.INVALID_PARAMETER

    assert status_of(country.store, 2, cid) is ConnectorStatus.AVAILABLE
    assert country.store.status_history(ours(cid, 2)) == before


def test_a_replayed_push_is_refused(country: Country) -> None:
    sync(country)
    cid = connector_id(1, 1, 1)
    token = fresh_token(country)
    first = signed_push(cid, 3, seq="0042")
    assert post_raw(country, first, token)["Ret"] == Ret.OK
    country.network.set_status(cid, 1)
    assert post_raw(country, first, token)["Ret"] == Ret.MALFORMED  # same OperatorID+Seq+TimeStamp
    assert status_of(country.store, 1, cid) is ConnectorStatus.CHARGING
    assert [h.source for h in country.store.status_history(ours(cid, 1))] == [
        "tcec:poll",
        "tcec:push",
    ]


def test_responses_and_errors_carry_no_secret(country: Country) -> None:
    sync(country)
    tampered = signed_push(connector_id(1, 1, 1), 3)
    tampered["Sig"] = "F" * 32
    text = json.dumps(post_raw(country, tampered, fresh_token(country)))
    assert not any(secret in text for secret in SECRET_TEXTS)


def test_token_expiry_and_a_failing_page_mid_sync_are_recovered(country: Country) -> None:
    country.operator.fail_page_once.add(2)

    async def run() -> tuple[int, int]:
        async with httpx.AsyncClient(timeout=10) as http:
            client = client_for(country, http)
            count = 0
            async for page in client.station_pages(page_size=10):
                count += len(page.station_infos)
                if page.page_no == 1:
                    country.operator.expire_tokens()  # the next call meets Ret 4002
            return count, client.token_requests

    stations, tokens = asyncio.run(run())
    assert stations == STATION_COUNT
    assert tokens == 2


def test_status_polling_is_the_fallback_when_pushes_stop(country: Country) -> None:
    sync(country)
    for n in range(STATION_COUNT):
        country.network.set_status(connector_id(n, 2, 1), 2)  # every AC pile occupied

    async def run() -> int:
        async with httpx.AsyncClient(timeout=10) as http:
            report = await poll_tcec_status(
                client_for(country, http),
                OPERATOR,
                country.store,
                country.platform.relay,
                [f"LT{n:06d}" for n in range(STATION_COUNT)],
            )
            return report.status_changes

    assert asyncio.run(run()) == STATION_COUNT
    assert status_of(country.store, 9, connector_id(9, 2, 1)) is ConnectorStatus.OCCUPIED


def test_the_operator_refuses_a_platform_with_wrong_secrets(country: Country) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            client = TcecClient(
                base_url=country.operator_url,
                operator_id=OPERATOR_ID,
                platform_operator_id=PLATFORM_ID,
                secrets=Secrets("wrong-op-secret", "lt-data-key-0001", "lt-data-iv-00001", "x"),
                dialect=country.dialect,
                http=http,
            )
            with pytest.raises(TcecError) as info:
                async for _ in client.station_pages():
                    pass
            assert info.value.ret == Ret.BAD_SIGNATURE

    asyncio.run(run())
    assert country.store.counts().stations == 0


def test_bills_are_kept_and_the_daily_check_disputes_what_differs(country: Country) -> None:
    seq_a, seq_b, seq_c = (f"{PLATFORM_ID}{n:018d}" for n in (1, 2, 3))

    def bill(seq: str, kwh: float, money: str) -> NotificationChargeOrderInfoRequest:
        return NotificationChargeOrderInfoRequest.model_validate(
            {
                "StartChargeSeq": seq, "ConnectorID": connector_id(1, 1, 1),
                "StartTime": "2026-11-20 08:00:00", "EndTime": "2026-11-20 08:40:00",
                "TotalPower": kwh, "TotalElecMoney": 10, "TotalSeviceMoney": 5,
                "TotalMoney": money,
            }
        )  # fmt: skip

    check = CheckChargeOrdersRequest.model_validate(
        {
            "CheckOrderSeq": "CK20261121", "StartTime": "2026-11-20 00:00:00",
            "EndTime": "2026-11-21 00:00:00", "OrderCount": 3,
            "ChargeOrders": [
                {"StartChargeSeq": seq_a, "TotalPower": 30.5, "TotalMoney": 15.0},  # agrees
                {"StartChargeSeq": seq_b, "TotalPower": 30.5, "TotalMoney": 99.0},  # money
                {"StartChargeSeq": seq_c, "TotalPower": 12.0, "TotalMoney": 6.0},  # no bill
            ],
        }
    )  # fmt: skip

    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            pusher = PlatformPusher(
                country.platform_url, OPERATOR_ID, PUSH_SECRETS, country.dialect, http
            )
            for seq, money in ((seq_a, "15.00"), (seq_b, "15.00")):
                ack = await pusher.notify(
                    Interface.NOTIFICATION_CHARGE_ORDER_INFO, bill(seq, 30.5, money)
                )
                assert ack["StartChargeSeq"] == seq
            return await pusher.notify(Interface.CHECK_CHARGE_ORDERS, check)

    answer = asyncio.run(run())
    kept = country.store.inbox("tcec", "notification_charge_order_info", OPERATOR_ID)
    assert [m.payload["StartChargeSeq"] for m in kept] == [seq_a, seq_b]
    assert answer["CheckOrderSeq"] == "CK20261121"
    assert answer["TotalDisputeOrder"] == 2
    assert [(d["StartChargeSeq"], d["DisputeReason"]) for d in answer["DisputeOrders"]] == [
        (seq_b, 3),
        (seq_c, 1),
    ]


def test_incremental_sync_fetches_only_what_changed(country: Country) -> None:
    sync(country)
    since = datetime.now(CHINA_TZ)
    changed = station(5, name_suffix=" (renovated)")
    country.network.put_station(changed, changed_at=since + timedelta(seconds=1))

    async def run() -> SyncReport:
        async with httpx.AsyncClient(timeout=10) as http:
            return await sync_tcec_operator(
                client_for(country, http), OPERATOR, country.store, country.platform.relay,
                since=since, poll_status=False,
            )  # fmt: skip

    report = asyncio.run(run())
    assert (report.stations, report.changed, report.added) == (1, 1, 0)
    got = country.store.get_station(f"{OPERATOR_ID}:LT000005")
    assert got is not None
    assert got.name.endswith("(renovated)")


def test_equipment_auth_and_business_policy_through_our_client(country: Country) -> None:
    country.network.set_status(connector_id(2, 1, 2), 255)

    async def run() -> tuple[int, int, int]:
        async with httpx.AsyncClient(timeout=10) as http:
            client = client_for(country, http)
            free = await client.equip_auth(
                QueryEquipAuthRequest(equip_auth_seq="A1", connector_id=connector_id(2, 1, 1))
            )
            broken = await client.equip_auth(
                QueryEquipAuthRequest(equip_auth_seq="A2", connector_id=connector_id(2, 1, 2))
            )
            policy = await client.business_policy(
                QueryEquipBusinessPolicyRequest(
                    equip_biz_seq="B1", connector_id=connector_id(2, 1, 1)
                )
            )
            return free.succ_stat, broken.succ_stat, len(policy.policy_infos)

    free, broken, periods = asyncio.run(run())
    assert (free, broken) == (0, 1)
    assert periods >= 2


def test_the_configured_operator_syncs_with_the_secrets_from_config(country: Country) -> None:
    def secrets_toml(s: Secrets) -> str:
        return (
            f'operator_secret = "{s.operator_secret}"\ndata_secret = "{s.data_secret}"\n'
            f'data_secret_iv = "{s.data_secret_iv}"\nsig_secret = "{s.sig_secret}"\n'
        )

    config = parse_config(
        f"""
[[operators]]
id = "{OPERATOR_ID}"
name = "Lanting Charging"
protocol = "tcec"
url = "{country.operator_url}"
capabilities = ["realtime", "scan"]
dialect = "{country.dialect}"
[operators.outbound]
{secrets_toml(PLATFORM_SECRETS)}
[operators.inbound]
{secrets_toml(PUSH_SECRETS)}
[tcec]
operator_id = "{PLATFORM_ID}"
"""
    )
    assert tcec_peers(config)[OPERATOR_ID].inbound == PUSH_SECRETS

    async def run() -> SyncReport:
        async with httpx.AsyncClient(timeout=10) as http:
            client = client_from_config(config, OPERATOR_ID, http)
            operator = config.operator(OPERATOR_ID).to_operator()
            relay = OutboxRelay(country.store, EventBus())  # another process: a relay of its own
            return await sync_tcec_operator(client, operator, country.store, relay)

    assert asyncio.run(run()).stations == STATION_COUNT


class EventReader:
    """Reads ``GET /api/v1/events`` on its own thread, keeping each status event with the
    monotonic time it arrived."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opened = threading.Event()
        self.events: list[tuple[float, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._read()
        except httpx.HTTPError:
            if not self._stop.is_set():  # the server going away after close() is expected
                raise

    def _read(self) -> None:
        with httpx.stream("GET", self.url, timeout=httpx.Timeout(10, read=30)) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith(":"):
                    self.opened.set()
                elif line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind == "status":
                    self.events.append((time.monotonic(), json.loads(line[6:])))

    def wait_for(self, connector: str, seconds: float) -> float | None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for at, event in list(self.events):
                if event["connector_id"] == connector:
                    return at
            time.sleep(0.005)
        return None

    def close(self) -> None:
        self._stop.set()  # the read ends when the server stops (at the fixture's teardown)


def test_a_pushed_change_reaches_the_event_stream_within_a_second(country: Country) -> None:
    sync(country)
    index = country.platform.index
    sid = f"{OPERATOR_ID}:LT000007"
    deadline = time.monotonic() + 5
    while index.locate(sid) is None:  # the synced stations reach the index within its tick
        assert time.monotonic() < deadline
        time.sleep(0.05)
    segment, row = index.locate(sid) or (None, 0)
    assert segment is not None
    lon, lat = float(segment.lon[row]), float(segment.lat[row])
    base = country.platform_url.removesuffix("/tcec/v1/")
    everywhere = EventReader(f"{base}/api/v1/events")
    around = EventReader(
        f"{base}/api/v1/events?bbox={lon - 0.1},{lat - 0.1},{lon + 0.1},{lat + 0.1}"
    )
    elsewhere = EventReader(f"{base}/api/v1/events?bbox=70,10,71,11")  # nowhere near
    try:
        for reader in (everywhere, around, elsewhere):
            assert reader.opened.wait(5)
        cid = connector_id(7, 1, 2)
        ours = f"{OPERATOR_ID}:LT000007:LT00000701:{cid}"
        sent = time.monotonic()
        assert push(country, country.network.set_status(cid, 3)) == {"Status": 0}
        acked = time.monotonic()
        arrived = everywhere.wait_for(ours, 2.0)
        assert arrived is not None, "the change never reached the stream"
        assert arrived - acked < 1.0, f"{arrived - acked:.3f} s after the acknowledgement"
        assert arrived - sent < 1.0
        assert around.wait_for(ours, 1.0) is not None
        [(_, event)] = [(t, e) for t, e in everywhere.events if e["connector_id"] == ours]
        assert event["status"] == "charging"
        assert event["station_id"] == sid
        assert event["source"] == "tcec:push"
        assert elsewhere.wait_for(ours, 0.3) is None  # outside its bbox
    finally:
        for reader in (everywhere, around, elsewhere):
            reader.close()
