"""Drivers' accounts over HTTP: sign up, sign in (OAuth2 password form), refresh, sign out, me.
docs/accounts.md."""

# No ``from __future__ import annotations``: the routes' ``Driver`` dependency is made per
# router (it holds its Guards), and FastAPI must see it when the route is defined.

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Response
from pydantic import BaseModel, Field

from chargemesh.api.auth import Guards, responses
from chargemesh.services.accounts.service import AccountRefused, Accounts, Grant, SlowedRefusal
from chargemesh.store import Store


class AccountIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class AccountOut(BaseModel):
    id: str
    email: str
    created_at: datetime


class MeOut(AccountOut):
    vehicles: int
    sessions: int


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int  # seconds
    refresh_token: str
    refresh_expires_in: int


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


def _http(exc: AccountRefused) -> HTTPException:
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
    if exc.status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return HTTPException(
        exc.status, {"code": exc.code, "reason": exc.reason, "advice": exc.advice},
        headers=headers,
    )  # fmt: skip


def _token_out(grant: Grant) -> TokenOut:
    return TokenOut(
        access_token=grant.access_token, expires_in=grant.expires_in,
        refresh_token=grant.refresh_token, refresh_expires_in=grant.refresh_expires_in,
    )  # fmt: skip


def accounts_router(accounts: Accounts, guards: Guards, store: Store) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["accounts"])
    Driver = Annotated[str, Depends(guards.driver)]  # noqa: N806 - a type

    @router.post("/accounts", response_model=AccountOut, status_code=201)
    async def sign_up(body: AccountIn) -> AccountOut:
        """A new driver account (409 if the email has one; 422 with the reason if the email
        is malformed or the password weak)."""
        try:
            made = await asyncio.to_thread(accounts.register, body.email, body.password)
        except AccountRefused as exc:
            raise _http(exc) from None
        return AccountOut(id=made.id, email=made.email, created_at=made.created_at)

    @router.post("/auth/token", response_model=TokenOut, responses=responses(401, 429))
    async def sign_in(
        username: Annotated[str, Form(max_length=254, description="the account's email")],
        password: Annotated[str, Form(max_length=1024)],
    ) -> TokenOut:
        """OAuth2 password sign-in: a short-lived access token and a refresh token. Wrong
        passwords for one email are slowed after a few, then refused (429) for a while."""
        try:
            grant = await asyncio.to_thread(accounts.sign_in, username, password)
        except SlowedRefusal as slowed:
            await asyncio.sleep(accounts.rules.slow_by_s)
            raise _http(slowed.refusal) from None
        except AccountRefused as exc:
            raise _http(exc) from None
        return _token_out(grant)

    @router.post("/auth/refresh", response_model=TokenOut, responses=responses(401))
    async def refresh(body: RefreshIn) -> TokenOut:
        """A new access token for a refresh token, which is spent: the answer carries the next
        one. A refresh token used twice ends that sign-in on every device."""
        try:
            grant = await asyncio.to_thread(accounts.refresh, body.refresh_token)
        except AccountRefused as exc:
            raise _http(exc) from None
        return _token_out(grant)

    @router.post("/auth/logout", status_code=204, responses=responses(401))
    async def sign_out(body: RefreshIn, account: Driver) -> Response:
        """End this sign-in: its refresh tokens stop working at once."""
        await asyncio.to_thread(accounts.sign_out, body.refresh_token, account)
        return Response(status_code=204)

    @router.get("/me", response_model=MeOut, responses=responses(401))
    async def me(account: Driver) -> MeOut:
        """The signed-in account, with how many cars and charges it has."""
        found = await asyncio.to_thread(accounts.account, account)
        if found is None:
            raise HTTPException(404, "this account is gone")
        vehicles, sessions = await asyncio.gather(
            asyncio.to_thread(store.account_vehicles, account),
            asyncio.to_thread(store.account_sessions, account),
        )
        return MeOut(
            id=found.id, email=found.email, created_at=found.created_at,
            vehicles=len(vehicles), sessions=len(sessions),
        )  # fmt: skip

    return router
