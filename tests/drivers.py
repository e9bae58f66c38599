"""Drivers for API tests: an account signed in over HTTP, its bearer header ready to send."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from chargemesh.bootstrap import Platform

PASSWORD = "charge-2-go!"
_serial = itertools.count(1)


@dataclass(frozen=True)
class Driver:
    email: str
    account_id: str
    access_token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def sign_in(http: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/api/v1/auth/token", data={"username": email, "password": password})


def signed_up(http: httpx.Client, email: str | None = None) -> Driver:
    """A new account (``POST /api/v1/accounts``), signed in (``POST /api/v1/auth/token``)."""
    email = email or f"driver{next(_serial)}@example.com"
    made = http.post("/api/v1/accounts", json={"email": email, "password": PASSWORD})
    assert made.status_code == 201, made.text
    grant = sign_in(http, email)
    assert grant.status_code == 200, grant.text
    body = grant.json()
    return Driver(email, made.json()["id"], body["access_token"], body["refresh_token"])


_held: dict[tuple[int, str], dict[str, str]] = {}


def bearer(platform: Platform, name: str = "alice") -> dict[str, str]:
    """The ``Authorization`` header of the driver ``name`` on ``platform``: the account is made
    (through the platform's own accounts service, as sign-up does) on first use."""
    key = (id(platform), name)
    if key not in _held:
        email = f"{name}@example.com"
        account = platform.accounts.store.account_by_email(email)
        if account is None:
            account = platform.accounts.register(email, PASSWORD)
        token = platform.guards.tokens.issue(account.id, at=datetime.now(UTC))
        _held[key] = {"Authorization": f"Bearer {token}"}
    return _held[key]


def account_id(platform: Platform, name: str = "alice") -> str:
    found = platform.accounts.store.account_by_email(f"{name}@example.com")
    assert found is not None, name
    return found.id
