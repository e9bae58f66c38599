"""Drivers' accounts over HTTP (docs/accounts.md): sign up, sign in, refresh tokens rotated and
revoked, sign out, wrong passwords slowed then refused, and access tokens that are expired,
forged or signed by another key refused — against both stores, over loopback HTTP."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from chargemesh.bootstrap import Platform, assemble
from chargemesh.config import AuthConfig
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.services.accounts.tokens import AccessTokens
from chargemesh.store import Store
from tests.drivers import PASSWORD, sign_in, signed_up

FAST_LOCK = AuthConfig(slow_after=2, lock_after=3, lock_s=2, failure_window_s=60)


@pytest.fixture
def platform(store: Store) -> Platform:
    return assemble(store, auth=FAST_LOCK)


@pytest.fixture
def http(platform: Platform) -> Iterator[httpx.Client]:
    with (
        LoopbackServer(platform.app()) as server,
        httpx.Client(base_url=server.url, timeout=20) as client,
    ):
        yield client


def _code(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    return str(answer.json()["detail"]["code"])


def test_sign_up_then_sign_in_gives_a_bearer_token_that_me_accepts(http: httpx.Client) -> None:
    made = http.post(
        "/api/v1/accounts", json={"email": " Li.Wei@Example.com ", "password": PASSWORD}
    )
    assert made.status_code == 201, made.text
    assert made.json()["email"] == "li.wei@example.com"
    assert "password" not in made.text
    grant = sign_in(http, "LI.WEI@example.com")
    assert grant.status_code == 200, grant.text
    body = grant.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json() == {
        "id": made.json()["id"], "email": "li.wei@example.com",
        "created_at": made.json()["created_at"], "vehicles": 0, "sessions": 0,
    }  # fmt: skip


def test_a_taken_email_is_409_and_weak_or_malformed_ones_422(http: httpx.Client) -> None:
    signed_up(http, "taken@example.com")
    again = http.post("/api/v1/accounts", json={"email": "TAKEN@example.com", "password": PASSWORD})
    assert _code(again, 409) == "email_taken"
    for email, password, why in [
        ("a@example.com", "short1!", "at least 8"),
        ("b@example.com", "onlyletters", "letters and something else"),
        ("c@example.com", "1234567890", "letters and something else"),
        ("d@example.com", "password1", "too easy"),
        ("not-an-email", PASSWORD, "not an email"),
    ]:
        answer = http.post("/api/v1/accounts", json={"email": email, "password": password})
        assert _code(answer, 422) == "weak_credentials", email
        assert why in answer.json()["detail"]["reason"]
        assert password not in answer.text
    assert _code(sign_in(http, "a@example.com", "short1!"), 401) == "invalid_credentials"


def test_wrong_passwords_are_slowed_then_refused_with_429_for_a_while(
    http: httpx.Client,
) -> None:
    driver = signed_up(http)
    first = sign_in(http, driver.email, "wrong-pass-1")
    assert _code(first, 401) == "invalid_credentials"
    assert first.headers["WWW-Authenticate"] == "Bearer"
    started = time.monotonic()
    second = sign_in(http, driver.email, "wrong-pass-2")  # slow_after=2: slowed
    assert _code(second, 401) == "invalid_credentials"
    assert time.monotonic() - started >= 1.0
    third = sign_in(http, driver.email, "wrong-pass-3")  # lock_after=3
    assert _code(third, 429) == "too_many_attempts"
    assert 1 <= int(third.headers["Retry-After"]) <= 2
    # the right password is refused too while the lock holds; other emails are not locked
    assert _code(sign_in(http, driver.email), 429) == "too_many_attempts"
    other = signed_up(http)
    assert sign_in(http, other.email).status_code == 200
    time.sleep(2.1)
    assert sign_in(http, driver.email).status_code == 200


def test_an_unknown_email_is_locked_like_a_known_one(http: httpx.Client) -> None:
    for _ in range(2):
        assert _code(sign_in(http, "nobody@example.com", "guess-1234"), 401) == (
            "invalid_credentials"
        )
    assert _code(sign_in(http, "nobody@example.com", "guess-1234"), 429) == "too_many_attempts"


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_sign_in(http: httpx.Client) -> None:
    driver = signed_up(http)
    first = http.post("/api/v1/auth/refresh", json={"refresh_token": driver.refresh_token})
    assert first.status_code == 200, first.text
    second_token = first.json()["refresh_token"]
    assert second_token != driver.refresh_token
    new_access = first.json()["access_token"]
    assert http.get("/api/v1/me", headers={"Authorization": f"Bearer {new_access}"}).is_success
    # the first token shown again (a thief, or the driver after a thief): the family ends
    reuse = http.post("/api/v1/auth/refresh", json={"refresh_token": driver.refresh_token})
    assert _code(reuse, 401) == "invalid_refresh_token"
    after = http.post("/api/v1/auth/refresh", json={"refresh_token": second_token})
    assert _code(after, 401) == "invalid_refresh_token"
    # another sign-in of the same account is not touched
    other = sign_in(http, driver.email).json()["refresh_token"]
    assert http.post("/api/v1/auth/refresh", json={"refresh_token": other}).is_success
    unknown = http.post("/api/v1/auth/refresh", json={"refresh_token": "made-up"})
    assert _code(unknown, 401) == "invalid_refresh_token"


def test_sign_out_revokes_that_sign_in_only_and_only_its_owner_can(http: httpx.Client) -> None:
    a, b = signed_up(http), signed_up(http)
    # B cannot end A's sign-in by naming A's refresh token
    foreign = http.post(
        "/api/v1/auth/logout", json={"refresh_token": a.refresh_token}, headers=b.auth
    )
    assert foreign.status_code == 204
    still = http.post("/api/v1/auth/refresh", json={"refresh_token": a.refresh_token})
    assert still.status_code == 200, still.text
    a_next = still.json()["refresh_token"]
    assert _code(http.post("/api/v1/auth/logout", json={"refresh_token": a_next}), 401) == (
        "not_signed_in"
    )
    out = http.post("/api/v1/auth/logout", json={"refresh_token": a_next}, headers=a.auth)
    assert out.status_code == 204
    gone = http.post("/api/v1/auth/refresh", json={"refresh_token": a_next})
    assert _code(gone, 401) == "invalid_refresh_token"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_no_expired_forged_or_foreign_token_gets_in(http: httpx.Client, platform: Platform) -> None:
    a, b = signed_up(http), signed_up(http)
    tokens = platform.guards.tokens
    expired = AccessTokens(tokens.key, timedelta(minutes=15)).issue(
        a.account_id, at=datetime.now(UTC) - timedelta(hours=1)
    )
    other_key = AccessTokens("another platform's key, long enough to sign")
    foreign = other_key.issue(a.account_id, at=datetime.now(UTC))
    header, _payload, signature = a.access_token.split(".")
    payload = jwt.decode(a.access_token, options={"verify_signature": False})
    swapped = ".".join([header, _b64({**payload, "sub": f"account:{b.account_id}"}), signature])
    none_alg = ".".join([_b64({"alg": "none", "typ": "JWT", "kid": tokens.kid}),
                         _b64(payload), ""])  # fmt: skip
    for bad in [None, "-", expired, foreign, swapped, none_alg, "garbage", a.refresh_token]:
        headers = {} if bad is None else {"Authorization": f"Bearer {bad}"}
        answer = http.get("/api/v1/me", headers=headers)
        assert _code(answer, 401) == "not_signed_in", bad
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert http.get("/api/v1/me", headers=a.auth).json()["id"] == a.account_id
    assert http.get("/api/v1/me", headers={"X-Account-ID": a.account_id}).status_code == 401


def test_the_signing_key_is_made_once_and_shared_by_every_node_over_the_store(
    store: Store, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    driver = signed_up(http)
    second_node = assemble(store)  # another process over the same store
    with (
        LoopbackServer(second_node.app()) as server,
        httpx.Client(base_url=server.url, timeout=20) as other,
    ):
        assert other.get("/api/v1/me", headers=driver.auth).status_code == 200
    key = second_node.guards.tokens.key
    configured = assemble(store, auth=AuthConfig(signing_key="k" * 40))  # type: ignore[arg-type]
    assert configured.guards.tokens.key == "k" * 40
    with (
        LoopbackServer(configured.app()) as server,
        httpx.Client(base_url=server.url, timeout=20) as other,
    ):
        assert other.get("/api/v1/me", headers=driver.auth).status_code == 401
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (key, PASSWORD, driver.access_token, driver.refresh_token):
        assert secret not in logged


def test_a_short_signing_key_in_the_config_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        AuthConfig(signing_key="short")  # type: ignore[arg-type]
