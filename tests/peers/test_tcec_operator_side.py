"""The simulated T/CEC operator over real loopback HTTP: tokens, paging, incremental sync, status
queries, every error ``Ret``, fault injection; and the operator's pusher against a fake platform.

Sample data is hand-written and fictional: "Lanting Charging" (兰亭充电) sites in Beijing and
Shanghai, GCJ-02 coordinates, 6-digit GB/T 2260 area codes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.tcec.charging import (
    NotificationStartChargeResultRequest,
    NotificationStartChargeResultResponse,
)
from chargemesh.protocols.tcec.codec import (
    CHINA_TZ,
    Ret,
    Secrets,
    SeqCounter,
    TcecError,
    encrypt_data,
    open_request,
    open_response,
    request_sig,
    response_sig,
    seal_request,
    seal_response,
)
from chargemesh.protocols.tcec.interfaces import Interface, endpoint_url
from chargemesh.protocols.tcec.stations import (
    ConnectorStatusInfo,
    NotificationStationStatusRequest,
    NotificationStationStatusResponse,
    QueryStationsInfoResponse,
    QueryStationStatusResponse,
)
from chargemesh.protocols.tcec.token import QueryTokenRequest, QueryTokenResponse
from chargemesh.protocols.tcec.wire import DIALECTS, Dialect, dump, parse
from chargemesh.sim.peers.tcec.network import (
    OperatorNetwork,
    format_last_query_time,
)
from chargemesh.sim.peers.tcec.push import PlatformPusher
from chargemesh.sim.peers.tcec.server import TcecOperatorServer
from tests.peers.tcec_samples import (
    OPERATOR_ID,
    OTHER_PLATFORM_ID,
    OTHER_SECRETS,
    PLATFORM_ID,
    PLATFORM_SECRETS,
    PUSH_SECRETS,
    SECRET_TEXTS,
    STATION_COUNT,
    T0,
    T1,
    connector_id,
    station,
)


class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Caller:
    """A platform calling the operator over HTTP, written with the pure codec only."""

    http: httpx.Client
    base_url: str
    dialect: Dialect
    platform_id: str = PLATFORM_ID
    secrets: Secrets = PLATFORM_SECRETS
    seq: SeqCounter = field(default_factory=SeqCounter)

    def envelope(self, payload: dict[str, Any]) -> dict[str, str]:
        return seal_request(
            self.platform_id,
            payload,
            self.secrets,
            seq=self.seq.next(),
            timestamp=datetime.now(CHINA_TZ),
        )

    def post(
        self, interface: Interface, body: dict[str, Any] | bytes, token: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = endpoint_url(self.base_url, interface, self.dialect)
        if isinstance(body, bytes):
            return self.http.post(url, content=body, headers=headers)
        return self.http.post(url, json=body, headers=headers)

    def call(
        self, interface: Interface, payload: dict[str, Any], token: str | None = None
    ) -> dict[str, Any]:
        response = self.post(interface, self.envelope(payload), token)
        assert response.status_code == 200
        return open_response(response.content, self.secrets)

    def ret(self, interface: Interface, payload: dict[str, Any], token: str | None = None) -> int:
        response = self.post(interface, self.envelope(payload), token)
        assert response.status_code == 200
        return int(response.json()["Ret"])

    def query_token(self, secret: str | None = None, operator_id: str | None = None) -> Any:
        request = QueryTokenRequest(
            operator_id=operator_id or self.platform_id,
            operator_secret=secret or self.secrets.operator_secret,
        )
        payload = self.call(Interface.QUERY_TOKEN, dump(request, self.dialect))
        return parse(QueryTokenResponse, payload)

    def token(self) -> str:
        answer = self.query_token()
        assert answer.succ_stat == 0
        return str(answer.access_token)

    def page(self, token: str, page_no: int, size: int = 10, since: str | None = None) -> Any:
        payload: dict[str, Any] = {"PageNo": page_no, "PageSize": size}
        if since is not None:
            payload["LastQueryTime"] = since
        return parse(
            QueryStationsInfoResponse, self.call(Interface.QUERY_STATIONS_INFO, payload, token)
        )


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def dialect() -> Dialect:
    return "cec"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def network() -> OperatorNetwork:
    return OperatorNetwork((station(n) for n in range(1, STATION_COUNT + 1)), changed_at=T0)


@pytest.fixture
def operator(dialect: Dialect, network: OperatorNetwork, clock: FakeClock) -> TcecOperatorServer:
    platforms = {PLATFORM_ID: PLATFORM_SECRETS, OTHER_PLATFORM_ID: OTHER_SECRETS}
    return TcecOperatorServer(OPERATOR_ID, dialect, network, platforms, clock=clock)


@pytest.fixture
def served(operator: TcecOperatorServer) -> Iterator[LoopbackServer]:
    with LoopbackServer(operator.app) as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def caller(served: LoopbackServer, operator: TcecOperatorServer, http: httpx.Client) -> Caller:
    return Caller(http, operator.base_url(served.url), operator.dialect)


@pytest.fixture
def token(caller: Caller) -> str:
    return caller.token()


# ----------------------------------------------------------------------------- happy path

EXPECTED_PATHS = {
    "cec": ("/evcs/v1/query_token", "/evcs/v1/query_stations_info"),
    "xiaoju": ("/evcs/sdk/query_token", "/evcs/v1/query_stations_info"),
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_token_then_every_page_at_the_dialects_paths(
    caller: Caller, operator: TcecOperatorServer, dialect: Dialect
) -> None:
    token_path, stations_path = EXPECTED_PATHS[dialect]
    assert caller.post(Interface.QUERY_TOKEN, b"").request.url.path == token_path
    answer = caller.query_token()
    assert (answer.succ_stat, answer.fail_reason) == (0, 0)
    assert answer.operator_id == PLATFORM_ID
    assert answer.token_available_time == 7200
    assert len(answer.access_token) >= 16

    pages = [caller.page(answer.access_token, page_no) for page_no in (1, 2, 3)]
    assert [p.page_no for p in pages] == [1, 2, 3]
    assert {(p.page_count, p.item_size) for p in pages} == {(3, STATION_COUNT)}
    assert [len(p.station_infos) for p in pages] == [10, 10, 3]
    ids = [s.station_id for p in pages for s in p.station_infos]
    assert ids == [f"LT{n:06d}" for n in range(1, STATION_COUNT + 1)]
    assert pages[0].station_infos[0] == station(1)  # every field survives the round trip
    assert caller.post(Interface.QUERY_STATIONS_INFO, b"").request.url.path == stations_path
    assert operator.requests[Interface.QUERY_STATIONS_INFO] == 4


def test_paths_and_base_url_per_dialect(network: OperatorNetwork) -> None:
    platforms = {PLATFORM_ID: PLATFORM_SECRETS}
    cec = TcecOperatorServer(OPERATOR_ID, "cec", network, platforms, base_path="/evcs/v20160701/")
    xiaoju = TcecOperatorServer(OPERATOR_ID, "xiaoju", network, platforms)
    assert cec.path(Interface.QUERY_TOKEN) == "/evcs/v20160701/query_token"
    assert cec.base_url("http://127.0.0.1:9") == "http://127.0.0.1:9/evcs/v20160701/"
    assert xiaoju.path(Interface.QUERY_TOKEN) == "/evcs/sdk/query_token"
    assert xiaoju.path(Interface.QUERY_STATION_STATUS) == "/evcs/v1/query_station_status"
    with pytest.raises(ValueError, match="9-character"):
        TcecOperatorServer("LANTING", "cec", network, platforms)


def test_page_past_the_end_is_empty_and_page_size_is_capped(
    caller: Caller, operator: TcecOperatorServer, token: str
) -> None:
    past = caller.page(token, 4)
    assert (past.page_no, past.page_count, past.item_size, past.station_infos) == (
        4,
        3,
        STATION_COUNT,
        (),
    )
    assert len(caller.page(token, 1, size=1000).station_infos) == STATION_COUNT
    operator.max_page_size = 5
    capped = caller.page(token, 1, size=10)
    assert (len(capped.station_infos), capped.page_count) == (5, 5)


def test_last_query_time_keeps_stations_changed_at_or_after_it(
    caller: Caller, network: OperatorNetwork, token: str
) -> None:
    network.put_station(station(4, name_suffix="（扩建）"), changed_at=T1)
    network.touch("LT000017", changed_at=T1)
    since_t1 = caller.page(token, 1, since=format_last_query_time(T1))
    assert [s.station_id for s in since_t1.station_infos] == ["LT000004", "LT000017"]
    assert (since_t1.item_size, since_t1.page_count) == (2, 1)
    assert since_t1.station_infos[0].station_name.endswith("（扩建）")
    assert caller.page(token, 1, since="2026-01-12 09:30:01").item_size == 0
    assert caller.page(token, 1, since="2026-01-01 00:00:00").item_size == STATION_COUNT
    assert caller.page(token, 1, since="").item_size == STATION_COUNT
    bad = {"PageNo": 1, "LastQueryTime": "2026/01/12"}
    assert caller.ret(Interface.QUERY_STATIONS_INFO, bad, token) == Ret.INVALID_PARAMETER


def test_station_status_follows_the_network(
    caller: Caller, network: OperatorNetwork, token: str
) -> None:
    changed = network.set_status(connector_id(2, 1, 1), 3, park_status=50, soc=41.0)
    payload = {"StationIDs": ["LT000001", "LT000002", "NOPE"]}
    answer = parse(
        QueryStationStatusResponse, caller.call(Interface.QUERY_STATION_STATUS, payload, token)
    )
    assert answer.total == 2
    first, second = answer.station_status_infos
    assert first.station_id == "LT000001"
    assert {c.status for c in first.connector_status_infos} == {1}
    assert second.connector_status_infos[0] == changed
    assert len(second.connector_status_infos) == 3


@pytest.mark.parametrize(
    ("payload", "ret"),
    [
        ({"StationIDs": [f"LT{n:06d}" for n in range(51)]}, Ret.INVALID_PARAMETER),
        ({"StationIDs": []}, Ret.INVALID_PARAMETER),
        ({}, Ret.MALFORMED),
    ],
    ids=["51-ids", "none", "missing"],
)
def test_station_status_limits(
    caller: Caller, token: str, payload: dict[str, Any], ret: Ret
) -> None:
    assert caller.ret(Interface.QUERY_STATION_STATUS, payload, token) == ret


def test_fifty_station_ids_are_fine(caller: Caller, token: str) -> None:
    payload = {"StationIDs": [f"LT{n:06d}" for n in range(50)]}
    answer = caller.call(Interface.QUERY_STATION_STATUS, payload, token)
    assert answer["Total"] == STATION_COUNT


# ----------------------------------------------------------------------------- the other stubs


@pytest.mark.parametrize("dialect", DIALECTS)
def test_business_policy_in_the_dialects_spelling(
    caller: Caller, token: str, dialect: Dialect
) -> None:
    payload = {"EquipBizSeq": "MACMESH01000000000000000001", "ConnectorID": connector_id(1, 1, 1)}
    answer = caller.call(Interface.QUERY_EQUIP_BUSINESS_POLICY, payload, token)
    assert (answer["SuccStat"], answer["SumPeriod"]) == (0, 3)
    assert answer["EquipBizSeq"] == payload["EquipBizSeq"]
    spelling = "SevicePrice" if dialect == "cec" else "ServicePrice"
    assert [p["StartTime"] for p in answer["PolicyInfos"]] == ["000000", "080000", "220000"]
    assert all(spelling in p and p["ElecPrice"] > 0 for p in answer["PolicyInfos"])


def test_equip_auth_depends_on_the_connector_status(
    caller: Caller, network: OperatorNetwork, token: str
) -> None:
    gun = connector_id(3, 1, 2)
    payload = {"EquipAuthSeq": "MACMESH01000000000000000002", "ConnectorID": gun}
    assert caller.call(Interface.QUERY_EQUIP_AUTH, payload, token)["SuccStat"] == 0
    network.set_status(gun, 3)
    answer = caller.call(Interface.QUERY_EQUIP_AUTH, payload, token)
    assert (answer["SuccStat"], answer["FailReason"], answer["ConnectorID"]) == (1, 2, gun)
    unknown = {"EquipAuthSeq": "x", "ConnectorID": "MA6LTCD01999999999"}
    assert caller.ret(Interface.QUERY_EQUIP_AUTH, unknown, token) == Ret.INVALID_PARAMETER


@pytest.mark.parametrize(
    "interface",
    [
        Interface.QUERY_START_CHARGE,
        Interface.QUERY_STOP_CHARGE,
        Interface.QUERY_EQUIP_CHARGE_STATUS,
        Interface.QUERY_STATION_STATS,
    ],
)
def test_session_interfaces_are_not_supported_yet(
    caller: Caller, token: str, interface: Interface
) -> None:
    response = caller.post(interface, caller.envelope({"StartChargeSeq": "x"}), token)
    envelope = response.json()
    assert (envelope["Ret"], envelope["Msg"]) == (
        Ret.INVALID_PARAMETER,
        f"{interface} is not supported by this operator",
    )
    # an error to an authenticated caller is signed with its secrets
    expected = response_sig(envelope["Ret"], envelope["Msg"], envelope["Data"], PLATFORM_SECRETS)
    assert envelope["Sig"] == expected


def test_handlers_can_be_added(caller: Caller, operator: TcecOperatorServer, token: str) -> None:
    seen: list[str] = []

    def stop(caller_id: str, request: Any) -> NotificationStartChargeResultResponse:
        seen.append(caller_id)
        return NotificationStartChargeResultResponse(start_charge_seq=request.start_charge_seq)

    operator.handlers[Interface.QUERY_STOP_CHARGE] = stop
    payload = {"StartChargeSeq": "MACMESH01000000000000000003", "ConnectorID": "c"}
    answer = caller.call(Interface.QUERY_STOP_CHARGE, payload, token)
    assert answer["StartChargeSeq"] == payload["StartChargeSeq"]
    assert seen == [PLATFORM_ID]


# ----------------------------------------------------------------------------- errors


def test_query_token_refusals(caller: Caller) -> None:
    wrong = caller.query_token(secret="not-the-secret")
    assert (wrong.succ_stat, wrong.fail_reason, wrong.access_token) == (1, 2, "")
    other = caller.query_token(operator_id=OTHER_PLATFORM_ID)
    assert (other.succ_stat, other.fail_reason) == (1, 1)


def test_wrong_sig_or_unknown_operator_is_4001_unsigned(caller: Caller, token: str) -> None:
    envelope = caller.envelope({"PageNo": 1})
    envelope["Sig"] = "0" * 32
    response = caller.post(Interface.QUERY_STATIONS_INFO, envelope, token)
    assert response.status_code == 200
    assert response.json() == {
        "Ret": Ret.BAD_SIGNATURE,
        "Msg": "Sig verification failed",
        "Data": "",
        "Sig": "",
    }
    stranger = Caller(caller.http, caller.base_url, caller.dialect, platform_id="MASTRANGE")
    assert stranger.ret(Interface.QUERY_TOKEN, {}) == Ret.BAD_SIGNATURE


def test_token_missing_expired_or_foreign_is_4002(
    caller: Caller, clock: FakeClock, token: str
) -> None:
    page = {"PageNo": 1}
    assert caller.ret(Interface.QUERY_STATIONS_INFO, page) == Ret.BAD_TOKEN
    assert caller.ret(Interface.QUERY_STATIONS_INFO, page, "not-a-token") == Ret.BAD_TOKEN
    other = Caller(caller.http, caller.base_url, caller.dialect, OTHER_PLATFORM_ID, OTHER_SECRETS)
    other_token = other.token()
    assert caller.ret(Interface.QUERY_STATIONS_INFO, page, other_token) == Ret.BAD_TOKEN
    assert other.ret(Interface.QUERY_STATIONS_INFO, page, token) == Ret.BAD_TOKEN
    assert caller.ret(Interface.QUERY_STATIONS_INFO, page, token) == Ret.OK
    clock.now += 7199
    assert caller.ret(Interface.QUERY_STATIONS_INFO, page, token) == Ret.OK
    clock.now += 1
    assert caller.ret(Interface.QUERY_STATIONS_INFO, page, token) == Ret.BAD_TOKEN


def test_token_ttl_is_a_knob(
    caller: Caller, operator: TcecOperatorServer, clock: FakeClock
) -> None:
    operator.token_ttl_s = 30
    answer = caller.query_token()
    assert answer.token_available_time == 30
    clock.now += 30
    assert caller.ret(Interface.QUERY_STATIONS_INFO, {}, answer.access_token) == Ret.BAD_TOKEN


def test_expire_tokens(caller: Caller, operator: TcecOperatorServer, token: str) -> None:
    assert caller.ret(Interface.QUERY_STATIONS_INFO, {}, token) == Ret.OK
    operator.expire_tokens()
    assert caller.ret(Interface.QUERY_STATIONS_INFO, {}, token) == Ret.BAD_TOKEN
    assert caller.ret(Interface.QUERY_STATIONS_INFO, {}, caller.token()) == Ret.OK


def test_broken_json_is_4003(caller: Caller, token: str) -> None:
    response = caller.post(Interface.QUERY_STATIONS_INFO, b'{"OperatorID": "MACMESH01", ', token)
    assert (response.status_code, response.json()["Ret"]) == (200, Ret.MALFORMED)
    # a signed envelope whose Data decrypts to something that is not JSON
    data = encrypt_data("{PageNo: 1", PLATFORM_SECRETS)
    stamp, seq = "20260112093000", "0042"
    envelope = {
        "OperatorID": PLATFORM_ID,
        "Data": data,
        "TimeStamp": stamp,
        "Seq": seq,
        "Sig": request_sig(PLATFORM_ID, data, stamp, seq, PLATFORM_SECRETS),
    }
    response = caller.post(Interface.QUERY_STATIONS_INFO, envelope, token)
    assert response.json()["Ret"] == Ret.MALFORMED


def test_fail_page_once_answers_500_once(
    caller: Caller, operator: TcecOperatorServer, token: str
) -> None:
    operator.fail_page_once = {2}
    assert caller.page(token, 1).page_no == 1
    failed = caller.post(Interface.QUERY_STATIONS_INFO, caller.envelope({"PageNo": 2}), token)
    assert failed.status_code == 500
    assert caller.page(token, 2).page_no == 2
    assert operator.fail_page_once == set()
    assert operator.requests[Interface.QUERY_STATIONS_INFO] == 3
    assert operator.requests[Interface.QUERY_TOKEN] == 1


def test_no_secret_in_messages_or_logs(
    caller: Caller, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad_sig = caller.envelope({"PageNo": 1}) | {"Sig": "F" * 32}
    responses = [
        caller.post(Interface.QUERY_STATIONS_INFO, bad_sig, token),
        caller.post(Interface.QUERY_STATIONS_INFO, caller.envelope({"PageNo": 0}), token),
        caller.post(Interface.QUERY_STATIONS_INFO, caller.envelope({}), "expired"),
        caller.post(Interface.QUERY_STATIONS_INFO, b"[]", token),
    ]
    assert [r.json()["Ret"] for r in responses] == [4001, 4004, 4002, 4003]
    seen = caplog.text + "".join(r.text for r in responses)
    assert "4002" in caplog.text
    assert not [text for text in SECRET_TEXTS if text in seen]


# ----------------------------------------------------------------------------- the network


def test_network_keeps_order_and_connector_ownership(network: OperatorNetwork) -> None:
    network.put_station(station(5, name_suffix="!"), changed_at=T1)
    listed = [s.station_id for s in network.stations_changed_since(None)]
    assert listed[4] == "LT000005"
    assert network.last_changed("LT000005") == T1
    clash = station(5).model_copy(update={"station_id": "LT999999"})
    with pytest.raises(ValueError, match="belongs to station LT000005"):
        network.put_station(clash)
    with pytest.raises(KeyError):
        network.set_status("MA6LTCD01-none", 1)
    smaller = station(6).model_copy(update={"equipment_infos": station(6).equipment_infos[:1]})
    network.put_station(smaller)
    assert network.connector_status(connector_id(6, 2, 1)) is None
    assert len(network.connector_ids("LT000006")) == 2
    assert len(network) == STATION_COUNT


def test_loopback_server_start_and_stop(operator: TcecOperatorServer) -> None:
    server = LoopbackServer(operator.app)
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port
    with server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.post(f"{server.url}/evcs/v1/query_token", content=b"").status_code == 200
    assert not server.running
    server.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{server.url}/evcs/v1/query_token", content=b"")


def test_loopback_server_reports_a_busy_port(served: LoopbackServer) -> None:
    with pytest.raises(RuntimeError, match="failed to start"):
        LoopbackServer(FastAPI(), port=served.port).start()


# ----------------------------------------------------------------------------- the pusher


class FakePlatform:
    """Our platform's push endpoints, reduced to what the pusher needs: ``query_token`` and the
    notifications at ``/tcec/v1/<name>``, verified with the secrets the platform issued."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.operators = {OPERATOR_ID: PUSH_SECRETS}
        self.tokens: dict[str, str] = {}  # token → OperatorID
        self.token_requests = 0
        self.reject_with_4002 = 0  # answer this many notifications with Ret 4002
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.app = FastAPI()
        self.app.add_api_route("/tcec/v1/{name}", self.serve, methods=["POST"])

    async def serve(self, name: str, request: Request) -> JSONResponse:
        try:
            opened = open_request(await request.body(), self.operators.get)
        except TcecError as exc:
            return JSONResponse({"Ret": exc.ret, "Msg": str(exc), "Data": "", "Sig": ""})
        secrets = self.operators[opened.operator_id]
        if name == Interface.QUERY_TOKEN:
            reply = self.issue(opened.operator_id, parse(QueryTokenRequest, opened.payload))
            return JSONResponse(seal_response(Ret.OK, "", dump(reply, self.dialect), secrets))
        auth = request.headers.get("authorization", "")
        if self.tokens.get(auth.removeprefix("Bearer ")) != opened.operator_id or (
            self.reject_with_4002 > 0
        ):
            self.reject_with_4002 = max(0, self.reject_with_4002 - 1)
            return JSONResponse(seal_response(Ret.BAD_TOKEN, "token expired", None, secrets))
        self.received.append((name, opened.payload))
        return JSONResponse(seal_response(Ret.OK, "", self.answer(name, opened.payload), secrets))

    def issue(self, operator_id: str, request: QueryTokenRequest) -> QueryTokenResponse:
        self.token_requests += 1
        if request.operator_secret != self.operators[operator_id].operator_secret:
            return QueryTokenResponse(operator_id=operator_id, succ_stat=1, fail_reason=2)
        token = f"PLAT-TOKEN-{self.token_requests}"
        self.tokens[token] = operator_id
        return QueryTokenResponse(
            operator_id=operator_id, succ_stat=0, access_token=token, token_available_time=600
        )

    def answer(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        if name == Interface.NOTIFICATION_STATION_STATUS:
            return dump(NotificationStationStatusResponse(status=0), self.dialect)
        seq = payload["StartChargeSeq"]
        return dump(NotificationStartChargeResultResponse(start_charge_seq=seq), self.dialect)


@pytest.fixture
def platform(dialect: Dialect) -> FakePlatform:
    return FakePlatform(dialect)


@pytest.fixture
def platform_url(platform: FakePlatform) -> Iterator[str]:
    with LoopbackServer(platform.app) as server:
        yield f"{server.url}/tcec/v1/"


def push_scenario(
    platform_url: str,
    dialect: Dialect,
    steps: Any,
    *,
    secrets: Secrets = PUSH_SECRETS,
    clock: FakeClock | None = None,
) -> Any:
    """Run ``await steps(pusher)`` with a fresh pusher and client, on a fresh event loop."""

    async def scenario() -> Any:
        async with httpx.AsyncClient(timeout=10) as client:
            pusher = PlatformPusher(
                platform_url, OPERATOR_ID, secrets, dialect, client, clock=clock or FakeClock()
            )
            return await steps(pusher)

    return asyncio.run(scenario())


@pytest.mark.parametrize("dialect", DIALECTS)
def test_pusher_pushes_status_with_one_token(
    platform: FakePlatform, platform_url: str, network: OperatorNetwork, dialect: Dialect
) -> None:
    first = network.set_status(connector_id(1, 1, 1), 3, soc=55.5)
    second = network.set_status(connector_id(1, 1, 2), 255)

    async def steps(pusher: PlatformPusher) -> list[dict[str, Any]]:
        return [await pusher.push_status(first), await pusher.push_status(second)]

    assert push_scenario(platform_url, dialect, steps) == [{"Status": 0}, {"Status": 0}]
    assert platform.token_requests == 1
    pushed = [parse(NotificationStationStatusRequest, payload) for _, payload in platform.received]
    assert [p.connector_status_info for p in pushed] == [first, second]
    assert {name for name, _ in platform.received} == {"notification_stationStatus"}


def test_pusher_renews_on_4002_and_retries_once(
    platform: FakePlatform, platform_url: str, dialect: Dialect
) -> None:
    info = ConnectorStatusInfo(connector_id=connector_id(2, 1, 1), status=1)

    async def steps(pusher: PlatformPusher) -> dict[str, Any]:
        await pusher.push_status(info)
        platform.reject_with_4002 = 1
        return await pusher.push_status(info)

    assert push_scenario(platform_url, dialect, steps) == {"Status": 0}
    assert platform.token_requests == 2
    assert len(platform.received) == 2


def test_pusher_gives_up_after_a_second_4002(
    platform: FakePlatform, platform_url: str, dialect: Dialect
) -> None:
    platform.reject_with_4002 = 2
    info = ConnectorStatusInfo(connector_id=connector_id(2, 1, 1), status=1)

    async def steps(pusher: PlatformPusher) -> dict[str, Any]:
        return await pusher.push_status(info)

    with pytest.raises(TcecError) as caught:
        push_scenario(platform_url, dialect, steps)
    assert caught.value.ret is Ret.BAD_TOKEN
    assert (platform.token_requests, platform.received) == (2, [])


def test_pusher_renews_before_the_token_runs_out(
    platform: FakePlatform, platform_url: str, dialect: Dialect
) -> None:
    clock = FakeClock()
    info = ConnectorStatusInfo(connector_id=connector_id(2, 1, 1), status=2)

    async def steps(pusher: PlatformPusher) -> list[str]:
        tokens = [await pusher.token()]
        clock.now += 539  # 600 s announced, renewed 60 s early
        tokens.append(await pusher.token())
        clock.now += 1
        tokens.append(await pusher.token())
        await pusher.push_status(info)
        return tokens

    tokens = push_scenario(platform_url, dialect, steps, clock=clock)
    assert tokens == ["PLAT-TOKEN-1", "PLAT-TOKEN-1", "PLAT-TOKEN-2"]
    assert platform.token_requests == 2


def test_pusher_with_a_wrong_operator_secret(platform_url: str, dialect: Dialect) -> None:
    wrong = Secrets(
        "wrong", PUSH_SECRETS.data_secret, PUSH_SECRETS.data_secret_iv, PUSH_SECRETS.sig_secret
    )

    async def steps(pusher: PlatformPusher) -> str:
        return await pusher.token()

    with pytest.raises(TcecError, match=r"refused the token \(FailReason 2\)"):
        push_scenario(platform_url, dialect, steps, secrets=wrong)


def test_pusher_notifies_anything(platform: FakePlatform, platform_url: str) -> None:
    result = NotificationStartChargeResultRequest(
        start_charge_seq="MACMESH01000000000000000009",
        start_charge_seq_stat=2,
        connector_id=connector_id(3, 1, 1),
        start_time="2026-01-12 09:31:02",
    )

    async def steps(pusher: PlatformPusher) -> dict[str, Any]:
        assert pusher.url("notification_start_charge_result").endswith(
            "/tcec/v1/notification_start_charge_result"
        )
        return await pusher.notify("notification_start_charge_result", result)

    answer = push_scenario(platform_url, "xiaoju", steps)
    assert answer["StartChargeSeq"] == result.start_charge_seq
    name, payload = platform.received[0]
    assert name == "notification_start_charge_result"
    assert json.loads(json.dumps(payload)) == dump(result)
