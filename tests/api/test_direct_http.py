"""The HTTP server answers the app's direct GETs on the connection itself
(``protocols/direct_http.py``): the same bytes as uvicorn's ASGI path, over a real socket, with
keep-alive, pipelining in order, ``Connection: close``, HTTP/1.0, the search rate limit by the
address a trusted proxy forwards, the request metrics, and a failure answered 500 in our JSON.
Whatever the direct path must not take (a body, an escaped path, a request pipelined behind a
slow one) still goes through uvicorn's own handling."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chargemesh.api.nearby import PATH
from chargemesh.bootstrap import Platform, assemble
from chargemesh.config import RateLimitsConfig
from chargemesh.metrics import REGISTRY
from chargemesh.protocols import direct_http
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.store import open_store
from tests.factories import make_operator, make_station

OP = "313744932"
LON, LAT = 116.4039, 39.9101
QUERY = f"{PATH}?lat={LAT}&lon={LON}&radius_km=20"
ESCAPED = QUERY.replace("nearby", "near%62y")  # the same path once decoded: uvicorn's ASGI path


@dataclass
class Served:
    platform: Platform
    port: int
    direct: list[str]  # the paths the direct path answered, in order


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@contextlib.contextmanager
def serve(tmp_path: Path, limits: RateLimitsConfig | None = None) -> Iterator[Served]:
    store = open_store(f"sqlite:///{tmp_path / 'direct.db'}")
    store.upsert_operator(make_operator(OP))
    stations = [make_station(OP, f"S{i}", lon=LON + 0.01 * i, lat=LAT) for i in range(5)]
    store.upsert_stations(stations, at=datetime.now(UTC))
    platform = assemble(store, rate_limits=limits)
    answered: list[str] = []
    real = direct_http.DirectHttp._answer

    def spy(self: direct_http.DirectHttp, get: direct_http.DirectGet) -> None:
        answered.append(self.scope["path"])
        real(self, get)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(direct_http.DirectHttp, "_answer", spy)
        try:
            with LoopbackServer(platform.app()) as server:
                yield Served(platform, server.port, answered)
        finally:
            store.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path) as running:
        yield running


class Conn:
    """A bare socket: requests written as given, answers read one by one."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, *requests: bytes) -> None:
        self.sock.sendall(b"".join(requests))

    def reply(self) -> Reply:
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"{name} twice"
            headers[name.lower()] = value.strip()
        length = int(headers["content-length"])
        while len(self.buf) < length:
            self._more()
        body, self.buf = self.buf[:length], self.buf[length:]
        return Reply(int(lines[0].split()[1]), headers, body)

    def closed(self) -> bool:
        """True if the server closes the connection at once (well before uvicorn's 5 s
        keep-alive timeout would close an idle one)."""
        self.sock.settimeout(1.0)
        try:
            return self.buf == b"" and self.sock.recv(1) == b""
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(10)

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buf += chunk

    def close(self) -> None:
        self.sock.close()


def get(path: str, *headers: str, version: str = "1.1") -> bytes:
    lines = [f"GET {path} HTTP/{version}", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def counted(status: str) -> float:
    value = REGISTRY.get_sample_value(
        "chargemesh_http_request_duration_seconds_count",
        {"route": PATH, "method": "GET", "status": status},
    )
    return value or 0.0


def without_date(reply: Reply) -> tuple[int, dict[str, str], bytes]:
    return reply.status, {k: v for k, v in reply.headers.items() if k != "date"}, reply.body


def test_a_direct_answer_is_the_asgi_paths_answer_byte_for_byte(served: Served) -> None:
    conn = Conn(served.port)
    before = counted("2xx")
    replies = []
    for path in (QUERY, ESCAPED, QUERY + "&coords=wgs84", ESCAPED + "&coords=wgs84"):
        conn.send(get(path))  # one at a time: none pipelined behind an ASGI one
        replies.append(conn.reply())
    direct, through, direct84, through84 = replies
    assert served.direct == [PATH, PATH]  # the escaped ones took uvicorn's path
    assert without_date(direct) == without_date(through)
    assert without_date(direct84) == without_date(through84)
    assert direct.status == 200
    assert b'"count":5' in direct.body
    assert direct.body != direct84.body  # the coordinates converted: not one answer twice
    assert direct.headers["server"] == "uvicorn"
    assert "date" in direct.headers
    assert counted("2xx") == before + 4  # both paths counted under the route
    for bad in ("lat=91&lon=1", "lat=1&lon=1&operator=NOPE"):
        conn.send(get(f"{PATH}?{bad}"))
        refused = conn.reply()
        conn.send(get(f"{PATH.replace('nearby', 'near%62y')}?{bad}"))
        refused_through = conn.reply()
        assert refused.status == 422
        assert without_date(refused) == without_date(refused_through)
    conn.close()


def test_keep_alive_and_pipelined_requests_are_answered_in_order(served: Served) -> None:
    conn = Conn(served.port)
    # one write: direct, ASGI (another route), direct, a GET with a body (ASGI), direct
    conn.send(
        get(QUERY + "&limit=1"),
        get("/api/v1/operators"),
        get(QUERY + "&limit=2"),
        get(QUERY + "&limit=3", "Content-Length: 2") + b"{}",
        get(QUERY + "&limit=4"),
    )
    replies = [conn.reply() for _ in range(5)]
    assert [r.status for r in replies] == [200] * 5
    counts = [r.body.count(b'"distance_km"') for r in replies]
    assert counts[0::2] == [1, 2, 4]
    assert counts[3] == 3
    assert OP.encode() in replies[1].body
    # the first at once; the second's ASGI answer may still be on its way when the others
    # arrive: they then queue behind it, as uvicorn queues pipelined requests
    assert 1 <= len(served.direct) <= 3
    conn.send(get(QUERY))  # the connection is still open after all of them
    assert conn.reply().status == 200
    conn.close()


def test_the_client_closing_is_honoured(served: Served) -> None:
    conn = Conn(served.port)
    conn.send(get(QUERY, "Connection: close"))
    reply = conn.reply()
    assert reply.status == 200
    assert reply.headers["connection"] == "close"
    assert conn.closed()
    old = Conn(served.port)
    old.send(get(QUERY, version="1.0"))
    reply = old.reply()
    assert reply.status == 200
    assert reply.headers["connection"] == "close"
    assert old.closed()
    assert len(served.direct) == 2


def test_the_rate_limit_counts_the_address_a_trusted_proxy_forwards(tmp_path: Path) -> None:
    limits = RateLimitsConfig(search_per_s=0.01, search_burst=1)
    with serve(tmp_path, limits) as served:
        conn = Conn(served.port)
        conn.send(get(QUERY, "X-Forwarded-For: 203.0.113.7"))
        assert conn.reply().status == 200
        conn.send(get(QUERY, "X-Forwarded-For: 203.0.113.7"))
        refused = conn.reply()
        assert refused.status == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["connection"] == "close"
        assert b'"code":"too_many_requests"' in refused.body
        assert conn.closed()
        other = Conn(served.port)  # another driver behind the same proxy: its own allowance
        other.send(get(QUERY, "X-Forwarded-For: 198.51.100.20"))
        assert other.reply().status == 200
        other.close()
        assert len(served.direct) == 3


def test_a_failure_is_a_500_in_our_json_and_the_server_goes_on(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> bytes:
        raise RuntimeError("the index is broken")

    monkeypatch.setattr("chargemesh.api.nearby.nearby_answer", broken)
    before = counted("5xx")
    conn = Conn(served.port)
    conn.send(get(QUERY))
    reply = conn.reply()
    assert reply.status == 500
    assert b'"code":"error"' in reply.body
    assert b"broken" not in reply.body
    assert counted("5xx") == before + 1
    assert conn.closed()
    monkeypatch.undo()
    again = Conn(served.port)
    again.send(get(QUERY))
    assert again.reply().status == 200
    again.close()
