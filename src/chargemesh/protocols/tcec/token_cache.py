"""A bearer token obtained with ``query_token``, cached, and renewed when it runs out or the
peer answers Ret 4002. Both directions use it: our client calling an operator, and an operator's
pusher calling a platform."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from chargemesh.protocols.tcec.codec import Ret, TcecError
from chargemesh.protocols.tcec.token import QueryTokenResponse

T = TypeVar("T")

#: Renew this long before the token's announced expiry (at most half its lifetime).
RENEW_MARGIN_S: Final = 60.0
#: When the peer leaves ``TokenAvailableTime`` out (or sends 0): the usual 7200 s, and a 4002
#: renews it sooner if need be.
ASSUMED_TOKEN_LIFETIME_S: Final = 7200


class TokenCache:
    def __init__(
        self,
        fetch: Callable[[], Awaitable[QueryTokenResponse]],
        *,
        peer: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch  # one query_token call to the peer
        self._peer = peer  # who issues the tokens, for the error message
        self._clock = clock
        self._token: str | None = None
        self._valid_until = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self) -> str:
        """The cached token, fetched anew when missing or about to expire."""
        async with self._lock:
            if self._token is None or self._clock() >= self._valid_until:
                self.fetches += 1
                answer = await self._fetch()
                if answer.succ_stat != 0 or not answer.access_token:
                    raise TcecError(
                        Ret.BAD_TOKEN,
                        f"{self._peer} refused the token (FailReason {answer.fail_reason})",
                        reason="token_refused",
                    )
                lifetime = float(max(answer.token_available_time or ASSUMED_TOKEN_LIFETIME_S, 1))
                self._token = answer.access_token
                self._valid_until = self._clock() + lifetime - min(RENEW_MARGIN_S, lifetime / 2)
            return self._token

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given)."""
        if token is None or token == self._token:
            self._token = None

    async def call(self, send: Callable[[str], Awaitable[T]]) -> T:
        """``send`` with a valid token; on Ret 4002 renew the token and retry once."""
        token = await self.get()
        try:
            return await send(token)
        except TcecError as exc:
            if exc.ret is not Ret.BAD_TOKEN:
                raise
        self.invalidate(token)
        return await send(await self.get())
