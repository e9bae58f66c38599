"""A partner's answer read within bounds, over a real loopback server: a gzip bomb is stopped by
what it decompresses to, a declared length past the limit is refused before the body, and an
answer within the limits comes back whole, decoded, as an ordinary response."""

from __future__ import annotations

import gzip
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest

from chargemesh.protocols.bounded import AnswerTooLarge, FetchLimits, bounded_request
from chargemesh.protocols.http_server import LoopbackServer
from tests.peers.misbehaving import Receive, Send

ZEROS = 64 * 1024 * 1024
BOMB = gzip.compress(b"0" * ZEROS, compresslevel=9)  # ~64 KB on the wire, 64 MB unpacked
SMALL = gzip.compress(b'{"status_code": 1000, "data": []}')


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    headers = [(b"content-type", b"application/json")]
    if path == "/bomb":
        body = BOMB
        headers.append((b"content-encoding", b"gzip"))
    elif path == "/declared":
        body = b"{}"
        headers.append((b"content-length", b"999999999"))
    else:
        body = SMALL
        headers.append((b"content-encoding", b"gzip"))
    if path != "/declared":
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


LIMITS = FetchLimits(max_bytes=1024 * 1024, total_s=10)


def _get(server: LoopbackServer, path: str) -> httpx.Response:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as http:
            return await bounded_request(http, "GET", f"{server.url}{path}", LIMITS)

    return server.call(call())


def test_a_gzip_bomb_is_stopped_by_what_it_unpacks_to() -> None:
    assert len(BOMB) < LIMITS.max_bytes  # small on the wire: only the unpacked size tells
    with LoopbackServer(app) as server, pytest.raises(AnswerTooLarge, match="larger than"):
        _get(server, "/bomb")


def test_a_declared_length_past_the_limit_is_refused_before_the_body() -> None:
    with LoopbackServer(app) as server, pytest.raises(AnswerTooLarge, match="declares 999999999"):
        _get(server, "/declared")


def test_an_answer_within_the_limits_comes_back_decoded() -> None:
    with LoopbackServer(app) as server:
        answer = _get(server, "/small")
    assert answer.status_code == 200
    assert answer.json() == {"status_code": 1000, "data": []}
    assert "content-encoding" not in answer.headers
