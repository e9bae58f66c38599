"""Rate limits (issue 19, operations): 429 with Retry-After in each caller's protocol — our JSON
error for anonymous search (per client address) and drivers (per account), the T/CEC envelope
for an operator's pushes (per OperatorID), the OCPI envelope for a party's (per party); another
address, account or operator is not limited, and after the wait the caller passes again. Over
loopback HTTP against the real servers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from chargemesh.api.ratelimit import TokenBuckets
from chargemesh.bootstrap import Platform, assemble
from chargemesh.config import RateLimitsConfig, parse_config
from chargemesh.domain import ConnectorStatus
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.tcec.codec import Ret
from chargemesh.store import Store
from tests.drivers import bearer
from tests.peers import test_ocpi_end_to_end as ocpi_e2e
from tests.peers import test_tcec_end_to_end as tcec_e2e
from tests.peers.ocpi_samples import location_json
from tests.peers.tcec_samples import connector_id

country = tcec_e2e.country  # our platform and the simulator's T/CEC operator, over loopback
peers = ocpi_e2e.peers  # our platform and the simulator's OCPI CPO, over loopback

NEARBY = "/api/v1/stations/nearby?lat=39.99&lon=116.48&radius_km=5"
TIGHT = RateLimitsConfig(search_per_s=1, search_burst=2, driver_per_s=1, driver_burst=2)


@pytest.fixture
def platform(store: Store) -> Platform:
    return assemble(store, rate_limits=TIGHT)


@pytest.fixture
def server(platform: Platform) -> Iterator[LoopbackServer]:
    with LoopbackServer(platform.app()) as running:
        yield running


def from_address(server: LoopbackServer, address: str) -> httpx.Client:
    """A client whose requests come from ``address`` (any of 127.0.0.0/8 is this machine)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.url, transport=transport, timeout=10)


def wait_out(answer: httpx.Response) -> None:
    time.sleep(int(answer.headers["Retry-After"]) + 0.05)


def test_anonymous_search_is_limited_per_client_address(server: LoopbackServer) -> None:
    with from_address(server, "127.0.0.1") as one, from_address(server, "127.0.0.2") as two:
        assert [one.get(NEARBY).status_code for _ in range(2)] == [200, 200]  # the burst
        refused = one.get(NEARBY)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["detail"]["code"] == "too_many_requests"
        assert one.get("/api/v1/map/clusters?bbox=116,39,117,40&zoom=10").status_code == 429
        assert one.get("/api/v1/operators").status_code == 200  # not a search path
        assert two.get(NEARBY).status_code == 200  # another address has its own allowance
        wait_out(refused)
        assert one.get(NEARBY).status_code == 200


def test_a_driver_is_limited_per_account(platform: Platform, server: LoopbackServer) -> None:
    alice, bob = bearer(platform, "alice"), bearer(platform, "bob")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert [http.get("/api/v1/me", headers=alice).status_code for _ in range(2)] == [200, 200]
        refused = http.get("/api/v1/me", headers=alice)
        assert refused.status_code == 429, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["detail"]["code"] == "too_many_requests"
        assert http.get("/api/v1/me", headers=bob).status_code == 200
        wait_out(refused)
        assert http.get("/api/v1/me", headers=alice).status_code == 200


def post_push(country: tcec_e2e.Country, body: dict[str, str], token: str) -> httpx.Response:
    return httpx.post(
        country.platform_url + "notification_stationStatus", json=body,
        headers={"Authorization": f"Bearer {token}"}, timeout=10,
    )  # fmt: skip


def test_an_operators_pushes_are_limited_per_operator(country: tcec_e2e.Country) -> None:
    tcec_e2e.sync(country)
    country.platform.tcec.rate_limit = TokenBuckets(1, 3, name="push")  # a token and 2 pushes
    cid = connector_id(2, 1, 1)
    token = tcec_e2e.fresh_token(country)
    for seq, status in (("0001", 3), ("0002", 1)):
        answer = post_push(country, tcec_e2e.signed_push(cid, status, seq=seq), token)
        assert (answer.status_code, answer.json()["Ret"]) == (200, Ret.OK)
    busy = tcec_e2e.signed_push(cid, 255, seq="0003")
    refused = post_push(country, busy, token)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["Ret"] == Ret.BUSY
    assert tcec_e2e.status_of(country.store, 2, cid) is ConnectorStatus.AVAILABLE  # unchanged
    # another operator is not limited by this one's pushes (its connector is unknown here)
    other_id, other_secrets = tcec_e2e.OTHER_OPERATOR_ID, tcec_e2e.OTHER_PUSH_SECRETS
    other_token = tcec_e2e.fresh_token(country, other_id, other_secrets)
    theirs = tcec_e2e.signed_push(f"{other_id}0001", 1, other_secrets, other_id, seq="0001")
    answer = post_push(country, theirs, other_token)
    assert (answer.status_code, answer.json()["Ret"]) == (200, Ret.INVALID_PARAMETER)
    wait_out(refused)
    again = post_push(country, busy, token)  # the same push: the refusal did not spend its Seq
    assert (again.status_code, again.json()["Ret"]) == (200, Ret.OK)
    assert tcec_e2e.status_of(country.store, 2, cid) is ConnectorStatus.FAULTED


def test_a_partys_pushes_are_limited_per_party(peers: ocpi_e2e.Peers) -> None:
    peers.register()
    token = peers.our_token()
    loc = location_json(1)
    path = f"/2.2.1/locations/{loc['country_code']}/{loc['party_id']}/{loc['id']}"
    assert ocpi_e2e.ocpi(peers, "PUT", path, token, json=loc).status_code in (200, 201)
    peers.platform.ocpi.rate_limit = TokenBuckets(1, 2, name="push")
    assert [ocpi_e2e.ocpi(peers, "GET", path, token).status_code for _ in range(2)] == [200, 200]
    refused = ocpi_e2e.ocpi(peers, "PUT", path, token, json=loc)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["status_code"] == 2000
    assert "too many requests" in refused.json()["status_message"]
    wait_out(refused)
    assert ocpi_e2e.ocpi(peers, "GET", path, token).status_code == 200


def test_a_limit_of_zero_switches_it_off_and_the_config_reads_the_table() -> None:
    config = parse_config("[rate_limits]\nsearch_per_s = 0\ndriver_per_s = 20\n")
    assert config.rate_limits.search_per_s == 0
    assert config.rate_limits.driver_per_s == 20
    assert config.rate_limits.push_per_s == 5000  # the default


def test_buckets_forget_the_least_recently_seen_caller_beyond_max_keys() -> None:
    now = [0.0]
    buckets = TokenBuckets(1, 1, name="search", max_keys=3, clock=lambda: now[0])
    for key in ("a", "b", "c"):
        assert buckets.wait_s(key) == 0
    assert buckets.wait_s("a") == 1  # a is spent, and now the most recently seen
    assert buckets.wait_s("d") == 0  # b, the least recently seen, is forgotten
    assert len(buckets) == 3
    assert buckets.wait_s("a") == 1  # a was kept: still spent
    now[0] = 1.0
    assert buckets.wait_s("a") == 0  # a second later it has a token again
