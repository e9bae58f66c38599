"""The token issuer and the replay guard over the real store (both backends), each "process" with
a store object of its own: a token issued by one is live for another, a revocation reaches the
other within the recheck bound, and of concurrent checks of one request exactly one passes."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from chargemesh.protocols.tcec.codec import Ret, TcecError
from chargemesh.protocols.tcec.tokens import MemoryTokenBook, ReplayGuard, TokenIssuer, token_hash
from chargemesh.store import Store, open_store

OP, OTHER = "MA6LTCD01", "MA7QYEV02"


def test_the_store_keeps_only_the_tokens_hash(store: Store) -> None:
    token = TokenIssuer(store).issue(OP)
    assert store.tcec_token(token, at=datetime.now(UTC)) is None
    assert store.tcec_token(token_hash(token), at=datetime.now(UTC)) is not None


def test_a_token_is_live_in_another_process_until_revoked_there_within_the_bound(
    store: Store, store_url: str
) -> None:
    issuer = TokenIssuer(store)
    token = issuer.issue(OP)
    with open_store(store_url) as second_store:
        other = TokenIssuer(second_store, recheck_s=0.3)
        assert other.known(token) is None  # never seen here: ask the store
        assert other.operator_for(token) == OP
        assert other.known(token) == OP  # now trusted from memory
        issuer.revoke_all()
        assert issuer.operator_for(token) is None  # at once where it was revoked
        time.sleep(0.35)
        assert other.known(token) is None  # the bound has passed: ask the store again
        assert other.operator_for(token) is None


def test_issuing_a_token_leaves_the_operators_earlier_token_live(store: Store) -> None:
    issuer = TokenIssuer(store)
    first, second = issuer.issue(OP), issuer.issue(OP)
    theirs = issuer.issue(OTHER)
    assert [issuer.operator_for(t) for t in (first, second, theirs)] == [OP, OP, OTHER]
    assert issuer.operator_for("never-issued") is None


def test_an_expired_token_is_refused_from_memory_too() -> None:
    now = [datetime(2026, 11, 1, 8, 0, tzinfo=UTC)]
    issuer = TokenIssuer(MemoryTokenBook(), ttl_s=60, clock=lambda: now[0])
    token = issuer.issue(OP)
    assert issuer.known(token) == OP
    now[0] += timedelta(seconds=60)
    assert issuer.known(token) is None
    assert issuer.operator_for(token) is None


def test_of_concurrent_checks_across_two_guards_each_request_passes_once(
    store: Store, store_url: str
) -> None:
    stamp = datetime.now(UTC).replace(microsecond=0)
    requests = [(OP, f"{n:04d}", stamp) for n in range(1, 151)]

    async def run(second_store: Store) -> list[bool]:
        guards = (ReplayGuard(store), ReplayGuard(second_store))

        async def passes(guard: ReplayGuard, op: str, seq: str, at: datetime) -> bool:
            try:
                await guard.check(op, seq, at, datetime.now(UTC))
            except TcecError as exc:
                if (exc.ret, exc.reason) != (Ret.MALFORMED, "replay"):
                    raise
                return False
            return True

        return await asyncio.gather(
            *(passes(g, *r) for r in requests for g in (*guards, guards[0]))
        )  # each request three times: twice to the first guard, once to the second

    with open_store(store_url) as second_store:
        outcomes = asyncio.run(run(second_store))
    per_request = [sum(outcomes[i : i + 3]) for i in range(0, len(outcomes), 3)]
    assert per_request == [1] * len(requests)


def test_a_timestamp_outside_the_window_is_refused_before_it_is_kept(store: Store) -> None:
    now = datetime.now(UTC)
    guard = ReplayGuard(store, window=timedelta(hours=2))
    for off in (timedelta(hours=2, seconds=1), -timedelta(hours=2, seconds=1)):
        with pytest.raises(TcecError) as refused:
            asyncio.run(guard.check(OP, "0001", now + off, now))
        assert refused.value.reason == "stale_timestamp"
    assert store.remember_tcec_requests([(OP, "0001", now + timedelta(hours=2, seconds=1))]) == [
        True
    ]  # nothing was written for the refused request
