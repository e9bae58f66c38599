"""The simulated OCPI CPO over real loopback HTTP, driven by :class:`OcpiClient`: tokens,
registration both ways, pagination and its faults, GET by id, commands with their asynchronous
results, the tokens receiver, and the CPO's pushes to a tiny eMSP written in this file.

Sample data: tests/peers/ocpi_samples.py (fictional "Lanting Charging", CN*LTC).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.ocpi.client import OcpiClient, OcpiPeerError, Page, join_url
from chargemesh.protocols.ocpi.enums import (
    AllowedType,
    CommandResponseType,
    CommandResultType,
    CommandType,
    Role,
    Status,
)
from chargemesh.protocols.ocpi.http import ocpi_response, read_json
from chargemesh.protocols.ocpi.models import (
    BusinessDetails,
    Cdr,
    CommandResult,
    Connector,
    Credentials,
    CredentialsRole,
    Evse,
    Location,
    Session,
    StartSession,
    StopSession,
    Tariff,
    Token,
    dump,
    parse,
)
from chargemesh.protocols.ocpi.transport import (
    encode_token,
    format_datetime,
    page_link,
    token_candidates,
)
from chargemesh.sim.peers.ocpi.data import CpoNetwork
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
from tests.helpers import wait_for
from tests.peers.ocpi_samples import (
    CPO_PARTY,
    EMSP_PARTY,
    EMSP_TOKEN_A,
    STEP,
    T0,
    TOKEN_A,
    location,
    location_id,
    location_updated,
    locations,
    tariff,
    token,
)

LOCATION_COUNT = 23
TARIFF_COUNT = 7
MAX_LIMIT = 10
TOKEN_B = "emsp-token-b-for-the-cpo-0001"  # the eMSP's token the CPO calls it with
EMSP_TOKEN_C = "emsp-token-c-issued-to-cpo-0001"  # issued by the eMSP in a CPO-led handshake
LIST_KEY = "GET /ocpi/2.2.1/locations"

wait_until = partial(wait_for, timeout_s=5.0, poll_s=0.01)


# ============================================================================ a tiny eMSP


@dataclass
class Call:
    method: str
    path: str
    authorization: str | None
    body: Any
    query: dict[str, str] = field(default_factory=dict)


class TinyEmsp:
    """Just enough of an eMSP for the CPO to register with and push to.

    Its receiver URLs end with ``/`` (quirk 8), so a double slash in a pushed URL is a 404. An
    unknown token is answered like py_ocpi does: HTTP 403 with ``{"detail": …}`` (quirk 3). The
    GET of an EVSE answers ``data: [evse]`` (quirk 4). Its tokens list holds one record that
    does not parse.
    """

    def __init__(self) -> None:
        self.accepted = {TOKEN_B, EMSP_TOKEN_A, EMSP_TOKEN_C}
        self.calls: list[Call] = []
        self.origin = ""
        self.cpo_token: str | None = None  # the CPO's token B, from a CPO-led handshake
        self.cpo_versions_status: int | None = None
        self.tokens = [dump(token(f"APP{n:06d}")) for n in range(1, 6)]
        self.tokens.insert(2, {"uid": "BROKEN01", "type": "APP_USER"})  # no required fields
        self.evses: dict[str, dict[str, Any]] = {}
        self.app = self._build()

    def base(self) -> str:
        return f"{self.origin}/emsp"

    def versions_url(self) -> str:
        return f"{self.base()}/versions"

    def calls_to(self, method: str, prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]

    def _auth(self, request: Request) -> Response | None:
        for candidate in token_candidates(request.headers.get("authorization")):
            if candidate in self.accepted:
                return None
        return Response(b'{"detail":"Forbidden"}', status_code=403, media_type="application/json")

    async def _record(self, request: Request) -> Any:
        body = await read_json(request) if await request.body() else None
        self.calls.append(
            Call(
                request.method,
                request.url.path,
                request.headers.get("authorization"),
                body,
                dict(request.query_params),
            )
        )
        return body

    def _build(self) -> FastAPI:
        app = FastAPI()
        v = "/emsp/2.2.1"

        @app.get("/emsp/versions")
        async def versions(request: Request) -> Response:
            await self._record(request)
            return self._auth(request) or ocpi_response(
                [{"version": "2.2.1", "url": f"{self.base()}/2.2.1"}]
            )

        @app.get(v)
        async def details(request: Request) -> Response:
            await self._record(request)
            ends = [
                ("credentials", "RECEIVER", "credentials"),
                ("locations", "RECEIVER", "locations/"),
                ("sessions", "RECEIVER", "sessions/"),
                ("cdrs", "RECEIVER", "cdrs/"),
                ("tokens", "SENDER", "tokens/"),
                ("commands", "SENDER", "commands/"),
            ]
            endpoints = [
                {"identifier": i, "role": r, "url": f"{self.base()}/2.2.1/{p}"} for i, r, p in ends
            ]
            return self._auth(request) or ocpi_response(
                {"version": "2.2.1", "endpoints": endpoints}
            )

        @app.post(f"{v}/credentials")
        async def credentials(request: Request) -> Response:
            body = await self._record(request)
            if (refused := self._auth(request)) is not None:
                return refused
            theirs = parse(Credentials, body)
            self.cpo_token = theirs.token
            async with httpx.AsyncClient(timeout=5) as http:  # the CPO's token B must work now
                answer = await http.get(
                    theirs.url, headers={"Authorization": encode_token(theirs.token)}
                )
                self.cpo_versions_status = answer.status_code
            ours = Credentials(
                token=EMSP_TOKEN_C,
                url=self.versions_url(),
                roles=[
                    CredentialsRole(
                        role=Role.EMSP,
                        business_details=BusinessDetails(name="ChargeMesh"),
                        country_code=EMSP_PARTY[0],
                        party_id=EMSP_PARTY[1],
                    )
                ],
            )
            return ocpi_response(dump(ours))

        @app.api_route(f"{v}/locations/{{rest:path}}", methods=["GET", "PUT", "PATCH"])
        async def locations_receiver(request: Request, rest: str) -> Response:
            await self._record(request)
            if (refused := self._auth(request)) is not None:
                return refused
            if request.method == "GET":
                evse = self.evses.get(rest)
                if evse is None:
                    return ocpi_response(status_code=2003, message="unknown", http_status=404)
                return ocpi_response([evse])  # quirk 4: a one-element list
            return ocpi_response()

        @app.api_route(f"{v}/sessions/{{rest:path}}", methods=["PUT", "PATCH"])
        async def sessions_receiver(request: Request, rest: str) -> Response:
            await self._record(request)
            return self._auth(request) or ocpi_response()

        @app.post(f"{v}/cdrs/")
        async def cdrs_receiver(request: Request) -> Response:
            body = await self._record(request)
            if (refused := self._auth(request)) is not None:
                return refused
            where = f"{self.base()}/2.2.1/cdrs/{body['id']}"
            return ocpi_response(headers={"Location": where})

        @app.get(f"{v}/tokens/")
        async def tokens_list(request: Request) -> Response:
            await self._record(request)
            if (refused := self._auth(request)) is not None:
                return refused
            offset = int(request.query_params.get("offset", "0"))
            limit = 2
            page = self.tokens[offset : offset + limit]
            headers = {"X-Total-Count": str(len(self.tokens)), "X-Limit": str(limit)}
            if offset + limit < len(self.tokens):
                url = f"{self.base()}/2.2.1/tokens/"
                headers["Link"] = page_link(url, {"offset": offset + limit, "limit": limit})
            return ocpi_response(page, headers=headers)

        @app.post(f"{v}/tokens/{{uid}}/authorize")
        async def authorize(request: Request, uid: str) -> Response:
            body = await self._record(request)
            if (refused := self._auth(request)) is not None:
                return refused
            info: dict[str, Any] = {"allowed": "ALLOWED", "token": dump(token(uid))}
            if body:
                info["location"] = body
            return ocpi_response(info)

        @app.post(f"{v}/commands/{{command}}/{{ref}}")
        async def command_result(request: Request, command: str, ref: str) -> Response:
            await self._record(request)
            return self._auth(request) or ocpi_response()

        return app


# ============================================================================ fixtures


@pytest.fixture
def network() -> CpoNetwork:
    return CpoNetwork(
        *CPO_PARTY,
        locations=locations(LOCATION_COUNT),
        tariffs=[tariff(n) for n in range(1, TARIFF_COUNT + 1)],
    )


@pytest.fixture
def cpo(network: CpoNetwork) -> OcpiCpoServer:
    return OcpiCpoServer(
        network, token_a=TOKEN_A, max_limit=MAX_LIMIT, command_delay_s=0.01, backoff_s=0.01
    )


@pytest.fixture
def served(cpo: OcpiCpoServer) -> Iterator[LoopbackServer]:
    with LoopbackServer(cpo.app) as server:
        cpo.set_base_url(server.url)
        yield server


@pytest.fixture
def emsp() -> Iterator[TinyEmsp]:
    tiny = TinyEmsp()
    with LoopbackServer(tiny.app) as server:
        tiny.origin = server.url
        yield tiny


@dataclass
class Urls:
    versions: str
    details: str
    credentials: str
    locations: str
    tariffs: str
    commands: str
    tokens: str


@pytest.fixture
def urls(served: LoopbackServer) -> Urls:
    v = f"{served.url}/ocpi/2.2.1"
    return Urls(
        versions=f"{served.url}/ocpi/versions",
        details=v,
        credentials=f"{v}/credentials",
        locations=f"{v}/locations",
        tariffs=f"{v}/tariffs",
        commands=f"{v}/commands",
        tokens=f"{v}/tokens",
    )


def emsp_credentials(emsp: TinyEmsp, token_b: str = TOKEN_B) -> Credentials:
    return Credentials(
        token=token_b,
        url=emsp.versions_url(),
        roles=[
            CredentialsRole(
                role=Role.EMSP,
                business_details=BusinessDetails(name="ChargeMesh"),
                country_code=EMSP_PARTY[0],
                party_id=EMSP_PARTY[1],
            )
        ],
    )


@asynccontextmanager
async def client(token_value: str, **options: Any) -> AsyncIterator[OcpiClient]:
    options.setdefault("backoff_s", 0.01)
    async with httpx.AsyncClient(timeout=10) as http:
        yield OcpiClient(http, token_value, own_party=EMSP_PARTY, **options)


async def register(urls: Urls, emsp: TinyEmsp) -> str:
    """The eMSP-led handshake; the CPO's token C."""
    async with client(TOKEN_A) as c:
        answer = await c.post_credentials(urls.credentials, emsp_credentials(emsp))
    return answer.token


@pytest.fixture
def token_c(urls: Urls, emsp: TinyEmsp) -> str:
    return asyncio.run(register(urls, emsp))


async def pull(
    url: str, model: type[Any], token_value: str, **options: Any
) -> tuple[list[Page[Any]], list[str]]:
    retries = options.pop("retries", 3)
    async with client(token_value, retries=retries) as c:
        pages = [page async for page in c.pages(url, model, **options)]
    return pages, [item.id for page in pages for item in page.items]


async def collect(pages: AsyncIterator[Page[Any]], into: list[str]) -> None:
    async for page in pages:
        into += [item.id for item in page.items]


def all_ids(count: int = LOCATION_COUNT) -> list[str]:
    return [location_id(n) for n in range(1, count + 1)]


def decoded(authorization: str | None) -> str:
    assert authorization is not None
    assert authorization.startswith("Token ")
    return base64.b64decode(authorization.removeprefix("Token ")).decode()


# ============================================================================ tokens, versions


def test_versions_and_details_need_a_known_token(urls: Urls) -> None:
    for url in (urls.versions, urls.details):
        for headers in ({}, {"Authorization": encode_token("not-a-token")}, {"X": "y"}):
            response = httpx.get(url, headers=headers)
            assert response.status_code == 401
            body = response.json()
            assert body["status_code"] == 2000
            assert "timestamp" in body
            assert "data" not in body

    async def wrong() -> OcpiPeerError:
        async with client("not-a-token") as c:
            with pytest.raises(OcpiPeerError) as caught:
                await c.get_versions(urls.versions)
        return caught.value

    error = asyncio.run(wrong())
    assert error.unauthorized
    assert error.http_status == 401
    assert error.status_code == 2000
    assert "not-a-token" not in str(error)


def test_base64_and_raw_tokens_both_open_versions(urls: Urls) -> None:
    async def scenario(raw: bool) -> dict[tuple[str, str], str]:
        async with client(TOKEN_A, raw_token=raw) as c:
            versions = await c.get_versions(urls.versions)
            assert [(str(v.version), v.url) for v in versions] == [("2.2.1", urls.details)]
            return c.endpoints(await c.get_version_details(urls.details))

    for raw in (False, True):
        endpoints = asyncio.run(scenario(raw))
        assert endpoints == {
            ("credentials", "SENDER"): urls.credentials,
            ("credentials", "RECEIVER"): urls.credentials,
            ("locations", "SENDER"): urls.locations,
            ("tariffs", "SENDER"): urls.tariffs,
            ("sessions", "SENDER"): f"{urls.details}/sessions",
            ("cdrs", "SENDER"): f"{urls.details}/cdrs",
            ("commands", "RECEIVER"): urls.commands,
            ("tokens", "RECEIVER"): urls.tokens,
        }
    raw_header = httpx.get(urls.versions, headers={"Authorization": f"Token {TOKEN_A}"})
    assert raw_header.status_code == 200


def test_request_ids_are_echoed(urls: Urls) -> None:
    headers = {
        "Authorization": encode_token(TOKEN_A),
        "X-Request-ID": "req-1",
        "X-Correlation-ID": "corr-1",
    }
    response = httpx.get(urls.versions, headers=headers)
    assert response.headers["X-Request-ID"] == "req-1"
    assert response.headers["X-Correlation-ID"] == "corr-1"


def test_token_a_opens_nothing_but_registration(urls: Urls) -> None:
    response = httpx.get(urls.locations, headers={"Authorization": encode_token(TOKEN_A)})
    assert response.status_code == 401
    assert response.json()["status_code"] == 2000
    response = httpx.get(
        f"{urls.locations}/{location_id(1)}", headers={"Authorization": encode_token(TOKEN_A)}
    )
    assert response.status_code == 401


# ============================================================================ registration


def test_emsp_led_registration_issues_token_c_and_discards_token_a(
    urls: Urls, emsp: TinyEmsp, cpo: OcpiCpoServer
) -> None:
    token_c = asyncio.run(register(urls, emsp))
    assert token_c not in (TOKEN_A, TOKEN_B)
    assert len(token_c) <= 64
    assert cpo.registered
    assert cpo.peer_token == TOKEN_B
    assert cpo.peer_party == EMSP_PARTY
    # the CPO fetched our versions and details with token B
    fetched = [c for c in emsp.calls if c.method == "GET"]
    assert [c.path for c in fetched] == ["/emsp/versions", "/emsp/2.2.1"]
    assert all(decoded(c.authorization) == TOKEN_B for c in fetched)
    assert cpo.peer_endpoints[("locations", "RECEIVER")] == f"{emsp.base()}/2.2.1/locations/"

    def status(token_value: str, url: str = urls.versions) -> int:
        return httpx.get(url, headers={"Authorization": encode_token(token_value)}).status_code

    assert status(TOKEN_A) == 401  # discarded
    assert status(token_c) == 200
    assert status(token_c, urls.locations) == 200

    async def again() -> tuple[OcpiPeerError, Credentials, Credentials]:
        async with client(token_c) as c:
            with pytest.raises(OcpiPeerError) as second:
                await c.post_credentials(urls.credentials, emsp_credentials(emsp))
            got = await c.get_credentials(urls.credentials)
            rotated = await c.put_credentials(urls.credentials, emsp_credentials(emsp, "new-b"))
        return second.value, got, rotated

    emsp.accepted.add("new-b")
    second, got, rotated = asyncio.run(again())
    assert second.http_status == 405
    assert second.status_code == 2000
    assert got.token == token_c
    assert got.url == urls.versions
    assert [(str(r.role), r.country_code, r.party_id) for r in got.roles] == [("CPO", "CN", "LTC")]
    assert rotated.token not in (token_c, TOKEN_A)
    assert cpo.peer_token == "new-b"
    assert status(token_c) == 401
    assert status(rotated.token) == 200

    async def unregister() -> None:
        async with client(rotated.token) as c:
            await c.delete_credentials(urls.credentials)

    asyncio.run(unregister())
    assert not cpo.registered
    assert status(rotated.token) == 401
    assert status(TOKEN_A) == 401


def test_registration_fails_with_3001_when_the_emsp_cannot_be_reached(
    urls: Urls, emsp: TinyEmsp, cpo: OcpiCpoServer
) -> None:
    async def scenario() -> OcpiPeerError:
        async with client(TOKEN_A) as c:
            with pytest.raises(OcpiPeerError) as caught:
                await c.post_credentials(urls.credentials, emsp_credentials(emsp, "unknown-b"))
        return caught.value

    error = asyncio.run(scenario())  # the eMSP refuses "unknown-b" with 403
    assert error.status_code == 3001
    assert not cpo.registered
    assert httpx.get(urls.versions, headers={"Authorization": encode_token(TOKEN_A)}).is_success


# ============================================================================ pagination


def test_a_multi_page_pull_returns_every_location_once(urls: Urls, token_c: str) -> None:
    pages, ids = asyncio.run(pull(urls.locations, Location, token_c))
    assert ids == all_ids()  # each once, in (last_updated, id) order
    assert [p.offset for p in pages] == [0, 10, 20]
    assert [len(p.items) for p in pages] == [10, 10, 3]
    assert [p.next_offset for p in pages] == [10, 20, None]
    assert all(p.total == LOCATION_COUNT and p.limit == MAX_LIMIT for p in pages)
    assert all(p.rejected == 0 for p in pages)

    auth = {"Authorization": encode_token(token_c)}
    first = httpx.get(urls.locations, params={"limit": 4}, headers=auth)
    assert first.headers["X-Total-Count"] == "23"
    assert first.headers["X-Limit"] == "10"
    link = first.headers["Link"]
    assert link == f'<{urls.locations}?offset=4&limit=4>; rel="next"'
    last = httpx.get(urls.locations, params={"offset": 20}, headers=auth)
    assert "Link" not in last.headers
    assert [item["id"] for item in last.json()["data"]] == all_ids()[20:]


def test_limit_is_capped_at_the_maximum(urls: Urls, token_c: str) -> None:
    pages, ids = asyncio.run(pull(urls.locations, Location, token_c, limit=1000))
    assert [len(p.items) for p in pages] == [10, 10, 3]
    assert ids == all_ids()
    pages, ids = asyncio.run(pull(urls.locations, Location, token_c, limit=4))
    assert [len(p.items) for p in pages] == [4, 4, 4, 4, 4, 3]
    assert ids == all_ids()


def test_date_from_is_inclusive_and_date_to_exclusive(urls: Urls, token_c: str) -> None:
    window = {"date_from": location_updated(5), "date_to": location_updated(12)}
    pages, ids = asyncio.run(pull(urls.locations, Location, token_c, limit=3, **window))
    assert ids == [location_id(n) for n in range(5, 12)]
    assert all(p.total == 7 for p in pages)

    auth = {"Authorization": encode_token(token_c)}
    params = {k: format_datetime(v) for k, v in window.items()} | {"limit": "3"}
    link = httpx.get(urls.locations, params=params, headers=auth).headers["Link"]
    query = parse_qs(urlsplit(link.split(">")[0].lstrip("<")).query)
    assert query == {
        "date_from": [format_datetime(window["date_from"])],
        "date_to": [format_datetime(window["date_to"])],
        "offset": ["3"],
        "limit": ["3"],
    }
    bad = httpx.get(urls.locations, params={"date_from": "yesterday"}, headers=auth)
    assert bad.status_code == 400
    assert bad.json()["status_code"] == 2001


def test_tariffs_use_the_same_pagination(urls: Urls, token_c: str) -> None:
    pages, ids = asyncio.run(pull(urls.tariffs, Tariff, token_c, limit=3, date_from=T0 + 2 * STEP))
    assert ids == [f"TARIFF{n:02d}" for n in range(2, TARIFF_COUNT + 1)]
    assert [p.total for p in pages] == [6, 6]


def test_a_failed_page_is_retried_at_its_offset(
    urls: Urls, token_c: str, cpo: OcpiCpoServer
) -> None:
    cpo.fail_offsets_once = {20}
    _, ids = asyncio.run(pull(urls.locations, Location, token_c))
    assert ids == all_ids()
    assert cpo.fail_offsets_once == set()  # the fault was hit
    # pages 0 and 10 once each, page 20 twice (the 500, then the retry): nothing re-fetched
    assert cpo.requests[LIST_KEY] == 4


def test_a_page_that_keeps_failing_gives_its_offset_to_resume_from(
    urls: Urls, token_c: str, cpo: OcpiCpoServer
) -> None:
    cpo.fail_offsets_once = {10}

    async def scenario() -> tuple[list[str], OcpiPeerError, list[str]]:
        seen: list[str] = []
        async with client(token_c, retries=0) as c:
            with pytest.raises(OcpiPeerError) as caught:
                await collect(c.pages(urls.locations, Location), seen)
            assert caught.value.resume_offset is not None
            rest = [
                item.id
                async for page in c.pages(
                    urls.locations, Location, offset=caught.value.resume_offset
                )
                for item in page.items
            ]
        return seen, caught.value, rest

    seen, error, rest = asyncio.run(scenario())
    assert error.resume_offset == 10
    assert error.http_status == 500
    assert seen == all_ids()[:10]
    assert rest == all_ids()[10:]
    assert cpo.requests[LIST_KEY] == 4  # 0, 10 (500), then 10 and 20


def test_an_empty_link_and_a_foreign_host_link_are_tolerated(
    urls: Urls, token_c: str, cpo: OcpiCpoServer
) -> None:
    cpo.empty_link_on_last_page = True
    cpo.foreign_link_host = True
    auth = {"Authorization": encode_token(token_c)}
    first = httpx.get(urls.locations, headers=auth)
    assert first.headers["Link"].startswith("<https://cpo.invalid/ocpi/2.2.1/locations?")
    last = httpx.get(urls.locations, params={"offset": 20}, headers=auth)
    assert last.headers["Link"] == ""

    pages, ids = asyncio.run(pull(urls.locations, Location, token_c, limit=7))
    assert ids == all_ids()
    assert [p.offset for p in pages] == [0, 7, 14, 21]
    assert pages[-1].next_offset is None
    assert cpo.requests[LIST_KEY] == 2 + 4


def test_a_growing_total_reads_again_from_before_the_shift(
    urls: Urls, token_c: str, network: CpoNetwork
) -> None:
    async def scenario() -> list[Page[Location]]:
        pages = []
        async with client(token_c) as c:
            async for page in c.pages(urls.locations, Location):
                pages.append(page)
                if len(pages) == 1:  # a new location appears during the pull
                    network.put_location(location(LOCATION_COUNT + 1))
        return pages

    pages = asyncio.run(scenario())
    # page 2 saw the total grow by one: it is read again from one place earlier
    assert [p.total for p in pages] == [23, 24, 24, 24]
    assert [p.offset for p in pages] == [0, 10, 9, 19]
    ids = [item.id for page in pages for item in page.items]
    assert sorted(set(ids)) == all_ids(LOCATION_COUNT + 1)
    assert len(ids) == 10 + 10 + 10 + 5  # pages 2 and 3 overlap: the caller dedupes


def test_unauthorized_pages_are_not_retried(urls: Urls, cpo: OcpiCpoServer) -> None:
    async def scenario() -> OcpiPeerError:
        async with client("wrong") as c:
            with pytest.raises(OcpiPeerError) as caught:
                async for _ in c.pages(urls.locations, Location):
                    pass
        return caught.value

    error = asyncio.run(scenario())
    assert error.unauthorized
    assert error.resume_offset == 0
    assert cpo.requests[LIST_KEY] == 1


# ============================================================================ GET by id


def test_get_location_evse_connector_case_insensitively(urls: Urls, token_c: str) -> None:
    async def scenario() -> list[Any]:
        async with client(token_c) as c:
            return [
                await c.get_object(f"{urls.locations}/loc0003", Location),
                await c.get_object(f"{urls.locations}/Loc0003/loc0003-dc", Evse),
                await c.get_object(f"{urls.locations}/LOC0003/LOC0003-dc/2", Connector),
                await c.get_object(f"{urls.locations}/LOC9999", Location),
                await c.get_object(f"{urls.locations}/LOC0003/nope", Evse),
                await c.get_object(f"{urls.locations}/LOC0003/LOC0003-DC/9", Connector),
            ]

    loc, evse, connector, *missing = asyncio.run(scenario())
    assert isinstance(loc, Location)
    assert loc.id == "LOC0003"
    assert isinstance(evse, Evse)
    assert evse.uid == "LOC0003-DC"
    assert isinstance(connector, Connector)
    assert connector.id == "2"
    assert str(connector.standard) == "GBT_DC"
    assert missing == [None, None, None]

    auth = {"Authorization": encode_token(token_c)}
    response = httpx.get(f"{urls.locations}/LOC9999", headers=auth)
    assert response.status_code == 404
    assert response.json()["status_code"] == 2003


def test_ocpi_to_headers_must_name_this_cpo(urls: Urls, token_c: str) -> None:
    auth = {"Authorization": encode_token(token_c)}
    url = f"{urls.locations}/LOC0001"
    ours = {"OCPI-to-country-code": "cn", "OCPI-to-party-id": "ltc"}
    other = {"OCPI-to-country-code": "CN", "OCPI-to-party-id": "XYZ"}
    assert httpx.get(url, headers=auth | ours).status_code == 200
    assert httpx.get(url, headers=auth | other).status_code == 404


# ============================================================================ commands


def start_session(emsp: TinyEmsp, ref: str, location: str = "LOC0001") -> StartSession:
    return StartSession(
        response_url=f"{emsp.base()}/2.2.1/commands/START_SESSION/{ref}",
        token=token("APP000001"),
        location_id=location,
        evse_uid=f"{location}-DC",
        connector_id="1",
    )


def test_a_bad_command_body_is_2001_and_starts_nothing(
    urls: Urls, token_c: str, emsp: TinyEmsp, cpo: OcpiCpoServer
) -> None:
    auth = {"Authorization": encode_token(token_c)}
    body = dump(start_session(emsp, "bad"))
    del body["token"]
    response = httpx.post(f"{urls.commands}/START_SESSION", json=body, headers=auth)
    assert response.status_code == 400
    assert response.json()["status_code"] == 2001
    not_json = httpx.post(f"{urls.commands}/STOP_SESSION", content=b"{", headers=auth)
    assert not_json.json()["status_code"] == 2001

    async def through_client() -> OcpiPeerError:
        async with client(token_c) as c:
            with pytest.raises(OcpiPeerError) as caught:  # a StopSession body for START_SESSION
                await c.command(
                    urls.commands,
                    CommandType.START_SESSION,
                    StopSession(response_url=f"{emsp.base()}/x", session_id="S1"),
                )
        return caught.value

    assert asyncio.run(through_client()).status_code == 2001
    asyncio.run(asyncio.sleep(0.1))  # longer than command_delay_s: no late result either
    assert cpo.received_commands == []
    assert cpo.sent_results == []
    assert emsp.calls_to("POST", "/emsp/2.2.1/commands") == []


def test_an_accepted_command_gets_its_result_posted_to_response_url(
    urls: Urls, token_c: str, emsp: TinyEmsp, cpo: OcpiCpoServer
) -> None:
    async def scenario() -> Any:
        async with client(token_c) as c:
            # a trailing slash on the endpoint must not double the separator
            return await c.command(
                urls.commands + "/", CommandType.START_SESSION, start_session(emsp, "r1")
            )

    answer = asyncio.run(scenario())
    assert answer.result == CommandResponseType.ACCEPTED
    assert answer.timeout == 30
    wait_until(lambda: len(emsp.calls_to("POST", "/emsp/2.2.1/commands")) == 1)
    result = emsp.calls_to("POST", "/emsp/2.2.1/commands")[0]
    assert result.path == "/emsp/2.2.1/commands/START_SESSION/r1"
    assert parse(CommandResult, result.body).result == CommandResultType.ACCEPTED
    assert decoded(result.authorization) == TOKEN_B
    assert [c.command for c in cpo.received_commands] == [CommandType.START_SESSION]
    wait_until(lambda: len(cpo.sent_results) == 1)
    assert cpo.sent_results[0].delivered


def test_command_knobs_and_an_unknown_location(
    urls: Urls, token_c: str, emsp: TinyEmsp, cpo: OcpiCpoServer
) -> None:
    cpo.command_outcomes[CommandType.START_SESSION] = CommandResultType.EVSE_OCCUPIED
    cpo.command_outcomes[CommandType.STOP_SESSION] = None
    cpo.command_response[CommandType.UNLOCK_CONNECTOR] = CommandResponseType.NOT_SUPPORTED

    async def scenario() -> list[Any]:
        async with client(token_c) as c:
            stop = StopSession(response_url=f"{emsp.base()}/2.2.1/commands/STOP/s1", session_id="1")
            return [
                await c.command(urls.commands, CommandType.START_SESSION, start_session(emsp, "o")),
                await c.command(urls.commands, CommandType.STOP_SESSION, stop),
                await c.command(
                    urls.commands, CommandType.START_SESSION, start_session(emsp, "u", "LOC9999")
                ),
            ]

    occupied, stopped, unknown = asyncio.run(scenario())
    assert occupied.result == stopped.result == CommandResponseType.ACCEPTED
    assert unknown.result == CommandResponseType.REJECTED
    raw = httpx.post(
        f"{urls.commands}/START_SESSION",
        json=dump(start_session(emsp, "raw", "LOC9999")),
        headers={"Authorization": encode_token(token_c)},
    )
    assert raw.json()["status_code"] == 2003
    assert raw.json()["data"]["result"] == "REJECTED"
    wait_until(lambda: len(cpo.sent_results) >= 1)
    asyncio.run(asyncio.sleep(0.1))
    results = emsp.calls_to("POST", "/emsp/2.2.1/commands")
    assert [(c.path, c.body["result"]) for c in results] == [
        ("/emsp/2.2.1/commands/START_SESSION/o", "EVSE_OCCUPIED")
    ]
    assert [str(c.response) for c in cpo.received_commands] == [
        "ACCEPTED",
        "ACCEPTED",
        "REJECTED",
        "REJECTED",
    ]


# ============================================================================ tokens receiver


def test_tokens_receiver_stores_puts_and_patches(
    urls: Urls, token_c: str, network: CpoNetwork
) -> None:
    auth = {"Authorization": encode_token(token_c)}
    app_token = token("APP000042")
    url = join_url(urls.tokens, *EMSP_PARTY, app_token.uid)
    typed = {"type": "APP_USER"}
    assert httpx.put(url, params=typed, json=dump(app_token), headers=auth).is_success
    got = httpx.get(url, params=typed, headers=auth)
    assert got.json()["data"]["uid"] == "APP000042"
    assert httpx.get(url, headers=auth).json()["status_code"] == 2004  # default type RFID

    patch = {"valid": False}
    refused = httpx.patch(url, params=typed, json=patch, headers=auth)
    assert refused.status_code == 400
    assert refused.json()["status_code"] == 2001
    later = format_datetime(T0 + timedelta(days=1))
    assert httpx.patch(
        url, params=typed, json=patch | {"last_updated": later}, headers=auth
    ).is_success
    stored = network.token(*EMSP_PARTY, "app000042", "APP_USER")
    assert stored is not None
    assert stored.valid is False
    assert stored.last_updated == T0 + timedelta(days=1)

    other = join_url(urls.tokens, *EMSP_PARTY, "OTHER")
    mismatch = httpx.put(other, params=typed, json=dump(app_token), headers=auth)
    assert mismatch.status_code == 400
    assert mismatch.json()["status_code"] == 2001
    unknown = httpx.get(other, params=typed, headers=auth)
    assert unknown.status_code == 404
    assert unknown.json()["status_code"] == 2004


# ============================================================================ the CPO pushing


def session_json(session_id: str) -> dict[str, Any]:
    return {
        "country_code": CPO_PARTY[0],
        "party_id": CPO_PARTY[1],
        "id": session_id,
        "start_date_time": format_datetime(T0),
        "kwh": 0,
        "cdr_token": {
            "country_code": EMSP_PARTY[0],
            "party_id": EMSP_PARTY[1],
            "uid": "APP000001",
            "type": "APP_USER",
            "contract_id": "CN-CMS-C000001",
        },
        "auth_method": "COMMAND",
        "location_id": "LOC0001",
        "evse_uid": "LOC0001-DC",
        "connector_id": "1",
        "currency": "CNY",
        "status": "ACTIVE",
        "last_updated": format_datetime(T0),
    }


def cdr_json(cdr_id: str) -> dict[str, Any]:
    loc = location(1)
    return {
        "country_code": CPO_PARTY[0],
        "party_id": CPO_PARTY[1],
        "id": cdr_id,
        "start_date_time": format_datetime(T0),
        "end_date_time": format_datetime(T0 + STEP),
        "cdr_token": session_json("x")["cdr_token"],
        "auth_method": "COMMAND",
        "cdr_location": {
            "id": loc.id,
            "address": loc.address,
            "city": loc.city,
            "country": loc.country,
            "coordinates": dump(loc.coordinates),
            "evse_uid": "LOC0001-DC",
            "evse_id": "CN*LTC*E00011",
            "connector_id": "1",
            "connector_standard": "GBT_DC",
            "connector_format": "CABLE",
            "connector_power_type": "DC",
        },
        "currency": "CNY",
        "charging_periods": [
            {
                "start_date_time": format_datetime(T0),
                "dimensions": [{"type": "ENERGY", "volume": 30}],
            }
        ],
        "total_cost": {"excl_vat": 45.0, "incl_vat": 50.85},
        "total_energy": 30,
        "total_time": 1,
        "last_updated": format_datetime(T0 + STEP),
    }


def test_cpo_led_registration_and_pushes(
    served: LoopbackServer, cpo: OcpiCpoServer, emsp: TinyEmsp, network: CpoNetwork
) -> None:
    cpo.raw_token = True

    async def scenario() -> dict[str, Any]:
        async with cpo:
            await cpo.register_with(emsp.versions_url(), EMSP_TOKEN_A)
            out: dict[str, Any] = {}
            out["loc"] = await cpo.push_evse_status(
                "loc0001", "loc0001-dc", Status.CHARGING, T0 + timedelta(days=2)
            )
            await cpo.put_location(location(LOCATION_COUNT + 1))
            await cpo.put_session(parse(Session, session_json("S1")))
            out["session"] = await cpo.patch_session("s1", {"kwh": 12.5})
            out["cdr_location"] = await cpo.post_cdr(parse(Cdr, cdr_json("CDR1")))
            out["auth"] = await cpo.authorize("APP000003", "APP_USER")
            out["tokens"] = await cpo.pull_tokens()
            return out

    out = asyncio.run(scenario())
    # the handshake: token A for versions, details and credentials; then the eMSP used token B
    registration = [c for c in emsp.calls if c.path in ("/emsp/versions", "/emsp/2.2.1")]
    assert [c.authorization for c in registration[:2]] == [f"Token {EMSP_TOKEN_A}"] * 2
    assert emsp.cpo_token == cpo.issued_token
    assert emsp.cpo_versions_status == 200
    assert cpo.peer_token == EMSP_TOKEN_C
    assert cpo.peer_party == EMSP_PARTY
    assert (
        httpx.get(  # token A of the CPO is gone once registered
            f"{served.url}/ocpi/versions", headers={"Authorization": encode_token(TOKEN_A)}
        ).status_code
        == 401
    )

    patch = emsp.calls_to("PATCH", "/emsp/2.2.1/locations/")[0]
    assert patch.path == "/emsp/2.2.1/locations/CN/LTC/LOC0001/LOC0001-DC"
    assert patch.body == {"status": "CHARGING", "last_updated": "2026-01-12T00:00:00Z"}
    assert patch.authorization == f"Token {EMSP_TOKEN_C}"  # raw_token
    assert out["loc"].last_updated == T0 + timedelta(days=2)
    stored = network.location("LOC0001")
    assert stored is not None
    assert stored.evses is not None
    assert str(stored.evses[0].status) == "CHARGING"
    assert stored.evses[0].last_updated == T0 + timedelta(days=2)

    put = emsp.calls_to("PUT", "/emsp/2.2.1/")
    assert [c.path for c in put] == [
        "/emsp/2.2.1/locations/CN/LTC/LOC0024",
        "/emsp/2.2.1/sessions/CN/LTC/S1",
    ]
    session_patch = emsp.calls_to("PATCH", "/emsp/2.2.1/sessions/")[0]
    assert session_patch.body["kwh"] == 12.5
    assert "last_updated" in session_patch.body
    assert out["session"].kwh == 12.5
    assert out["cdr_location"] == f"{emsp.base()}/2.2.1/cdrs/CDR1"
    assert network.cdr("cdr1") is not None

    assert out["auth"].allowed == AllowedType.ALLOWED
    assert out["auth"].token.uid == "APP000003"
    assert emsp.calls_to("POST", "/emsp/2.2.1/tokens/APP000003/authorize")[0].query == {
        "type": "APP_USER"
    }
    # five good tokens over three pages; the broken record was skipped, not the page
    assert sorted(t.uid for t in out["tokens"]) == [f"APP{n:06d}" for n in range(1, 6)]
    assert len(emsp.calls_to("GET", "/emsp/2.2.1/tokens/")) == 3
    assert network.token(*EMSP_PARTY, "APP000005", "APP_USER") is not None


def test_page_rejects_are_counted_and_logged_by_id(
    emsp: TinyEmsp, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> list[Page[Token]]:
        async with client(TOKEN_B) as c:
            return [p async for p in c.pages(f"{emsp.base()}/2.2.1/tokens/", Token)]

    with caplog.at_level(logging.WARNING, logger="chargemesh.protocols.ocpi.client"):
        pages = asyncio.run(scenario())
    assert [p.rejected for p in pages] == [0, 1, 0]
    assert [len(p.items) for p in pages] == [2, 1, 2]
    mine = [r for r in caplog.records if r.name == "chargemesh.protocols.ocpi.client"]
    assert [r.getMessage().count("BROKEN01") for r in mine] == [1]


def test_quirky_answers_403_and_a_list_for_one_object(emsp: TinyEmsp) -> None:
    evses = location(1).evses
    assert evses is not None
    emsp.evses["CN/LTC/LOC0001/LOC0001-DC"] = dump(evses[0])
    url = f"{emsp.base()}/2.2.1/locations/CN/LTC/LOC0001/LOC0001-DC"

    async def scenario() -> tuple[Any, OcpiPeerError]:
        async with client(TOKEN_B) as c:
            got = await c.get_object(url, Evse)
        async with client("wrong-token") as c:
            with pytest.raises(OcpiPeerError) as caught:
                await c.get_object(url, Evse)
        return got, caught.value

    got, refused = asyncio.run(scenario())
    assert isinstance(got, Evse)
    assert got.uid == "LOC0001-DC"
    assert refused.http_status == 403
    assert refused.unauthorized


def test_transport_failures_are_peer_errors(served: LoopbackServer) -> None:
    async def scenario() -> OcpiPeerError:
        async with client(TOKEN_A, retries=1) as c:
            with pytest.raises(OcpiPeerError) as caught:
                async for _ in c.pages("http://127.0.0.1:9/ocpi/2.2.1/locations", Location):
                    pass
        return caught.value

    error = asyncio.run(scenario())
    assert error.http_status is None
    assert error.resume_offset == 0
    assert "transport failure" in str(error)
    assert TOKEN_A not in str(error)


def test_no_token_reaches_logs_or_errors(
    urls: Urls, emsp: TinyEmsp, cpo: OcpiCpoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token_c = asyncio.run(register(urls, emsp))
    cpo.fail_offsets_once = {0}
    errors: list[str] = []

    async def scenario() -> None:
        async with client(token_c, retries=0) as c:
            try:
                async for _ in c.pages(urls.locations, Location):
                    pass
            except OcpiPeerError as exc:
                errors.append(str(exc))
        async with client(TOKEN_A) as c:
            try:
                await c.get_versions(urls.versions)
            except OcpiPeerError as exc:
                errors.append(str(exc))

    asyncio.run(scenario())
    assert len(errors) == 2
    text = caplog.text + "\n".join(errors)
    for secret in (TOKEN_A, TOKEN_B, token_c):
        assert secret not in text
        assert base64.b64encode(secret.encode()).decode() not in text
