"""The T/CEC tokens we issued and the requests the replay guard has seen, on both backends: what
one store object writes, another over the same database reads (a second process, a restart)."""

from __future__ import annotations

from datetime import timedelta

from chargemesh.store import Store, open_store
from tests.factories import T0

OP, OTHER = "MA6LTCD01", "MA7QYEV02"


def test_a_kept_token_is_found_by_its_hash_until_it_expires_or_is_revoked(
    store: Store, store_url: str
) -> None:
    store.keep_tcec_token("h1", OP, issued_at=T0, expires_at=T0 + timedelta(hours=2))
    store.keep_tcec_token("h2", OTHER, issued_at=T0, expires_at=T0 + timedelta(hours=2))
    with open_store(store_url) as other_process:
        assert other_process.tcec_token("h1", at=T0) == (OP, T0 + timedelta(hours=2))
        assert other_process.tcec_token("h2", at=T0 + timedelta(minutes=119)) is not None
        assert other_process.tcec_token("h1", at=T0 + timedelta(hours=2)) is None  # expired
        assert other_process.tcec_token("nope", at=T0) is None
        assert other_process.revoke_tcec_tokens(at=T0 + timedelta(minutes=1)) == 2
    assert store.tcec_token("h1", at=T0 + timedelta(minutes=2)) is None
    assert store.tcec_token("h2", at=T0 + timedelta(minutes=2)) is None
    assert store.revoke_tcec_tokens(at=T0 + timedelta(minutes=3)) == 0  # nothing live is left
    store.keep_tcec_token("h3", OP, issued_at=T0, expires_at=T0 + timedelta(hours=2))
    assert store.tcec_token("h3", at=T0) == (OP, T0 + timedelta(hours=2))


def test_tokens_expired_when_another_is_issued_are_dropped(store: Store) -> None:
    store.keep_tcec_token("old", OP, issued_at=T0, expires_at=T0 + timedelta(hours=2))
    later = T0 + timedelta(hours=3)
    store.keep_tcec_token("new", OP, issued_at=later, expires_at=later + timedelta(hours=2))
    assert store.tcec_token("old", at=T0) is None  # gone, not merely expired
    assert store.tcec_token("new", at=later) == (OP, later + timedelta(hours=2))


def test_a_request_is_new_once_across_store_objects_and_batches(
    store: Store, store_url: str
) -> None:
    a = (OP, "0001", T0)
    b = (OP, "0002", T0)
    same_seq_later = (OP, "0001", T0 + timedelta(seconds=1))
    other_operator = (OTHER, "0001", T0)
    assert store.remember_tcec_requests([a, b, a]) == [True, True, False]
    with open_store(store_url) as other_process:
        assert other_process.remember_tcec_requests(
            [b, same_seq_later, other_operator, (OP, "0001", T0.astimezone())]
        ) == [False, True, True, False]  # the same instant in another zone is the same request
    assert store.remember_tcec_requests([same_seq_later]) == [False]
    assert store.remember_tcec_requests([]) == []


def test_requests_older_than_the_cutoff_are_forgotten(store: Store) -> None:
    old = (OP, "0001", T0)
    recent = (OP, "0002", T0 + timedelta(hours=4))
    store.remember_tcec_requests([old, recent])
    cutoff = T0 + timedelta(hours=1)
    assert store.remember_tcec_requests([recent], forget_before=cutoff) == [False]
    assert store.remember_tcec_requests([old]) == [True]  # forgotten, so new again


def test_a_thousand_requests_in_one_batch(store: Store) -> None:
    many = [(OP, f"{n % 9999 + 1:04d}", T0 + timedelta(seconds=n // 9999)) for n in range(1200)]
    assert store.remember_tcec_requests(many) == [True] * 1200
    assert store.remember_tcec_requests([*many[-3:], (OP, "0001", T0 + timedelta(hours=1))]) == [
        False,
        False,
        False,
        True,
    ]
