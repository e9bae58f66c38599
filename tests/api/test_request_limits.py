"""Request bodies bounded before they are read, JSON nesting bounded where it is parsed (issue 19,
items 1 and 2) — through the real platform over loopback, for each protocol: a T/CEC operator, an
OCPI CPO, a driver. A refused body is answered in the caller's protocol and changes nothing.

The bodies are sent over a raw socket, the body from a thread while the answer is read: a server
that refuses early answers before the client has sent what it declared."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from chargemesh.api.limits import BodyLimits
from chargemesh.api.tcec import TcecPeer
from chargemesh.bootstrap import Platform, assemble, build_platform
from chargemesh.config import BodyLimitsConfig, parse_config
from chargemesh.domain import ConnectorStatus
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.ocpi import mapping
from chargemesh.protocols.ocpi.transport import encode_token, format_datetime
from chargemesh.protocols.tcec.codec import CHINA_TZ, Ret, seal_request
from chargemesh.protocols.tcec.stations import ConnectorStatusInfo, NotificationStationStatusRequest
from chargemesh.protocols.tcec.wire import DIALECTS, dump
from chargemesh.sim.peers.tcec.push import PlatformPusher
from chargemesh.store import Store
from tests.drivers import bearer
from tests.factories import T0, make_operator, make_station, valid_vin
from tests.peers import test_ocpi_end_to_end as e2e
from tests.peers.ocpi_samples import location_id, location_json
from tests.peers.tcec_samples import OPERATOR_ID, PUSH_SECRETS
from tests.peers.test_ocpi_end_to_end import PARTY, Peers

MB = 1 << 20
LIMITS = BodyLimitsConfig()
DEEP = 100_000  # nested arrays, as the probe sent
peers = e2e.peers  # the platform and the simulator's CPO, over loopback


# --- a raw HTTP/1.1 client ----------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the client got to send

    def json(self) -> Any:
        return orjson.loads(self.body)


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def post(
    base_url: str,
    path: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    chunked: bool = False,
    method: str = "POST",
) -> Answer:
    """``body`` sent with its Content-Length, or ``chunked`` (64 KiB chunks, no length)."""
    url = urlsplit(base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = f"{method} {path} HTTP/1.1\r\nHost: {url.hostname}\r\n{extra}{framing}\r\n\r\n"
    sent = 0

    def send_body() -> None:
        nonlocal sent
        try:
            sock.sendall(head.encode())
            for at in range(0, len(body), 65536):
                piece = body[at : at + 65536]
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: the rest is not wanted

    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    try:
        status, answer_headers, answer = _read_answer(sock)
    finally:
        sock.close()
        sender.join(10)
    return Answer(status, answer_headers, answer, sent)


def deep_json(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


# --- T/CEC --------------------------------------------------------------------------------------
@dataclass
class Tcec:
    platform: Platform
    url: str
    store: Store
    connector: str  # its ConnectorID at the operator
    ours: str  # our id of it

    def status(self) -> ConnectorStatus:
        station = self.store.get_station(make_station(OPERATOR_ID).id)
        assert station is not None
        return next(c.status for c in station.connectors if c.id == self.ours)

    def token(self) -> str:
        async def fetch() -> str:
            async with httpx.AsyncClient(timeout=10) as http:
                pusher = PlatformPusher(
                    f"{self.url}/tcec/v1/", OPERATOR_ID, PUSH_SECRETS, DIALECTS[0], http
                )
                return await pusher.token()

        return asyncio.run(fetch())


@pytest.fixture
def tcec(store: Store) -> Iterator[Tcec]:
    store.upsert_operator(make_operator(OPERATOR_ID))
    station = make_station(OPERATOR_ID)
    store.upsert_stations([station], at=T0)
    connector = station.evses[0].connectors[0]
    platform = assemble(store, {OPERATOR_ID: TcecPeer(OPERATOR_ID, PUSH_SECRETS, DIALECTS[0])})
    with LoopbackServer(platform.app()) as server:
        yield Tcec(platform, server.url, store, connector.source_id, connector.id)


def status_push(tcec: Tcec, status: int, seq: str, padding: int = 0) -> bytes:
    """A correctly signed status push of ``tcec``'s connector, its payload padded with an
    unknown field of ``padding`` characters."""
    info = ConnectorStatusInfo(connector_id=tcec.connector, status=status)
    payload = dump(NotificationStationStatusRequest(connector_status_info=info))
    if padding:
        payload["Padding"] = "x" * padding
    sealed = seal_request(OPERATOR_ID, payload, PUSH_SECRETS, seq=seq,
                          timestamp=datetime.now(CHINA_TZ))  # fmt: skip
    return orjson.dumps(sealed)


def padded_push(tcec: Tcec, status: int, seq: str, size: int) -> bytes:
    """A signed push of about ``size`` bytes, at most ``size``."""
    padding = size * 3 // 4
    body = status_push(tcec, status, seq, padding)
    while len(body) > size:
        padding -= (len(body) - size) * 3 // 4 + 16
        body = status_push(tcec, status, seq, padding)
    return body


def test_a_signed_t_cec_push_over_the_limit_is_refused_unread_and_changes_nothing(
    tcec: Tcec,
) -> None:
    token = tcec.token()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    path = "/tcec/v1/notification_stationStatus"
    for seq, chunked in (("0001", False), ("0002", True)):
        big = status_push(tcec, 255, seq, padding=15 * MB)  # 20 MB once encrypted, signed
        assert len(big) > 20 * MB
        answer = post(tcec.url, path, big, auth, chunked=chunked)
        assert answer.status == 413, answer.body[:200]
        assert answer.headers["content-type"] == "application/json"
        envelope = answer.json()
        assert envelope["Ret"] == Ret.MALFORMED
        assert str(LIMITS.tcec_bytes) in envelope["Msg"]
        assert envelope["Data"] == ""
        assert answer.sent < len(big)  # refused before the client could send it all
        assert tcec.status() is ConnectorStatus.AVAILABLE
    assert tcec.store.status_history(tcec.ours) == []

    # just under the limit, the same push is applied
    fits = padded_push(tcec, 255, "0003", LIMITS.tcec_bytes)
    assert LIMITS.tcec_bytes - 4096 < len(fits) <= LIMITS.tcec_bytes
    for chunked in (False, True):
        seq = "0004" if chunked else "0003"
        answer = post(tcec.url, path, padded_push(tcec, 255, seq, LIMITS.tcec_bytes), auth,
                      chunked=chunked)  # fmt: skip
        assert answer.status == 200, answer.body[:200]
        assert answer.json()["Ret"] == Ret.OK
    assert tcec.status() is ConnectorStatus.FAULTED


def test_deeply_nested_json_to_t_cec_gets_its_ret_not_a_500(tcec: Tcec) -> None:
    path = "/tcec/v1/notification_stationStatus"
    # no credentials at all, as the probe did
    answer = post(tcec.url, path, deep_json(DEEP), {"Content-Type": "application/json"})
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    envelope = answer.json()
    assert envelope["Ret"] == Ret.MALFORMED
    assert "nested deeper than" in envelope["Msg"]
    # and nested inside a correctly signed envelope's encrypted payload
    token = tcec.token()
    nested: Any = 1
    for _ in range(200):
        nested = [nested]
    payload = {"ConnectorStatusInfo": {"ConnectorID": tcec.connector, "Status": 255},
               "Extra": nested}  # fmt: skip
    sealed = seal_request(OPERATOR_ID, payload, PUSH_SECRETS, seq="0009",
                          timestamp=datetime.now(CHINA_TZ))  # fmt: skip
    answer = post(tcec.url, path, orjson.dumps(sealed), {"Authorization": f"Bearer {token}"})
    assert answer.status == 200
    envelope = answer.json()
    assert envelope["Ret"] == Ret.MALFORMED
    assert "nested deeper than" in envelope["Msg"]
    assert tcec.status() is ConnectorStatus.AVAILABLE


# --- OCPI ---------------------------------------------------------------------------------------
def registered(peers: Peers) -> str:
    """The CPO registered with us: its token C."""
    token_a = peers.emsp.call(peers.platform.ocpi_connections.invite(PARTY))
    peers.cpo_server.call(peers.cpo.register_with(peers.our_versions, token_a))
    token = peers.cpo.peer_token
    assert token is not None
    return token


def location_put(n: int, size: int = 0) -> tuple[str, bytes]:
    loc = location_json(n)
    loc.update(country_code="CN", party_id="LTC", last_updated=format_datetime(T0))
    body = orjson.dumps(loc)
    if size:  # an unknown field (OCPI is lenient about those) brings it to ``size`` bytes
        loc["x_padding"] = "x" * (size - len(body) - len(b',"x_padding":""'))
        body = orjson.dumps(loc)
        assert len(body) == size
    return f"/ocpi/2.2.1/locations/CN/LTC/{loc['id']}", body


def held(peers: Peers, n: int) -> bool:
    return peers.store.get_station(mapping.location_key(PARTY, location_id(n))) is not None


def test_an_ocpi_location_over_the_limit_is_refused_with_the_envelope(peers: Peers) -> None:
    auth = {"Authorization": encode_token(registered(peers)), "Content-Type": "application/json"}
    for n, chunked in ((1, False), (2, True)):
        path, body = location_put(n, LIMITS.ocpi_bytes + 1)
        answer = post(peers.emsp.url, path, body, auth, chunked=chunked, method="PUT")
        assert answer.status == 413, answer.body[:200]
        envelope = answer.json()
        assert envelope["status_code"] == 2000
        assert str(LIMITS.ocpi_bytes) in envelope["status_message"]
        assert "timestamp" in envelope
        assert not held(peers, n)
    # the OCPI sub-application (credentials, sessions, CDRs…) has the same limit
    big = orjson.dumps({"token": "t", "url": "u", "roles": [], "x": "x" * LIMITS.ocpi_bytes})
    for chunked in (False, True):
        answer = post(peers.emsp.url, "/ocpi/2.2.1/credentials", big, auth, chunked=chunked,
                      method="PUT")  # fmt: skip
        assert answer.status == 413
        assert answer.json()["status_code"] == 2000

    for n, chunked in ((3, False), (4, True)):
        path, body = location_put(n, LIMITS.ocpi_bytes - 64)
        answer = post(peers.emsp.url, path, body, auth, chunked=chunked, method="PUT")
        assert answer.status == 200, answer.body[:300]
        assert answer.json()["status_code"] == 1000
        assert held(peers, n)


def test_deeply_nested_json_to_ocpi_gets_the_envelope_not_a_500(peers: Peers) -> None:
    auth = {"Authorization": encode_token(registered(peers)), "Content-Type": "application/json"}
    path, _ = location_put(5)
    for where in (path, "/ocpi/2.2.1/credentials"):
        answer = post(peers.emsp.url, where, deep_json(DEEP), auth, method="PUT")
        assert answer.status == 400, answer.body[:200]
        envelope = answer.json()
        assert envelope["status_code"] == 2001
        assert "nested deeper than" in envelope["status_message"]
    assert not held(peers, 5)


# --- our API ------------------------------------------------------------------------------------
@pytest.fixture
def api(store: Store) -> Iterator[tuple[Platform, str]]:
    store.upsert_operator(make_operator())
    station = make_station()
    store.upsert_stations([station], at=T0)
    platform = assemble(store)
    with LoopbackServer(platform.app()) as server:
        yield platform, server.url


def test_a_driver_request_over_the_limit_gets_our_json_error_and_changes_nothing(
    api: tuple[Platform, str], store: Store
) -> None:
    platform, url = api
    auth = {**bearer(platform), "Content-Type": "application/json"}
    connector = make_station().evses[0].connectors[0].id
    start = orjson.dumps({"connector_id": connector, "note": "x" * LIMITS.api_bytes})
    for chunked in (False, True):
        for path in ("/api/v1/sessions", "/api/v1/sessions/preview"):
            answer = post(url, path, start, auth, chunked=chunked)
            assert answer.status == 413, answer.body[:200]
            detail = answer.json()["detail"]
            assert detail["code"] == "too_large"
            assert str(LIMITS.api_bytes) in detail["reason"]
    with httpx.Client(base_url=url, headers=bearer(platform), timeout=10) as http:
        assert http.get("/api/v1/sessions").json() == []  # no session appeared

    for n, chunked in ((7, False), (8, True)):
        vin = valid_vin(n)
        vehicle = {"vin": vin, "model": "yc-aster"}
        too_big = orjson.dumps({**vehicle, "note": "x" * LIMITS.api_bytes})
        assert post(url, "/api/v1/vehicles", too_big, auth, chunked=chunked).status == 413
        assert store.vehicle_by_vin(vin) is None
        fits = orjson.dumps({**vehicle, "note": "x" * (LIMITS.api_bytes - 100)})
        assert LIMITS.api_bytes - 100 < len(fits) <= LIMITS.api_bytes
        assert post(url, "/api/v1/vehicles", fits, auth, chunked=chunked).status == 201
        assert store.vehicle_by_vin(vin) is not None


def test_deeply_nested_json_to_our_api_is_a_json_error_not_a_500(
    api: tuple[Platform, str],
) -> None:
    platform, url = api
    auth = {**bearer(platform), "Content-Type": "application/json"}
    for levels, status, code in ((30_000, 400, "bad_request"), (DEEP, 413, "too_large")):
        for chunked in (False, True):
            answer = post(url, "/api/v1/sessions/preview", deep_json(levels), auth,
                          chunked=chunked)  # fmt: skip
            assert answer.status == status, answer.body[:200]
            assert answer.json()["detail"]["code"] == code
    nested = b'{"qr": "x", "connector_id": ' + deep_json(65) + b"}"
    answer = post(url, "/api/v1/sessions/preview", nested, auth)
    assert answer.status == 400
    assert "nested deeper than 64" in answer.json()["detail"]["reason"]
    # not JSON-typed, it is not scanned: FastAPI refuses it as it did
    assert post(url, "/api/v1/sessions/preview", deep_json(30_000), bearer(platform)).status in (
        400,
        422,
    )


# --- the limits themselves ----------------------------------------------------------------------
def test_each_endpoint_has_the_limit_of_its_callers_and_the_config_sets_them(
    tmp_path: Path,
) -> None:
    limits = BodyLimits(lambda *_: None, LIMITS)  # type: ignore[arg-type]
    assert limits.limit_for("/tcec/v1/notification_stationStatus") == LIMITS.tcec_bytes
    assert limits.limit_for("/ocpi/2.2.1/locations/CN/LTC/1") == LIMITS.ocpi_bytes
    assert limits.limit_for("/api/v1/sessions") == LIMITS.api_bytes
    assert limits.limit_for("/api/v1/ops/compatibility/campaigns") == LIMITS.ops_bytes
    assert limits.limit_for("/api/v1/ops/firmware") == LIMITS.firmware_bytes
    assert LIMITS.firmware_bytes > 64 * MB  # the largest image we keep, and its form

    config = parse_config(
        f'[store]\nurl = "sqlite:///{tmp_path / "c.db"}"\n'
        "[limits]\ntcec_bytes = 4096\napi_bytes = 2048\n"
    )
    assert (config.limits.tcec_bytes, config.limits.api_bytes) == (4096, 2048)
    assert config.limits.ocpi_bytes == LIMITS.ocpi_bytes
    with build_platform(config, scheduled_syncs=False, status_polls=False) as platform:
        assert platform.body_limits == config.limits
        with LoopbackServer(platform.app()) as server:
            answer = post(server.url, "/api/v1/accounts", b"{}" + b" " * 2047,
                          {"Content-Type": "application/json"})  # fmt: skip
            assert answer.status == 413
            assert "2048" in answer.json()["detail"]["reason"]


def test_a_chunked_body_is_read_no_further_than_its_limit() -> None:
    """Counted as it arrives: the chunk that passes the limit is the last one pulled, and the
    route's own answer to the broken body gives way to the 413."""
    chunk = b"x" * 1000
    count = 100  # 100 kB to a 64 KiB endpoint
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < count}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def route(scope: Any, receive: Any, send: Any) -> None:  # reads it all, as routes do
        more = True
        try:
            while more:
                more = (await receive()).get("more_body", False)
        except Exception:  # as FastAPI does: the body could not be read, a 400
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"bad"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "method": "POST", "path": "/api/v1/sessions", "headers": []}
    asyncio.run(BodyLimits(route, LIMITS)(scope, receive, send))  # type: ignore[arg-type]
    assert pulled == LIMITS.api_bytes // len(chunk) + 1
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
    assert orjson.loads(sent[-1]["body"])["detail"]["code"] == "too_large"
