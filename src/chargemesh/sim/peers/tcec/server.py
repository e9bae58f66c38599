"""The infrastructure operator's side of T/CEC 102 over HTTP: what a platform (us) calls.

:class:`TcecOperatorServer` serves one operator's interfaces as a FastAPI ``app``, for the
simulator and for tests. It plays the data provider faithfully: every call is a signed, encrypted
envelope; everything but ``query_token`` needs ``Authorization: Bearer <AccessToken>``; errors are
envelopes with the protocol's ``Ret`` and HTTP 200.

Paths, per dialect:

* ``cec`` — ``{base_path}/<interface name>`` (``base_path`` defaults to ``/evcs/v1``);
* ``xiaoju`` — the dialect's absolute paths, ``/evcs/v1/query_*`` and ``/evcs/sdk/query_token``
  (``base_path`` is not used).

:meth:`TcecOperatorServer.base_url` gives the base URL a platform should configure, for use with
:func:`~chargemesh.protocols.tcec.interfaces.endpoint_url`.

Each request goes through, in order: :func:`open_request` with the caller's secrets (an unknown
OperatorID or a wrong ``Sig`` → 4001, an unreadable envelope → 4003), the bearer token (not for
``query_token``; missing, unknown, expired or issued to another platform → 4002), the handler
lookup (none registered → 4004 "not supported by this operator"), :func:`parse` with the
interface's request model (4003 missing field, 4004 invalid value), the handler, then
:func:`seal_response`. Error envelopes are signed with the caller's secrets once the caller's
OperatorID is known and its ``Sig`` was not the problem; otherwise they go unsigned. ``Msg`` and
the logs carry the error's fixed, secret-free text only, never payloads.

Interfaces answered (``handlers`` is a plain ``dict`` Interface → handler; assign to it to add or
replace one, e.g. the session interfaces):

* ``query_token`` — a random AccessToken bound to the calling platform, valid ``token_ttl_s``
  seconds (``TokenAvailableTime``). ``SuccStat`` 1 with ``FailReason`` 1 when the payload's
  OperatorID is not the (authenticated) caller, 2 for a wrong OperatorSecret. Earlier tokens stay
  valid until they expire. The response's OperatorID is the caller's, the token's holder.
* ``query_stations_info`` — paged; ``PageSize`` is capped at ``max_page_size`` (default 100:
  larger sizes are served as 100, and ``PageCount`` is computed with the size actually used);
  a ``PageNo`` past the end answers an empty page. ``LastQueryTime`` (``yyyy-MM-dd HH:mm:ss``)
  keeps the stations changed at or after it; another format → 4004.
* ``query_station_status`` — 1 to 50 StationIDs (else 4004); unknown ids are left out of the
  answer and ``Total`` counts the stations answered.
* ``query_equip_auth`` — ``SuccStat`` 0 when the connector is idle or plugged in (Status 1 or 2);
  otherwise ``SuccStat`` 1, ``FailReason`` 2 (device check failed; CEC codes, **unverified**).
* ``query_equip_business_policy`` — the connector's time-of-use tariff from the network.
* ``query_station_stats`` — no handler: 4004.
* ``query_start_charge``, ``query_stop_charge``, ``query_equip_charge_status`` — 4004 until a
  charging simulation installs its handlers
  (:meth:`chargemesh.sim.peers.tcec.charging.TcecOperatorCharging.attach`, as the simulator does).

Unknown ConnectorIDs in the connector queries answer 4004.

Fault injection, for resilience tests (all plain attributes, change them at any time):

* ``fail_page_once: set[int]`` — a ``query_stations_info`` for one of these ``PageNo`` answers
  HTTP 500 (not an envelope) and the page leaves the set: the next ask succeeds.
* :meth:`expire_tokens` — every AccessToken issued so far becomes invalid (next call: 4002).
* ``token_ttl_s`` — lifetime of tokens issued from now on (default 7200 s).
* ``requests: Counter[Interface]`` — requests received per interface, whatever their outcome.
"""

from __future__ import annotations

import logging
import math
import secrets as _random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from chargemesh.protocols.tcec.charging import (
    QueryEquipAuthRequest,
    QueryEquipAuthResponse,
    QueryEquipBusinessPolicyRequest,
    QueryEquipBusinessPolicyResponse,
)
from chargemesh.protocols.tcec.codec import (
    Ret,
    Secrets,
    TcecError,
    open_request,
    seal_response,
)
from chargemesh.protocols.tcec.interfaces import INTERFACES, Interface, paths
from chargemesh.protocols.tcec.stations import (
    ConnectorStatusInfo,
    QueryStationsInfoRequest,
    QueryStationsInfoResponse,
    QueryStationStatusRequest,
    QueryStationStatusResponse,
)
from chargemesh.protocols.tcec.token import QueryTokenRequest, QueryTokenResponse
from chargemesh.protocols.tcec.wire import Dialect, WireModel, dialect_of, dump, parse
from chargemesh.sim.peers.tcec.network import OperatorData, parse_last_query_time

__all__ = [
    "DEFAULT_BASE_PATH",
    "DEFAULT_TOKEN_TTL_S",
    "MAX_PAGE_SIZE",
    "SERVED_INTERFACES",
    "Handler",
    "TcecOperatorServer",
]

logger = logging.getLogger(__name__)

DEFAULT_BASE_PATH: Final = "/evcs/v1"
DEFAULT_TOKEN_TTL_S: Final = 7200
MAX_PAGE_SIZE: Final = 100

#: The interfaces an operator implements (and ``query_token``): each gets a route.
SERVED_INTERFACES: Final = tuple(
    name for name, spec in INTERFACES.items() if spec.implementer in ("operator", "both")
)

#: A handler: (the authenticated caller's OperatorID, the parsed request model) → the response
#: model. It may raise :class:`TcecError` to answer an error envelope.
Handler = Callable[[str, Any], WireModel]

_STARTABLE: Final = frozenset({1, 2})  # idle, plugged in and not charging
_FAIL_NO_SUCH_OPERATOR: Final = 1
_FAIL_WRONG_SECRET: Final = 2
_FAIL_DEVICE_CHECK: Final = 2


class _InjectedFault(Exception):
    """Raised by a handler to answer HTTP 500 instead of an envelope."""


@dataclass(frozen=True, slots=True)
class _Token:
    platform_id: str
    expires_at: float  # on the server's monotonic clock


def _bearer(header: str | None) -> str:
    scheme, _, token = (header or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class TcecOperatorServer:
    """One simulated operator serving the platforms in ``platforms``.

    ``platforms`` maps each platform's OperatorID to the secrets this operator issued to it; they
    authenticate its calls and sign the answers. ``clock`` (monotonic seconds) times token expiry.
    """

    def __init__(
        self,
        operator_id: str,
        dialect: Dialect,
        network: OperatorData,
        platforms: Mapping[str, Secrets],
        *,
        base_path: str = DEFAULT_BASE_PATH,
        token_ttl_s: int = DEFAULT_TOKEN_TTL_S,
        max_page_size: int = MAX_PAGE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(operator_id) != 9:
            raise ValueError("operator_id must be the 9-character organisation code")
        if token_ttl_s < 1 or max_page_size < 1:
            raise ValueError("token_ttl_s and max_page_size must be positive")
        self.operator_id = operator_id
        self.dialect = dialect_of(dialect)
        self.network = network
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.token_ttl_s = token_ttl_s
        self.max_page_size = max_page_size
        self.fail_page_once: set[int] = set()
        self.requests: Counter[Interface] = Counter()
        self.handlers: dict[Interface, Handler] = {
            Interface.QUERY_TOKEN: self._query_token,
            Interface.QUERY_STATIONS_INFO: self._query_stations_info,
            Interface.QUERY_STATION_STATUS: self._query_station_status,
            Interface.QUERY_EQUIP_AUTH: self._query_equip_auth,
            Interface.QUERY_EQUIP_BUSINESS_POLICY: self._query_equip_business_policy,
        }
        self._platforms = dict(platforms)
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self.app = self._build_app()

    # ------------------------------------------------------------------ addresses

    def path(self, interface: Interface | str) -> str:
        """The URL path this server answers ``interface`` at."""
        relative = paths(self.dialect)[Interface(interface)]
        return relative if relative.startswith("/") else f"{self.base_path}/{relative}"

    def base_url(self, origin: str) -> str:
        """The base URL a platform configures for this operator, given the server's origin
        (``http://127.0.0.1:8123``): ``endpoint_url(base_url, interface, dialect)`` then hits
        :meth:`path`."""
        prefix = self.base_path if self.dialect == "cec" else ""
        return f"{origin.rstrip('/')}{prefix}/"

    # ------------------------------------------------------------------ fault knobs

    def expire_tokens(self) -> None:
        """Invalidate every AccessToken issued so far."""
        with self._lock:
            self._tokens.clear()

    def _take_page_fault(self, page_no: int) -> bool:
        with self._lock:
            if page_no in self.fail_page_once:
                self.fail_page_once.discard(page_no)
                return True
        return False

    # ------------------------------------------------------------------ HTTP

    def _build_app(self) -> FastAPI:
        app = FastAPI(
            title=f"T/CEC operator {self.operator_id}",
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
        )
        for interface in SERVED_INTERFACES:
            app.add_api_route(
                self.path(interface),
                self._endpoint(interface),
                methods=["POST"],
                include_in_schema=False,
            )
        return app

    def _endpoint(self, interface: Interface) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await self._serve(interface, request)

        endpoint.__name__ = f"tcec_{interface}"
        return endpoint

    async def _serve(self, interface: Interface, request: Request) -> Response:
        with self._lock:
            self.requests[interface] += 1
        body = await request.body()
        claimed: list[str] = []

        def secrets_for(operator_id: str) -> Secrets | None:
            claimed.append(operator_id)
            return self._platforms.get(operator_id)

        try:
            opened = open_request(body, secrets_for)
            reply = self._dispatch(interface, opened.operator_id, opened.payload, request)
        except _InjectedFault:
            logger.info("T/CEC %s: injected HTTP 500", interface)
            return PlainTextResponse("injected fault", status_code=500)
        except TcecError as exc:
            caller = claimed[0] if claimed else None
            logger.info("T/CEC %s from %s: Ret %d (%s)", interface, caller, exc.ret, exc.reason)
            return JSONResponse(self._error_envelope(exc, caller))
        except Exception:
            logger.exception("T/CEC %s: handler failed", interface)
            error = TcecError(Ret.SYSTEM_ERROR, "system error", reason="handler_failed")
            return JSONResponse(self._error_envelope(error, claimed[0] if claimed else None))
        secrets = self._platforms[opened.operator_id]
        return JSONResponse(seal_response(Ret.OK, "", dump(reply, self.dialect), secrets))

    def _dispatch(
        self, interface: Interface, caller: str, payload: Mapping[str, Any], request: Request
    ) -> WireModel:
        if interface is not Interface.QUERY_TOKEN:
            self._check_token(request.headers.get("authorization"), caller)
        handler = self.handlers.get(interface)
        if handler is None:
            raise TcecError(
                Ret.INVALID_PARAMETER,
                f"{interface} is not supported by this operator",
                reason="unsupported",
            )
        return handler(caller, parse(INTERFACES[interface].request, payload))

    def _error_envelope(self, error: TcecError, caller: str | None) -> dict[str, Any]:
        secrets = self._platforms.get(caller) if caller is not None else None
        if secrets is None or error.ret is Ret.BAD_SIGNATURE:
            return {"Ret": int(error.ret), "Msg": str(error), "Data": "", "Sig": ""}
        return seal_response(error.ret, str(error), None, secrets)

    # ------------------------------------------------------------------ tokens

    def _issue_token(self, platform_id: str) -> str:
        token = _random.token_hex(16).upper()
        now = self._clock()
        with self._lock:
            self._tokens = {k: v for k, v in self._tokens.items() if v.expires_at > now}
            self._tokens[token] = _Token(platform_id, now + self.token_ttl_s)
        return token

    def _check_token(self, header: str | None, caller: str) -> None:
        token = _bearer(header)
        with self._lock:
            entry = self._tokens.get(token) if token else None
        if entry is None or entry.platform_id != caller or entry.expires_at <= self._clock():
            raise TcecError(
                Ret.BAD_TOKEN, "AccessToken missing, invalid or expired", reason="bad_token"
            )

    # ------------------------------------------------------------------ handlers

    def _query_token(self, caller: str, request: QueryTokenRequest) -> QueryTokenResponse:
        expected = self._platforms[caller].operator_secret
        if request.operator_id != caller:
            return QueryTokenResponse(
                operator_id=caller, succ_stat=1, fail_reason=_FAIL_NO_SUCH_OPERATOR
            )
        if not _random.compare_digest(
            request.operator_secret.encode("utf-8"), expected.encode("utf-8")
        ):
            return QueryTokenResponse(
                operator_id=caller, succ_stat=1, fail_reason=_FAIL_WRONG_SECRET
            )
        return QueryTokenResponse(
            operator_id=caller,
            succ_stat=0,
            access_token=self._issue_token(caller),
            token_available_time=self.token_ttl_s,
            fail_reason=0,
        )

    def _query_stations_info(
        self, caller: str, request: QueryStationsInfoRequest
    ) -> QueryStationsInfoResponse:
        if self._take_page_fault(request.page_no):
            raise _InjectedFault
        try:
            since = parse_last_query_time(request.last_query_time)
        except ValueError as exc:
            raise TcecError(Ret.INVALID_PARAMETER, str(exc), reason="bad_last_query_time") from None
        stations = self.network.stations_changed_since(since)
        size = min(request.page_size, self.max_page_size)
        start = (request.page_no - 1) * size
        return QueryStationsInfoResponse(
            page_no=request.page_no,
            page_count=math.ceil(len(stations) / size),
            item_size=len(stations),
            station_infos=tuple(stations[start : start + size]),
        )

    def _query_station_status(
        self, caller: str, request: QueryStationStatusRequest
    ) -> QueryStationStatusResponse:
        wanted = dict.fromkeys(request.station_ids)  # de-duplicated, in order
        infos = tuple(
            info for sid in wanted if (info := self.network.station_status(sid)) is not None
        )
        return QueryStationStatusResponse(total=len(infos), station_status_infos=infos)

    def _known_connector(self, connector_id: str) -> ConnectorStatusInfo:
        status = self.network.connector_status(connector_id)
        if status is None:
            raise TcecError(
                Ret.INVALID_PARAMETER, "unknown ConnectorID", reason="unknown_connector"
            )
        return status

    def _query_equip_auth(
        self, caller: str, request: QueryEquipAuthRequest
    ) -> QueryEquipAuthResponse:
        status = self._known_connector(request.connector_id)
        startable = status.status in _STARTABLE
        return QueryEquipAuthResponse(
            equip_auth_seq=request.equip_auth_seq,
            connector_id=request.connector_id,
            succ_stat=0 if startable else 1,
            fail_reason=0 if startable else _FAIL_DEVICE_CHECK,
        )

    def _query_equip_business_policy(
        self, caller: str, request: QueryEquipBusinessPolicyRequest
    ) -> QueryEquipBusinessPolicyResponse:
        self._known_connector(request.connector_id)
        policy = self.network.policy_for(request.connector_id)
        return QueryEquipBusinessPolicyResponse(
            equip_biz_seq=request.equip_biz_seq,
            connector_id=request.connector_id,
            succ_stat=0,
            fail_reason=0,
            sum_period=len(policy),
            policy_infos=policy,
        )
