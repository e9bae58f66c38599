"""The platform's client for one T/CEC operator: token, signed calls, paged station sync, polling.

The token is cached and renewed before it expires and whenever the operator answers Ret 4002
(a token it no longer honours), and the call is then retried once. A page that fails with an
HTTP error or a timeout is retried with backoff, so a sync resumes at the failed page instead of
starting over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from chargemesh.config import Config
from chargemesh.protocols.bounded import MB, FetchLimits, bounded_request
from chargemesh.protocols.tcec import charging as c
from chargemesh.protocols.tcec.codec import (
    CHINA_TZ,
    Secrets,
    SeqCounter,
    open_response,
    seal_request,
)
from chargemesh.protocols.tcec.interfaces import Interface, endpoint_url
from chargemesh.protocols.tcec.stations import (
    MAX_STATUS_STATION_IDS,
    QueryStationsInfoRequest,
    QueryStationsInfoResponse,
    QueryStationStatusRequest,
    QueryStationStatusResponse,
    StationInfo,
)
from chargemesh.protocols.tcec.token import QueryTokenRequest, QueryTokenResponse
from chargemesh.protocols.tcec.token_cache import TokenCache
from chargemesh.protocols.tcec.wire import (
    Dialect,
    WireModel,
    describe_error,
    dialect_of,
    dump,
    parse,
)

M = TypeVar("M", bound=WireModel)
log = logging.getLogger(__name__)
STATION_INFOS = "StationInfos"


class FeedError(Exception):
    """The operator could not be reached or kept failing; the message names the operator."""


def client_from_config(config: Config, operator_id: str, http: httpx.AsyncClient) -> TcecClient:
    """The client for one configured T/CEC operator: its URL and dialect, our OperatorID, and
    the secrets it issued to us (``[operators.outbound]``)."""
    op = config.operator(operator_id)
    if op.protocol != "tcec" or op.outbound is None:
        raise ValueError(f"operator {operator_id} is not a T/CEC operator with outbound secrets")
    return TcecClient(
        base_url=op.url,
        operator_id=op.id,
        platform_operator_id=config.tcec.operator_id,
        secrets=Secrets.from_config(op.outbound),
        dialect=dialect_of(op.dialect),
        http=http,
        limits=FetchLimits(
            max_bytes=int(config.sync.page_max_mb * MB), total_s=config.sync.page_timeout_s
        ),
    )


class TcecClient:
    def __init__(
        self,
        *,
        base_url: str,
        operator_id: str,
        platform_operator_id: str,
        secrets: Secrets,
        dialect: Dialect,
        http: httpx.AsyncClient,
        retries: int = 3,
        backoff_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        seq: SeqCounter | None = None,
        limits: FetchLimits | None = None,
    ) -> None:
        self.base_url = base_url
        self.operator_id = operator_id  # the operator we call
        self.rejected_stations = 0  # stations skipped because they did not parse
        self._us = platform_operator_id  # our OperatorID, the sender of every request
        self._secrets = secrets  # what the operator issued to us ([operators.outbound])
        self._dialect = dialect
        self._http = http
        self._retries = retries
        self._backoff_s = backoff_s
        #: how large and how slow one answer may be: it is streamed and dropped past either
        self._limits = limits or FetchLimits()
        self._clock = clock
        self._seq = seq or SeqCounter.random_start()
        self._tokens = TokenCache(self._fetch_token, peer=f"operator {operator_id}", clock=clock)

    # --- the envelope --------------------------------------------------------------------------
    async def _post(self, interface: Interface, payload: dict[str, Any], token: str | None) -> Any:
        body = seal_request(
            self._us, payload, self._secrets, seq=self._seq.next(), timestamp=datetime.now(UTC)
        )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = endpoint_url(self.base_url, interface, self._dialect)
        for attempt in range(self._retries + 1):
            try:
                response = await bounded_request(
                    self._http, "POST", url, self._limits, json=body, headers=headers
                )
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code < 500:
                    return open_response(response.content, self._secrets)
                failure = f"HTTP {response.status_code}"
            if attempt == self._retries:
                raise FeedError(
                    f"operator {self.operator_id}: {interface} failed {attempt + 1} times "
                    f"({failure})"
                )
            await asyncio.sleep(self._backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    @property
    def token_requests(self) -> int:
        return self._tokens.fetches

    async def _fetch_token(self) -> QueryTokenResponse:
        request = QueryTokenRequest(
            operator_id=self._us, operator_secret=self._secrets.operator_secret
        )
        payload = await self._post(Interface.QUERY_TOKEN, dump(request, self._dialect), None)
        return parse(QueryTokenResponse, payload)

    async def call(self, interface: Interface, request: WireModel, answer: type[M]) -> M:
        """One signed call with a valid token; a 4002 renews the token and retries once."""
        return parse(answer, await self._payload(interface, request))

    async def _payload(self, interface: Interface, request: WireModel) -> Any:
        """The decrypted answer of one signed call, before it is parsed."""
        payload = dump(request, self._dialect)
        return await self._tokens.call(lambda token: self._post(interface, payload, token))

    # --- stations and status -------------------------------------------------------------------
    async def station_pages(
        self, last_query_time: datetime | None = None, page_size: int = 100
    ) -> AsyncIterator[QueryStationsInfoResponse]:
        """Every page of ``query_stations_info``; with ``last_query_time`` only changes since."""
        since = (
            last_query_time.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")
            if last_query_time
            else None
        )
        page_no = 1
        while True:
            request = QueryStationsInfoRequest(
                last_query_time=since, page_no=page_no, page_size=page_size
            )
            payload = await self._payload(Interface.QUERY_STATIONS_INFO, request)
            page = self._page(payload, page_no)
            yield page
            if page_no >= page.page_count or not page.station_infos:
                return
            page_no += 1

    def _page(self, payload: Any, page_no: int) -> QueryStationsInfoResponse:
        """The page, each station validated once; one that does not parse is left out (logged by
        StationID, counted in ``rejected_stations``): one malformed record must not lose its
        page."""
        stations = payload.get(STATION_INFOS) if isinstance(payload, dict) else None
        if not isinstance(stations, list):
            return parse(QueryStationsInfoResponse, payload)
        good = []
        for raw in stations:
            try:
                good.append(StationInfo.model_validate(raw))
            except ValidationError as exc:
                self.rejected_stations += 1
                ident = raw.get("StationID") if isinstance(raw, dict) else None
                log.warning(
                    "T/CEC %s: page %d: skipped station %s that does not parse (%s)",
                    self.operator_id, page_no, str(ident)[:40], describe_error(exc)[:200],
                )  # fmt: skip
        page = parse(QueryStationsInfoResponse, {**payload, STATION_INFOS: []})
        return page.model_copy(update={"station_infos": tuple(good)})

    async def station_status(self, station_ids: Sequence[str]) -> list[QueryStationStatusResponse]:
        """``query_station_status`` in batches of at most 50 StationIDs."""
        answers = []
        for i in range(0, len(station_ids), MAX_STATUS_STATION_IDS):
            batch = tuple(station_ids[i : i + MAX_STATUS_STATION_IDS])
            answers.append(
                await self.call(
                    Interface.QUERY_STATION_STATUS,
                    QueryStationStatusRequest(station_ids=batch),
                    QueryStationStatusResponse,
                )
            )
        return answers

    # --- the session calls (the sessions work builds its state machine on these) ---------------
    async def equip_auth(self, request: c.QueryEquipAuthRequest) -> c.QueryEquipAuthResponse:
        return await self.call(Interface.QUERY_EQUIP_AUTH, request, c.QueryEquipAuthResponse)

    async def business_policy(
        self, request: c.QueryEquipBusinessPolicyRequest
    ) -> c.QueryEquipBusinessPolicyResponse:
        return await self.call(
            Interface.QUERY_EQUIP_BUSINESS_POLICY, request, c.QueryEquipBusinessPolicyResponse
        )

    async def start_charge(self, request: c.QueryStartChargeRequest) -> c.QueryStartChargeResponse:
        return await self.call(Interface.QUERY_START_CHARGE, request, c.QueryStartChargeResponse)

    async def charge_status(
        self, request: c.QueryEquipChargeStatusRequest
    ) -> c.QueryEquipChargeStatusResponse:
        return await self.call(
            Interface.QUERY_EQUIP_CHARGE_STATUS, request, c.QueryEquipChargeStatusResponse
        )

    async def stop_charge(self, request: c.QueryStopChargeRequest) -> c.QueryStopChargeResponse:
        return await self.call(Interface.QUERY_STOP_CHARGE, request, c.QueryStopChargeResponse)
