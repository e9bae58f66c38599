"""Who is calling: the FastAPI dependencies every driver route and every ops route takes.

``Depends(guards.driver)`` gives the signed-in account's id (401 without a valid access token);
``Depends(guards.ops)`` gives the ops key (401 without a live key, 403 for a driver's token).
Routes never read an account from anything the caller writes but the token."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chargemesh.api.ratelimit import TokenBuckets
from chargemesh.domain.accounts import OpsKey
from chargemesh.services.accounts.ops_keys import OpsKeys
from chargemesh.services.accounts.tokens import AccessTokens, InvalidAccessToken
from chargemesh.store import Store

_BEARER = HTTPBearer(auto_error=False, description="a driver's access token or an ops key")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


def unauthorized(code: str, reason: str, advice: str | None = None) -> HTTPException:
    return HTTPException(
        401, {"code": code, "reason": reason, "advice": advice},
        headers={"WWW-Authenticate": "Bearer"},
    )  # fmt: skip


def _not_signed_in() -> HTTPException:
    return unauthorized(
        "not_signed_in", "sign in first: this needs a driver's valid access token",
        "POST /api/v1/auth/token, then send Authorization: Bearer <access_token>",
    )  # fmt: skip


def too_many(reason: str, wait_s: int) -> HTTPException:
    """429 with Retry-After, in the style of the sign-in's lock (api/accounts.py)."""
    return HTTPException(
        429, {"code": "too_many_requests", "reason": reason, "advice": f"retry after {wait_s} s"},
        headers={"Retry-After": str(wait_s)},
    )  # fmt: skip


class Guards:
    def __init__(
        self,
        store: Store,
        tokens: AccessTokens,
        ops_keys: OpsKeys,
        *,
        rate_limit: TokenBuckets | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.ops_keys = ops_keys
        self.rate_limit = rate_limit  # per account; None: unlimited

    async def driver(self, credentials: Credentials) -> str:
        """The id of the account whose valid access token the caller sent."""
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _not_signed_in()
        try:
            account_id = self.tokens.account_of(credentials.credentials)
        except InvalidAccessToken:
            raise _not_signed_in() from None
        if self.rate_limit is not None and (wait := self.rate_limit.wait_s(account_id)):
            raise too_many("too many requests from this account", wait)
        if await asyncio.to_thread(self.store.account_by_id, account_id) is None:
            raise _not_signed_in()
        return account_id

    async def ops(self, credentials: Credentials) -> OpsKey:
        """The live ops key the caller sent; a driver's token is refused with 403."""
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise unauthorized(
                "no_ops_key", "this needs an operations key",
                "chargemesh ops key create --name NAME, then Authorization: Bearer <key>",
            )  # fmt: skip
        key = await asyncio.to_thread(self.ops_keys.verify, credentials.credentials)
        if key is not None:
            return key
        try:
            self.tokens.account_of(credentials.credentials)
        except InvalidAccessToken:
            raise unauthorized(
                "no_ops_key", "this operations key is unknown or revoked",
                "ask for a new key: chargemesh ops key create --name NAME",
            ) from None  # fmt: skip
        raise HTTPException(
            403, {"code": "not_operations", "reason": "drivers cannot use operations routes"}
        )


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the auth refusals a route can answer."""
    text = {401: "not signed in / no valid key", 403: "not an operations key",
            429: "too many requests (or wrong passwords): see Retry-After"}  # fmt: skip
    return {s: {"description": text[s]} for s in statuses}
