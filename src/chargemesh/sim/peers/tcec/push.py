"""The infrastructure operator's client for the notifications it pushes to a platform.

:class:`PlatformPusher` POSTs each notification to the platform's base URL + the interface name
(``…/tcec/v1/notification_stationStatus``; the same layout for every dialect, as our platform
serves it), as a signed and encrypted envelope with ``Authorization: Bearer <AccessToken>``.

The token comes from the platform's ``query_token`` at the same base URL (payload: this
operator's OperatorID and the OperatorSecret the platform issued). It is cached and renewed
shortly before ``TokenAvailableTime`` runs out, and when the platform answers ``Ret`` 4002: the
call is then retried once with a new token.

Failures: a non-zero ``Ret`` (after that one retry) or a refused token request raise
:class:`~chargemesh.protocols.tcec.codec.TcecError`; HTTP errors and transport failures raise the
``httpx`` exceptions (``HTTPStatusError``, ``TransportError``); nothing else is retried here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import httpx

from chargemesh.protocols.tcec.codec import (
    CHINA_TZ,
    Secrets,
    SeqCounter,
    open_response,
    seal_request,
)
from chargemesh.protocols.tcec.interfaces import Interface
from chargemesh.protocols.tcec.stations import (
    ConnectorStatusInfo,
    NotificationStationStatusRequest,
)
from chargemesh.protocols.tcec.token import QueryTokenRequest, QueryTokenResponse
from chargemesh.protocols.tcec.token_cache import TokenCache
from chargemesh.protocols.tcec.wire import Dialect, WireModel, dialect_of, dump, parse

__all__ = ["PlatformPusher"]


class PlatformPusher:
    """Push notifications from one operator (``operator_id``) to one platform.

    ``secrets`` are the ones the *platform* issued to this operator. ``client`` is owned by the
    caller (closing it is theirs). ``clock`` (monotonic seconds) times the token's validity.
    """

    def __init__(
        self,
        base_url: str,
        operator_id: str,
        secrets: Secrets,
        dialect: Dialect,
        client: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        seq: SeqCounter | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.operator_id = operator_id
        self.dialect = dialect_of(dialect)
        self._secrets = secrets
        self._client = client
        self._clock = clock
        self._seq = seq or SeqCounter.random_start()
        self._tokens = TokenCache(self._fetch_token, peer="the platform", clock=clock)

    def url(self, interface: Interface | str) -> str:
        return urljoin(self.base_url, str(Interface(interface)))

    async def push_status(self, info: ConnectorStatusInfo) -> dict[str, Any]:
        """``notification_stationStatus`` for one connector; the platform's answer payload."""
        push = NotificationStationStatusRequest(connector_status_info=info)
        return await self.notify(Interface.NOTIFICATION_STATION_STATUS, push)

    async def notify(self, interface: Interface | str, model: WireModel) -> dict[str, Any]:
        """POST ``model`` to ``interface`` with the bearer token; the answer payload.

        On ``Ret`` 4002 the token is renewed and the call retried once.
        """
        name = Interface(interface)
        payload = dump(model, self.dialect)
        return await self._tokens.call(lambda token: self._call(name, payload, token))

    # ------------------------------------------------------------------ token

    async def token(self) -> str:
        """The cached AccessToken, fetched anew when missing or about to expire."""
        return await self._tokens.get()

    def invalidate_token(self, token: str | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given)."""
        self._tokens.invalidate(token)

    async def _fetch_token(self) -> QueryTokenResponse:
        request = QueryTokenRequest(
            operator_id=self.operator_id, operator_secret=self._secrets.operator_secret
        )
        payload = await self._call(Interface.QUERY_TOKEN, dump(request, self.dialect), None)
        return parse(QueryTokenResponse, payload)

    # ------------------------------------------------------------------ HTTP

    async def _call(
        self, interface: Interface, payload: dict[str, Any], token: str | None
    ) -> dict[str, Any]:
        envelope = seal_request(
            self.operator_id,
            payload,
            self._secrets,
            seq=self._seq.next(),
            timestamp=datetime.now(CHINA_TZ),
        )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self._client.post(self.url(interface), json=envelope, headers=headers)
        response.raise_for_status()
        return open_response(response.content, self._secrets)
