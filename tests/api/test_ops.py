"""The operations team's keys and routes (docs/accounts.md): every ``/api/v1/ops/`` route refuses
anonymous callers (401), drivers (403) and revoked keys (401, on every node at once) and works
with a key; ``chargemesh ops key create|list|revoke``; and the public operators list shows no
error text or URL, which ``/api/v1/ops/feeds`` does — against both stores, over loopback HTTP."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from typer.testing import CliRunner

from chargemesh.api.operators import POLLS_FAILING
from chargemesh.bootstrap import OcpiSettings, Platform, assemble
from chargemesh.cli import app as cli
from chargemesh.config import Config, OcpiConfig, OperatorConfig
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.runtime.leader import Follower
from chargemesh.services.accounts.ops_keys import KEY
from chargemesh.services.accounts.tokens import digest
from chargemesh.services.feeds.ingest import OcpiSide, sync_all
from chargemesh.store import FeedHealth, Store, open_store
from tests.drivers import signed_up

ROW = {
    "at": "2025-03-01T10:00:00+08:00", "operator_id": "MA59D2R3K", "vehicle_model": "Xiaomi SU7",
    "charger_manufacturer": "TELD", "charger_model": "TQ-480", "firmware": "3.2.1",
    "connector_standard": "gbt_dc", "start_method": "qr_scan", "outcome": "success",
}  # fmt: skip
FAILED_ROW = {**ROW, "outcome": "failure", "failure_reason": "insulation fault"}


@pytest.fixture
def platform(store: Store) -> Platform:
    return assemble(store)


@pytest.fixture
def http(platform: Platform) -> Iterator[httpx.Client]:
    with (
        LoopbackServer(platform.app()) as server,
        httpx.Client(base_url=server.url, timeout=20) as client,
    ):
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def detail(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    found: dict[str, Any] = answer.json()["detail"]
    return found


def call(http: httpx.Client, route: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """One of the operations routes, with a body that would be accepted."""
    method, path = route.split(" ")
    body: dict[str, Any] | None = {
        "POST /api/v1/ops/ocpi/invitations": {"operator": "CN-ABC"},
        "POST /api/v1/ops/compatibility/campaigns": {"name": "lab-1", "rows": [ROW, FAILED_ROW]},
    }.get(route)
    return http.request(method, path, json=body, headers=headers)


ROUTES = (
    "GET /api/v1/ops/feeds",
    "GET /api/v1/ops/ocpi/parties",
    "POST /api/v1/ops/ocpi/invitations",
    "POST /api/v1/ops/compatibility/campaigns",
)


def test_every_ops_route_refuses_anonymous_callers_and_drivers_and_takes_a_key(
    platform: Platform, http: httpx.Client, store: Store
) -> None:
    driver = signed_up(http)
    _, key = platform.ops_keys.create("night shift")
    forged = f"cm_{'0' * 12}_{'x' * 43}"
    for route in ROUTES:
        for headers in (None, bearer(forged), bearer("not-a-key"), {"Authorization": key}):
            refused = call(http, route, headers)
            assert detail(refused, 401)["code"] == "no_ops_key", (route, headers)
            assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert detail(call(http, route, driver.auth), 403)["code"] == "not_operations", route
    # nothing a refused caller sent was done
    assert store.list_ocpi_parties() == []
    assert store.list_attempts() == []
    assert platform.ops_keys.list()[0].last_used_at is None
    for route in ROUTES:
        answer = call(http, route, bearer(key))
        assert answer.status_code == (201 if route.startswith("POST") else 200), answer.text
    assert platform.ops_keys.list()[0].last_used_at is not None
    # the API's explorer names the routes and the key they need
    schema = http.get("/openapi.json").json()
    for route in ROUTES:
        method, path = route.split(" ")
        assert schema["paths"][path][method.lower()]["tags"] == ["operations"]


def test_a_revoked_key_is_refused_at_once_by_every_node(store: Store, store_url: str) -> None:
    first = assemble(store)
    with (
        open_store(store_url) as other_store,  # another process over the same database
        LoopbackServer(first.app()) as one,
        LoopbackServer(assemble(other_store).app()) as two,
    ):
        made, key = first.ops_keys.create("night shift")
        _, kept = first.ops_keys.create("day shift")
        for server in (one, two):
            works = httpx.get(f"{server.url}/api/v1/ops/feeds", headers=bearer(key))
            assert works.status_code == 200, works.text
        assert assemble(other_store).ops_keys.revoke(made.prefix) == 1
        for server in (one, two):
            answer = httpx.get(f"{server.url}/api/v1/ops/feeds", headers=bearer(key))
            assert detail(answer, 401)["code"] == "no_ops_key"
            assert "revoked" in detail(answer, 401)["reason"]
            other = httpx.get(f"{server.url}/api/v1/ops/feeds", headers=bearer(kept))
            assert other.status_code == 200  # the other key lives on


def kept_rows(store_url: str) -> list[tuple[Any, ...]]:
    """Every row of the ops keys' table, read beside the store."""
    if store_url.startswith("sqlite:///"):
        with closing(sqlite3.connect(store_url.removeprefix("sqlite:///"))) as db:
            return db.execute("SELECT * FROM ops_keys").fetchall()
    with psycopg.connect(store_url) as db:
        return db.execute("SELECT * FROM ops_keys").fetchall()


def test_ops_key_create_list_revoke_on_the_command_line(
    store: Store, store_url: str, http: httpx.Client
) -> None:
    runner = CliRunner()
    made = runner.invoke(
        cli, ["ops", "key", "create", "--name", "night shift", "--store", store_url]
    )
    assert made.exit_code == 0, made.output
    lines = made.output.strip().splitlines()
    key = lines[-1]  # alone on the last line
    found = KEY.match(key)
    assert found is not None, made.output
    prefix = found.group(1)
    assert len(lines) == 2, made.output
    assert prefix in lines[0]
    assert key not in lines[0]
    assert http.get("/api/v1/ops/feeds", headers=bearer(key)).status_code == 200

    # the store keeps its SHA-256, never the key or its secret
    rows = kept_rows(store_url)
    assert len(rows) == 1
    assert digest(key) in rows[0]
    assert not any(found.group(2) in str(value) for value in rows[0])

    listed = runner.invoke(cli, ["ops", "key", "list", "--store", store_url])
    assert listed.exit_code == 0, listed.output
    assert "night shift" in listed.output
    assert prefix in listed.output
    for secret in (key, found.group(2), digest(key)):
        assert secret not in listed.output
    assert re.search(rf"{prefix}\s+\d{{4}}-\d\d-\d\d \d\d:\d\d\s+\d{{4}}-", listed.output)  # used

    nothing = runner.invoke(cli, ["ops", "key", "revoke", "nobody", "--store", store_url])
    assert nothing.exit_code == 1
    assert "no live ops key has the prefix or name 'nobody'" in nothing.output
    assert http.get("/api/v1/ops/feeds", headers=bearer(key)).status_code == 200

    revoked = runner.invoke(cli, ["ops", "key", "revoke", prefix, "--store", store_url])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked 1" in revoked.output
    assert detail(http.get("/api/v1/ops/feeds", headers=bearer(key)), 401)["code"] == "no_ops_key"
    again = runner.invoke(cli, ["ops", "key", "revoke", prefix, "--store", store_url])
    assert again.exit_code == 1  # nothing live matched any more
    blank = runner.invoke(cli, ["ops", "key", "create", "--name", " ", "--store", store_url])
    assert blank.exit_code == 2
    assert len(kept_rows(store_url)) == 1


def _broken(_: Request) -> PlainTextResponse:
    return PlainTextResponse("upstream exploded", status_code=500)


BROKEN_APP = Starlette(routes=[Route("/{path:path}", _broken, methods=["GET", "POST", "PUT"])])
TOKEN_A = "token-a-9b1c5e7a-never-shown"


def test_the_public_operators_list_shows_no_error_text_or_url_and_ops_feeds_do(
    store: Store,
) -> None:
    with LoopbackServer(BROKEN_APP) as down:
        failing_url, polled_url = f"{down.url}/ocpi/versions", f"{down.url}/cpo/versions"
        config = Config(
            ocpi=OcpiConfig(allow_loopback=True),  # the broken CPO listens on loopback
            operators=[
                OperatorConfig(id="CN-BRK", protocol="ocpi", url=failing_url, token_a=TOKEN_A),
                OperatorConfig(id="CN-PLL", protocol="ocpi", url=polled_url, token_a=TOKEN_A),
            ],
        )  # type: ignore[call-arg]
        for op in config.operators:
            store.upsert_operator(op.to_operator())
        # CN-BRK's sync fails with an error naming its URL; CN-PLL synced, its polls fail
        platform = assemble(
            store, ocpi=OcpiSettings.from_config(config), feeds=config, leader=Follower()
        )
        side = OcpiSide(platform.ocpi_connections, platform.ocpi_locations, platform.ocpi_objects)
        _, key = platform.ops_keys.create("night shift")
        with (
            LoopbackServer(platform.app()) as server,
            httpx.Client(base_url=server.url, timeout=20) as http,
        ):
            done = server.call(
                sync_all(config, store, platform.relay, ocpi=side, operators=["CN-BRK"])
            )
            assert failing_url in (done[0].error or "")
            store.save_feed_health(FeedHealth("CN-PLL", state="ok", records=0))
            assert platform.refresher is not None
            platform.refresher.health["CN-PLL"].failed(
                RuntimeError(f"GET {polled_url}/locations?token={TOKEN_A}: HTTP 500")
            )
            public = http.get("/api/v1/operators")
            ops = http.get("/api/v1/ops/feeds", headers=bearer(key))

    assert public.status_code == 200, public.text
    for secret in ("http", "127.0.0.1", down.url, "HTTP 500", "last_error", TOKEN_A, "token"):
        assert secret not in public.text, secret
    feeds = {o["id"]: o["feed"] for o in public.json()}
    assert (feeds["CN-BRK"]["state"], feeds["CN-BRK"]["reason"]) == ("failing", None)
    assert feeds["CN-BRK"]["errors"] == 1
    assert (feeds["CN-PLL"]["state"], feeds["CN-PLL"]["reason"]) == ("degraded", POLLS_FAILING)
    assert feeds["CN-PLL"]["poll_errors"] == 1

    assert ops.status_code == 200, ops.text
    full = {o["id"]: o["feed"] for o in ops.json()}
    for op, feed in feeds.items():  # what the public sees, and more
        same = set(feed) - {"reason", "lag_s"}
        assert {k: full[op][k] for k in same} == {k: feed[k] for k in same}, op
    assert failing_url in full["CN-BRK"]["last_error"]
    assert full["CN-BRK"]["url"] == failing_url
    assert full["CN-PLL"]["url"] == polled_url
    assert full["CN-PLL"]["reason"].startswith("status polls failing (1 in a row): GET ")
    assert polled_url in full["CN-PLL"]["poll_last_error"]
    assert full["CN-PLL"]["last_error"] is None


def test_an_invitation_shows_its_token_once_and_the_parties_never(
    platform: Platform, http: httpx.Client, store: Store
) -> None:
    _, key = platform.ops_keys.create("night shift")
    for bad in ("CNABC", "CN-ABCD", "C1-ABC", "", "CN-AB!"):
        refused = http.post("/api/v1/ops/ocpi/invitations", json={"operator": bad},
                            headers=bearer(key))  # fmt: skip
        assert detail(refused, 422)["errors"][0]["field"] == "body.operator", bad
    assert store.list_ocpi_parties() == []

    made = http.post("/api/v1/ops/ocpi/invitations", json={"operator": "cn-abc"},
                     headers=bearer(key))  # fmt: skip
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {"operator", "versions_url", "token"}
    assert body["operator"] == "CN-ABC"
    assert body["versions_url"] == "http://127.0.0.1:8000/ocpi/versions"
    party = store.get_ocpi_party("CN-ABC")
    assert party is not None
    assert party.stage == "invited"
    assert party.token_in == body["token"]  # the CPO registers with it

    listed = http.get("/api/v1/ops/ocpi/parties", headers=bearer(key))
    assert listed.status_code == 200, listed.text
    assert body["token"] not in listed.text
    assert [(p["id"], p["stage"], p["endpoints"]) for p in listed.json()] == [
        ("CN-ABC", "invited", 0)
    ]


def test_a_test_campaign_is_imported_whole_or_not_at_all(
    platform: Platform, http: httpx.Client, store: Store
) -> None:
    _, key = platform.ops_keys.create("lab")
    url = "/api/v1/ops/compatibility/campaigns"
    bad = {**ROW, "outcome": "maybe"}
    for rows, why in [
        ([ROW, bad], "row 2: outcome must be success or failure"),
        ([ROW, {**ROW, "vehicle_model": " "}], "row 2: vehicle_model is empty"),
        ([{**ROW, "at": "2025-03-01T10:00:00"}], "row 1: at needs a time zone"),
    ]:
        refused = http.post(url, json={"name": "lab-1", "rows": rows}, headers=bearer(key))
        reason = detail(refused, 422)["reason"]
        assert why in reason, reason
        assert reason.endswith("; nothing imported")
    for body in ({"name": "lab-1", "rows": []}, {"name": "", "rows": [ROW]}, {"rows": [ROW]}):
        assert http.post(url, json=body, headers=bearer(key)).status_code == 422, body
    assert store.list_attempts() == []

    made = http.post(url, json={"name": "lab-1", "rows": [ROW, ROW, FAILED_ROW]},
                     headers=bearer(key))  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json() == {"name": "lab-1", "imported": 3, "failures": 1}
    attempts = store.list_attempts()
    assert sorted(a.outcome for a in attempts) == ["failure", "success", "success"]
    assert {a.source for a in attempts} == {"lab-1"}
    report = http.get("/api/v1/compatibility").json()  # public: the figures, not the rows
    assert report["overall"]["attempts"] == 3
    assert report["overall"]["reasons"] == {"insulation fault": 1}
