"""Drivers for API tests: an account signed in over HTTP, its bearer header ready to send."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import httpx

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
