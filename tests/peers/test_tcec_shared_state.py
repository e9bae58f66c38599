"""The T/CEC tokens we issue and the replay guard live in the store, not in one process: two
platforms over one store (each its own app on its own loopback port) accept each other's tokens
and refuse each other's replays, and a platform restarted over the same database still refuses a
push it applied before the restart (issue 14 item 4, issue 19 item 4). Both stores."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from chargemesh.api.tcec import TcecPeer
from chargemesh.bootstrap import assemble
from chargemesh.domain import ConnectorStatus
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.tcec.codec import Ret
from chargemesh.protocols.tcec.tokens import TokenIssuer
from chargemesh.protocols.tcec.wire import Dialect
from chargemesh.store import Store, open_store
from tests.peers.tcec_samples import (
    OPERATOR_ID,
    PLATFORM_ID,
    PLATFORM_SECRETS,
    PUSH_SECRETS,
    STATION_COUNT,
    T0,
    connector_id,
    station,
)
from tests.peers.test_tcec_end_to_end import (  # the simulated operator, wherever it lives
    Country,
    OperatorNetwork,
    TcecOperatorServer,
    fresh_token,
    ours,
    post_raw,
    signed_push,
    status_of,
    sync,
)

DIALECT: Dialect = "cec"
IDLE, RESERVED = 1, 4  # T/CEC connector Status codes


@contextmanager
def platform_over(store: Store, network: OperatorNetwork) -> Iterator[Country]:
    """One platform process: its own app over ``store``, on its own loopback port, beside the
    operator's server."""
    operator = TcecOperatorServer(OPERATOR_ID, DIALECT, network, {PLATFORM_ID: PLATFORM_SECRETS})
    platform = assemble(store, {OPERATOR_ID: TcecPeer(OPERATOR_ID, PUSH_SECRETS, DIALECT)})
    with LoopbackServer(operator.app) as op_server, LoopbackServer(platform.app()) as ours_:
        yield Country(
            network, operator, operator.base_url(op_server.url), platform,
            f"{ours_.url}/tcec/v1/", store, DIALECT,
        )  # fmt: skip


@pytest.fixture
def network() -> OperatorNetwork:
    return OperatorNetwork([station(n) for n in range(STATION_COUNT)], changed_at=T0)


@pytest.fixture
def two(store_url: str, network: OperatorNetwork) -> Iterator[tuple[Country, Country]]:
    """Two platforms over one database (each with its own store connection, as two processes
    have), the network synced."""
    with ExitStack() as stack:
        a, b = (
            stack.enter_context(platform_over(stack.enter_context(open_store(store_url)), network))
            for _ in range(2)
        )
        sync(a)
        yield a, b


def history(country: Country, cid: str) -> list[tuple[ConnectorStatus, str]]:
    return [(h.status, h.source) for h in country.store.status_history(ours(cid, 1))]


def test_a_token_issued_by_one_platform_is_accepted_by_the_other(
    two: tuple[Country, Country],
) -> None:
    a, b = two
    cid = connector_id(1, 1, 1)
    from_a = fresh_token(a)
    assert post_raw(b, signed_push(cid, RESERVED, seq="0001"), from_a)["Ret"] == Ret.OK
    from_b = fresh_token(b)
    assert post_raw(a, signed_push(cid, IDLE, seq="0002"), from_b)["Ret"] == Ret.OK
    assert status_of(a.store, 1, cid) is ConnectorStatus.AVAILABLE
    assert post_raw(b, signed_push(cid, RESERVED, seq="0003"), "not-a-token")["Ret"] == (
        Ret.BAD_TOKEN
    )


def test_a_push_accepted_by_one_platform_is_a_replay_for_the_other(
    two: tuple[Country, Country],
) -> None:
    a, b = two
    cid = connector_id(1, 1, 1)
    token = fresh_token(a)
    captured = signed_push(cid, RESERVED, seq="0042")
    assert post_raw(a, captured, token)["Ret"] == Ret.OK
    assert post_raw(a, signed_push(cid, IDLE, seq="0043"), token)["Ret"] == Ret.OK
    before = history(a, cid)
    assert before[-2:] == [
        (ConnectorStatus.RESERVED, "tcec:push"),
        (ConnectorStatus.AVAILABLE, "tcec:push"),
    ]
    answer = post_raw(b, captured, token)
    assert answer["Ret"] == Ret.MALFORMED
    assert "replayed" in answer["Msg"]
    assert post_raw(a, captured, token)["Ret"] == Ret.MALFORMED  # nor to the first again
    assert status_of(b.store, 1, cid) is ConnectorStatus.AVAILABLE
    assert history(b, cid) == before


def test_an_expired_token_is_refused_by_both_platforms(two: tuple[Country, Country]) -> None:
    a, b = two
    cid = connector_id(2, 1, 1)
    ttl_s = 2
    short = TokenIssuer(a.store, ttl_s=ttl_s).issue(OPERATOR_ID)  # as a third process would
    issued = time.monotonic()
    assert post_raw(a, signed_push(cid, RESERVED, seq="0001"), short)["Ret"] == Ret.OK
    assert post_raw(b, signed_push(cid, IDLE, seq="0002"), short)["Ret"] == Ret.OK
    time.sleep(max(0.0, ttl_s + 0.2 - (time.monotonic() - issued)))
    for n, platform in enumerate((a, b)):  # each had it in memory: expiry holds there too
        refused = post_raw(platform, signed_push(cid, RESERVED, seq=f"000{3 + n}"), short)
        assert refused["Ret"] == Ret.BAD_TOKEN
    assert status_of(a.store, 2, cid) is ConnectorStatus.AVAILABLE


def test_a_push_captured_before_a_restart_is_refused_after_it(
    store_url: str, network: OperatorNetwork
) -> None:
    cid = connector_id(1, 1, 1)
    with open_store(store_url) as store, platform_over(store, network) as before:
        sync(before)
        token = fresh_token(before)
        captured = signed_push(cid, RESERVED, seq="0042")
        assert post_raw(before, captured, token)["Ret"] == Ret.OK
        assert post_raw(before, signed_push(cid, IDLE, seq="0043"), token)["Ret"] == Ret.OK
        applied = history(before, cid)
    # the platform stops, its store is closed; a new one starts over the same database
    with open_store(store_url) as store, platform_over(store, network) as after:
        for bearer in (fresh_token(after), token):  # whichever token it comes with
            answer = post_raw(after, captured, bearer)
            assert answer["Ret"] == Ret.MALFORMED
            assert "replayed" in answer["Msg"]
        assert status_of(after.store, 1, cid) is ConnectorStatus.AVAILABLE
        assert history(after, cid) == applied
        # the token issued before the restart still works for a new push
        assert post_raw(after, signed_push(cid, RESERVED, seq="0044"), token)["Ret"] == Ret.OK
        assert status_of(after.store, 1, cid) is ConnectorStatus.RESERVED
