"""A simulated OCPI 2.2.1 CPO over HTTP: chargemesh's peer in the simulator and end-to-end tests.

:class:`OcpiCpoServer` serves one CPO's data (a :class:`~.data.CpoData`, e.g. the in-memory
:class:`~.data.CpoNetwork`) as a FastAPI ``app`` and plays the CPO faithfully:

* every request needs ``Authorization: Token …``, Base64 or raw (each
  :func:`~chargemesh.protocols.ocpi.transport.token_candidates` value is tried against the tokens
  this CPO issued). Token A opens versions, version details and credentials only, until the
  registration completes; anything else is 401 with an envelope.
* ``GET {base}/versions`` and ``GET {base}/2.2.1`` (details: credentials SENDER and RECEIVER;
  locations, tariffs, sessions, cdrs SENDER; commands, tokens RECEIVER). One table,
  :meth:`OcpiCpoServer.routes` (module, role, method, path → handler), gives both the routes and
  the endpoints the details list.
* credentials ``POST`` (the eMSP registers: its versions and details are fetched with its token B,
  this CPO answers a fresh token C and discards token A; 405 when already registered; 3001 when
  the eMSP's API cannot be used), ``GET`` (our credentials, carrying the token the caller used),
  ``PUT`` (versions and details fetched again, token C rotated), ``DELETE`` (token C stops
  working; 405 when not registered).
* paginated lists of locations, tariffs, sessions and cdrs (``date_from`` inclusive, ``date_to``
  exclusive, ``offset``, ``limit`` capped at ``max_limit``; ``X-Total-Count``, ``X-Limit`` = the
  maximum page size, ``Link`` rel=next only when a next page exists, keeping the date filters);
  ``GET locations/{id}[/{evse_uid}[/{connector_id}]]``, ids compared case-insensitively, 404 with
  2003 when unknown.
* commands receiver: ``POST {base}/2.2.1/commands/{command}``. The body is parsed with the
  command's model (2001 if it is not one: nothing is recorded or started); the
  ``CommandResponse`` is answered at once and, for an ACCEPTED one, a ``CommandResult`` is POSTed
  to the body's ``response_url`` after ``command_delay_s``, with the eMSP's token. A command that
  names an unknown location is REJECTED with status code 2003. The commands carried out for real
  have a handler in ``commands`` (CommandType → :class:`~.port.CommandHandler`): START_SESSION
  and STOP_SESSION, from the CPO's charging (:mod:`~.sessions`), really start and stop charging.
* tokens receiver: ``GET/PUT/PATCH {base}/2.2.1/tokens/{cc}/{pid}/{uid}[?type=]``.

``OCPI-to-*`` headers on functional modules, when present, must name this CPO (else 404): a
partner cannot read another party's data by walking ids.

Behaviour knobs and fault injection (plain attributes, change them at any time):

* ``command_response: dict[CommandType, CommandResponseType]`` — the immediate answer per command
  (default ACCEPTED);
* ``command_outcomes: dict[CommandType, CommandResultType | None]`` — the later CommandResult
  (default ACCEPTED; ``None``: never sent, to test the eMSP's timeout). Setting one scripts that
  command: the result is sent and nothing else happens (no session starts or stops);
* ``silent_commands`` — every command is answered ACCEPTED and then nothing follows: no
  CommandResult, no session (an operator that never answers);
* ``charging`` — the :class:`~chargemesh.sim.peers.ocpi.sessions.CpoCharging` that runs
  START_SESSION and STOP_SESSION for real (cars plugged in with :meth:`OcpiCpoServer.plug_in`,
  Session PUT/PATCHes, CDRs, plug-and-charge) and its knobs (``session_update_s``,
  ``time_scale``, ``cdr_adjust``, ``start_check``, ``plug_and_charge`` …); see that module;
* ``fail_offsets_once: set[int]`` — a locations list GET at one of these offsets answers HTTP 500
  (plain text, not an envelope) and the offset leaves the set;
* ``empty_link_on_last_page`` — the last page carries ``Link:`` with an empty value (quirk 5);
* ``foreign_link_host`` — ``Link`` names ``https://cpo.invalid`` instead of this server (quirk 6);
* ``raw_token`` — this CPO's own outgoing calls send the raw token instead of Base64;
* ``raw_tokens_only`` — it reads the ``Authorization`` value as the raw token only, as many
  2.1.1-era peers do: a Base64-encoded token is refused with 401;
* ``requests: Counter[str]`` — requests received, keyed ``"METHOD /path/{template}"``;
* ``received_commands`` and ``sent_results`` — what came in and what went out, for tests.

The CPO's own outgoing side (:mod:`~.outgoing`: :meth:`OcpiCpoServer.register_with`,
``push_evse_status``, ``put_location``, ``put_session``, ``patch_session``, ``post_cdr``,
``authorize``, ``pull_tokens``) calls the registered eMSP through
:class:`~chargemesh.protocols.ocpi.client.OcpiClient` on an ``httpx.AsyncClient`` the server owns
(``await server.close()`` or ``async with server``). Calls the server makes while answering a
request (the registration handshake, CommandResults) run on the server's own thread and event loop,
each with a short-lived client.
"""

from __future__ import annotations

import asyncio
import logging
import secrets as _random
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from chargemesh.protocols.ocpi import http as ocpi_http
from chargemesh.protocols.ocpi.client import OcpiClient, OcpiPeerError
from chargemesh.protocols.ocpi.enums import (
    CommandResponseType,
    CommandResultType,
    CommandType,
    InterfaceRole,
    ModuleID,
    Role,
    TokenType,
)
from chargemesh.protocols.ocpi.models import (
    BusinessDetails,
    CancelReservation,
    Cdr,
    CommandResponse,
    Connector,
    Credentials,
    CredentialsRole,
    DisplayText,
    Endpoint,
    Evse,
    Location,
    ReserveNow,
    Session,
    StartSession,
    StopSession,
    Token,
    UnlockConnector,
    Version,
    VersionDetails,
    ci,
    dump,
    merge_patch,
    parse,
)
from chargemesh.protocols.ocpi.transport import (
    OCPI_VERSION,
    OcpiError,
    StatusCode,
    format_datetime,
    page_link,
    parse_datetime,
    token_candidates,
)
from chargemesh.sim.charging import DEFAULT_TIME_SCALE, SimVehicle
from chargemesh.sim.peers.ocpi.data import LIST_MODULES, CpoData
from chargemesh.sim.peers.ocpi.outgoing import (
    HTTP_TIMEOUT_S,
    EmspCalls,
    EmspPeer,
    SentResult,
    emsp_party,
    new_token,
    party_text,
    pick_version,
)
from chargemesh.sim.peers.ocpi.port import CommandHandler
from chargemesh.sim.peers.ocpi.sessions import (
    DEFAULT_SESSION_UPDATE_S,
    CpoCharging,
)

__all__ = [
    "COMMAND_MODELS",
    "OcpiCpoServer",
    "ReceivedCommand",
    "Route",
    "SentResult",
]

log = logging.getLogger(__name__)

#: The body model of each command.
COMMAND_MODELS: Final[Mapping[CommandType, type[BaseModel]]] = {
    CommandType.START_SESSION: StartSession,
    CommandType.STOP_SESSION: StopSession,
    CommandType.RESERVE_NOW: ReserveNow,
    CommandType.CANCEL_RESERVATION: CancelReservation,
    CommandType.UNLOCK_CONNECTOR: UnlockConnector,
}

FOREIGN_LINK_ORIGIN: Final = "https://cpo.invalid"


# =============================================================================== the server


@dataclass(frozen=True, slots=True)
class ReceivedCommand:
    """A command that parsed, with the immediate answer it got."""

    command: CommandType
    body: BaseModel
    response: CommandResponseType | str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of the CPO's module table: ``endpoint`` answers ``method`` at
    ``{base}/2.2.1/{module}{path}``, in ``role``."""

    module: ModuleID
    role: InterfaceRole
    method: str
    path: str
    endpoint: Callable[..., Awaitable[Response]]


class OcpiCpoServer(EmspCalls):
    """One CPO serving ``network`` (a :class:`CpoData`, e.g. a :class:`CpoNetwork`) to one eMSP;
    ``token_a`` is the registration token handed out of band. See the module docstring for what
    it serves and its knobs."""

    def __init__(
        self,
        network: CpoData,
        *,
        token_a: str,
        base_path: str = "/ocpi",
        max_limit: int = 100,
        command_timeout_s: int = 30,
        command_delay_s: float = 0.05,
        business_name: str = "Lanting Charging",
        retries: int = 3,
        backoff_s: float = 0.2,
        session_update_s: float = DEFAULT_SESSION_UPDATE_S,
        time_scale: float = DEFAULT_TIME_SCALE,
    ) -> None:
        if not token_a:
            raise ValueError("token_a must not be empty")
        if max_limit < 1 or command_timeout_s < 0 or command_delay_s < 0:
            raise ValueError("max_limit must be positive, timeouts not negative")
        self.network = network
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.max_limit = max_limit
        self.command_timeout_s = command_timeout_s
        self.command_delay_s = command_delay_s
        self.business_name = business_name
        self.retries = retries
        self.backoff_s = backoff_s
        # knobs
        self.command_response: dict[CommandType, CommandResponseType] = {}
        self.command_outcomes: dict[CommandType, CommandResultType | None] = {}
        self.silent_commands = False
        self.fail_offsets_once: set[int] = set()
        self.empty_link_on_last_page = False
        self.foreign_link_host = False
        self.raw_token = False
        self.raw_tokens_only = False
        self.requests: Counter[str] = Counter()
        self.received_commands: list[ReceivedCommand] = []
        self.sent_results: list[SentResult] = []
        # state
        self._lock = threading.RLock()
        self._token_a: str | None = token_a
        self._issued: str | None = None  # what the eMSP calls us with (token C, or B)
        self._peer: EmspPeer | None = None
        self._origin: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self.charging = CpoCharging(self, session_update_s=session_update_s, time_scale=time_scale)
        #: The commands carried out for real, one handler each (assign to add or replace one);
        #: any other command is answered ACCEPTED and its CommandResult follows
        #: (``command_outcomes``).
        self.commands: dict[CommandType, CommandHandler] = self.charging.command_handlers()
        self.app = self._build_app()

    # ------------------------------------------------------------------ addresses

    def set_base_url(self, url: str) -> None:
        """The server's origin as seen by peers (``http://127.0.0.1:PORT``), once it listens:
        versions, details and ``Link`` headers carry it."""
        parts = urlsplit(url)
        self._origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))

    def _base(self, request: Request | None = None) -> str:
        origin = self._origin
        if origin is None:
            if request is None:
                raise RuntimeError("call set_base_url() first")
            origin = str(request.base_url).rstrip("/")
        return f"{origin}{self.base_path}"

    def versions_url(self, request: Request | None = None) -> str:
        return f"{self._base(request)}/versions"

    def details_url(self, request: Request | None = None) -> str:
        return f"{self._base(request)}/{OCPI_VERSION}"

    def module_url(self, module: ModuleID, request: Request | None = None) -> str:
        return f"{self._base(request)}/{OCPI_VERSION}/{module.value}"

    # ------------------------------------------------------------------ registration state

    @property
    def registered(self) -> bool:
        with self._lock:
            return self._peer is not None

    @property
    def issued_token(self) -> str | None:
        """The token the eMSP calls this CPO with (for tests and the simulator)."""
        with self._lock:
            return self._issued

    @property
    def peer_token(self) -> str | None:
        """The token this CPO calls the eMSP with."""
        with self._lock:
            return self._peer.token if self._peer else None

    @property
    def peer_endpoints(self) -> dict[tuple[str, str], str]:
        with self._lock:
            return dict(self._peer.endpoints) if self._peer else {}

    @property
    def peer_party(self) -> tuple[str, str] | None:
        with self._lock:
            return self._peer.party if self._peer else None

    def own_credentials(self, token: str, request: Request | None = None) -> Credentials:
        return Credentials(
            token=token,
            url=self.versions_url(request),
            roles=[
                CredentialsRole(
                    role=Role.CPO,
                    business_details=BusinessDetails(name=self.business_name),
                    country_code=self.network.country_code,
                    party_id=self.network.party_id,
                )
            ],
        )

    def _authenticate(self, request: Request, *, token_a_ok: bool) -> str:
        """The token the request carries, if this CPO issued it; else 401. Token A only where
        ``token_a_ok``."""
        candidates = token_candidates(request.headers.get("authorization"))
        if self.raw_tokens_only:  # the raw header value is always the last candidate
            candidates = candidates[-1:]
        with self._lock:
            issued, token_a = self._issued, self._token_a
        for candidate in candidates:
            if issued is not None and _random.compare_digest(candidate, issued):
                return issued
        for candidate in candidates:
            if token_a is not None and _random.compare_digest(candidate, token_a):
                if token_a_ok:
                    return token_a
                raise OcpiError.unauthorized("token A is only valid for the registration")
        raise OcpiError.unauthorized()

    def _check_routing(self, request: Request) -> None:
        """``OCPI-to-*`` headers, when sent, must name this CPO."""
        to_cc = request.headers.get("OCPI-to-country-code")
        to_pid = request.headers.get("OCPI-to-party-id")
        if to_cc is None and to_pid is None:
            return
        if (ci(to_cc or ""), ci(to_pid or "")) != self.network.party:
            raise OcpiError.not_found("this platform is not the party named in OCPI-to-*")

    def _functional(self, request: Request) -> None:
        self._authenticate(request, token_a_ok=False)
        self._check_routing(request)

    # ------------------------------------------------------------------ the app

    def _build_app(self) -> FastAPI:
        app = FastAPI(
            title=f"OCPI CPO {self.network.country_code}*{self.network.party_id}",
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
        )
        ocpi_http.install(app)

        @app.middleware("http")
        async def count_requests(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            response = await call_next(request)
            route = request.scope.get("route")
            template = getattr(route, "path", None) or request.url.path
            with self._lock:
                self.requests[f"{request.method} {template}"] += 1
            return response

        base = self.base_path
        version = f"{base}/{OCPI_VERSION}"
        for path, endpoint in ((f"{base}/versions", self._versions), (version, self._details)):
            app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)
        for r in self.routes():
            app.add_api_route(
                f"{version}/{r.module.value}{r.path}",
                r.endpoint,
                methods=[r.method],
                include_in_schema=False,
            )
        return app

    def routes(self) -> tuple[Route, ...]:
        """The modules this CPO serves, one handler per (module, method, path): the app's routes
        and, by (module, role), the endpoints of the version details."""
        sender, receiver = InterfaceRole.SENDER, InterfaceRole.RECEIVER
        credentials, locations = ModuleID.CREDENTIALS, ModuleID.LOCATIONS
        tokens = "/{country_code}/{party_id}/{token_uid}"
        return (
            Route(credentials, sender, "GET", "", self._get_credentials),
            Route(credentials, receiver, "POST", "", self._post_credentials),
            Route(credentials, receiver, "PUT", "", self._put_credentials),
            Route(credentials, receiver, "DELETE", "", self._delete_credentials),
            *(Route(m, sender, "GET", "", self._list_endpoint(m)) for m in LIST_MODULES),
            Route(locations, sender, "GET", "/{location_id}", self._get_location),
            Route(locations, sender, "GET", "/{location_id}/{evse_uid}", self._get_evse),
            Route(
                locations,
                sender,
                "GET",
                "/{location_id}/{evse_uid}/{connector_id}",
                self._get_connector,
            ),
            Route(ModuleID.COMMANDS, receiver, "POST", "/{command}", self._command),
            Route(ModuleID.TOKENS, receiver, "GET", tokens, self._get_token),
            Route(ModuleID.TOKENS, receiver, "PUT", tokens, self._put_token),
            Route(ModuleID.TOKENS, receiver, "PATCH", tokens, self._patch_token),
        )

    # ------------------------------------------------------------------ versions

    async def _versions(self, request: Request) -> Response:
        self._authenticate(request, token_a_ok=True)
        return ocpi_http.ocpi_response(
            [dump(Version(version=OCPI_VERSION, url=self.details_url(request)))]
        )

    async def _details(self, request: Request) -> Response:
        self._authenticate(request, token_a_ok=True)
        modules = dict.fromkeys((r.module, r.role) for r in self.routes())  # in table order
        endpoints = [
            Endpoint(identifier=module, role=role, url=self.module_url(module, request))
            for module, role in modules
        ]
        return ocpi_http.ocpi_response(
            dump(VersionDetails(version=OCPI_VERSION, endpoints=endpoints))
        )

    # ------------------------------------------------------------------ credentials

    async def _get_credentials(self, request: Request) -> Response:
        token = self._authenticate(request, token_a_ok=True)
        return ocpi_http.ocpi_response(dump(self.own_credentials(token, request)))

    async def _post_credentials(self, request: Request) -> Response:
        self._authenticate(request, token_a_ok=True)
        if self.registered:
            raise OcpiError(StatusCode.CLIENT_ERROR, "already registered", http_status=405)
        theirs = parse(Credentials, await ocpi_http.read_json(request))
        peer = await self._handshake(theirs)
        token_c = new_token()
        with self._lock:
            if self._peer is not None:
                raise OcpiError(StatusCode.CLIENT_ERROR, "already registered", http_status=405)
            self._peer = peer
            self._issued = token_c
            self._token_a = None
        log.info("OCPI CPO: registered eMSP %s", party_text(peer.party))
        return ocpi_http.ocpi_response(dump(self.own_credentials(token_c, request)))

    async def _put_credentials(self, request: Request) -> Response:
        self._authenticate(request, token_a_ok=False)
        if not self.registered:
            raise OcpiError(StatusCode.CLIENT_ERROR, "not registered", http_status=405)
        theirs = parse(Credentials, await ocpi_http.read_json(request))
        peer = await self._handshake(theirs)
        token_c = new_token()
        with self._lock:
            self._peer = peer
            self._issued = token_c
        log.info("OCPI CPO: credentials of eMSP %s updated", party_text(peer.party))
        return ocpi_http.ocpi_response(dump(self.own_credentials(token_c, request)))

    async def _delete_credentials(self, request: Request) -> Response:
        self._authenticate(request, token_a_ok=False)
        with self._lock:
            if self._peer is None:
                raise OcpiError(StatusCode.CLIENT_ERROR, "not registered", http_status=405)
            party = self._peer.party
            self._peer = None
            self._issued = None
        log.info("OCPI CPO: eMSP %s unregistered", party_text(party))
        return ocpi_http.ocpi_response()

    async def _handshake(self, theirs: Credentials) -> EmspPeer:
        """Fetch the eMSP's versions and 2.2.1 details with the token it gave us."""
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as http:
            client = self._client(http, theirs.token)
            try:
                versions = await client.get_versions(theirs.url)
                chosen = pick_version(versions)
                details = await client.get_version_details(chosen.url)
            except OcpiPeerError as exc:
                raise OcpiError(
                    StatusCode.UNABLE_TO_USE_CLIENT_API, f"unable to use the client's API: {exc}"
                ) from None
        return EmspPeer(
            token=theirs.token,
            versions_url=theirs.url,
            endpoints=OcpiClient.endpoints(details),
            party=emsp_party(theirs.roles),
        )

    # ------------------------------------------------------------------ paginated lists

    def _list_endpoint(self, module: ModuleID) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self._list(module, request)

        endpoint.__name__ = f"list_{module.value}"
        return endpoint

    def _take_offset_fault(self, offset: int) -> bool:
        with self._lock:
            if offset in self.fail_offsets_once:
                self.fail_offsets_once.discard(offset)
                return True
        return False

    async def _list(self, module: ModuleID, request: Request) -> Response:
        self._functional(request)
        query = request.query_params
        date_from = _date_param(query.get("date_from"), "date_from")
        date_to = _date_param(query.get("date_to"), "date_to")
        offset = _int_param(query.get("offset"), "offset", default=0, minimum=0)
        limit = min(
            _int_param(query.get("limit"), "limit", default=self.max_limit, minimum=1),
            self.max_limit,
        )
        if module is ModuleID.LOCATIONS and self._take_offset_fault(offset):
            log.info("OCPI CPO: injected HTTP 500 at offset %d", offset)
            return PlainTextResponse("injected fault", status_code=500)
        items = self.network.changed(module, date_from, date_to)
        page = items[offset : offset + limit]
        headers = {"X-Total-Count": str(len(items)), "X-Limit": str(self.max_limit)}
        if offset + len(page) < len(items):
            url = self.module_url(module, request)
            if self.foreign_link_host:
                parts = urlsplit(url)
                url = FOREIGN_LINK_ORIGIN + parts.path
            params: dict[str, str | int | None] = {
                "date_from": format_datetime(date_from) if date_from else None,
                "date_to": format_datetime(date_to) if date_to else None,
                "offset": offset + len(page),
                "limit": limit,
            }
            headers["Link"] = page_link(url, params)
        elif self.empty_link_on_last_page:
            headers["Link"] = ""
        return ocpi_http.ocpi_response([dump(item) for item in page], headers=headers)

    # ------------------------------------------------------------------ locations by id

    def _known_location(self, location_id: str) -> Location:
        location = self.network.location(location_id)
        if location is None:
            raise OcpiError.not_found("unknown location", StatusCode.UNKNOWN_LOCATION)
        return location

    def _known_evse(self, location_id: str, evse_uid: str) -> Evse:
        for evse in self._known_location(location_id).evses or []:
            if ci(evse.uid) == ci(evse_uid):
                return evse
        raise OcpiError.not_found("unknown EVSE", StatusCode.UNKNOWN_LOCATION)

    async def _get_location(self, request: Request, location_id: str) -> Response:
        self._functional(request)
        return ocpi_http.ocpi_response(dump(self._known_location(location_id)))

    async def _get_evse(self, request: Request, location_id: str, evse_uid: str) -> Response:
        self._functional(request)
        return ocpi_http.ocpi_response(dump(self._known_evse(location_id, evse_uid)))

    async def _get_connector(
        self, request: Request, location_id: str, evse_uid: str, connector_id: str
    ) -> Response:
        self._functional(request)
        connector: Connector | None = next(
            (
                c
                for c in self._known_evse(location_id, evse_uid).connectors
                if ci(c.id) == ci(connector_id)
            ),
            None,
        )
        if connector is None:
            raise OcpiError.not_found("unknown connector", StatusCode.UNKNOWN_LOCATION)
        return ocpi_http.ocpi_response(dump(connector))

    # ------------------------------------------------------------------ commands

    async def _command(self, request: Request, command: str) -> Response:
        self._functional(request)
        kind = _command_type(command)
        if kind is None:
            answer = CommandResponse(
                result=CommandResponseType.NOT_SUPPORTED,
                timeout=0,
                message=[DisplayText(language="en", text="unknown command")],
            )
            return ocpi_http.ocpi_response(dump(answer))
        body = parse(COMMAND_MODELS[kind], await ocpi_http.read_json(request))
        result: CommandResponseType | str = self.command_response.get(
            kind, CommandResponseType.ACCEPTED
        )
        status_code = StatusCode.SUCCESS
        message: list[DisplayText] | None = None
        location_id = getattr(body, "location_id", None)
        if (
            result == CommandResponseType.ACCEPTED
            and isinstance(location_id, str)
            and self.network.location(location_id) is None
        ):
            result = CommandResponseType.REJECTED
            status_code = StatusCode.UNKNOWN_LOCATION
            message = [DisplayText(language="en", text="unknown location")]
        scripted = self.silent_commands or kind in self.command_outcomes
        handler = None if scripted else self.commands.get(kind)
        if result == CommandResponseType.ACCEPTED and handler is not None:
            refusal = handler.check(body)
            if refusal is not None:
                result, status_code = refusal.result, refusal.status_code
                message = [DisplayText(language="en", text=refusal.message)]
        with self._lock:
            self.received_commands.append(ReceivedCommand(kind, body, result, datetime.now(UTC)))
        if result == CommandResponseType.ACCEPTED and not self.silent_commands:
            response_url = getattr(body, "response_url", "")
            if handler is not None:
                self._spawn(handler.run(body))
            else:
                outcome = self.command_outcomes.get(kind, CommandResultType.ACCEPTED)
                if outcome is not None and isinstance(response_url, str):
                    self._spawn(self._send_result(kind, response_url, outcome))
        answer = CommandResponse(result=result, timeout=self.command_timeout_s, message=message)
        return ocpi_http.ocpi_response(dump(answer), status_code=status_code)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_result(
        self, kind: CommandType, response_url: str, outcome: CommandResultType
    ) -> None:
        await asyncio.sleep(self.command_delay_s)
        await self.send_command_result(kind, response_url, outcome)

    # ------------------------------------------------------------------ tokens receiver

    def _token_path(
        self, request: Request, country_code: str, party_id: str, token_uid: str
    ) -> tuple[str, str, str, str]:
        self._functional(request)
        token_type = request.query_params.get("type") or TokenType.RFID.value
        return country_code, party_id, token_uid, token_type

    async def _get_token(
        self, request: Request, country_code: str, party_id: str, token_uid: str
    ) -> Response:
        key = self._token_path(request, country_code, party_id, token_uid)
        token = self.network.token(*key)
        if token is None:
            raise OcpiError.not_found("unknown token", StatusCode.UNKNOWN_TOKEN)
        return ocpi_http.ocpi_response(dump(token))

    async def _put_token(
        self, request: Request, country_code: str, party_id: str, token_uid: str
    ) -> Response:
        key = self._token_path(request, country_code, party_id, token_uid)
        token = parse(Token, await ocpi_http.read_json(request))
        _same_token(token, key, typed=request.query_params.get("type") is not None)
        self.network.put_token(token)
        return ocpi_http.ocpi_response()

    async def _patch_token(
        self, request: Request, country_code: str, party_id: str, token_uid: str
    ) -> Response:
        key = self._token_path(request, country_code, party_id, token_uid)
        patch = await ocpi_http.read_json(request)
        if not isinstance(patch, dict):
            raise OcpiError(StatusCode.INVALID_PARAMETERS, "a PATCH body is a JSON object")
        if "last_updated" not in patch:
            raise OcpiError(StatusCode.INVALID_PARAMETERS, "a PATCH must carry last_updated")
        stored = self.network.token(*key)
        if stored is None:
            raise OcpiError.not_found("unknown token", StatusCode.UNKNOWN_TOKEN)
        token = parse(Token, merge_patch(dump(stored), patch))
        _same_token(token, key, typed=True)
        self.network.put_token(token)
        return ocpi_http.ocpi_response()

    # ------------------------------------------------------------------ context and cars

    async def __aenter__(self) -> OcpiCpoServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def plug_in(
        self,
        location_id: str,
        evse_uid: str,
        vehicle: SimVehicle,
        *,
        connector_id: str | None = None,
    ) -> Session | None:
        """Plug ``vehicle`` in at an EVSE: see :meth:`CpoCharging.plug_in` (run it on the
        server's event loop, e.g. ``LoopbackServer.call``). The Session that started, if any."""
        return await self.charging.plug_in(
            location_id, evse_uid, vehicle, connector_id=connector_id
        )

    async def unplug(self, location_id: str, evse_uid: str) -> Cdr | None:
        """Take the car away from an EVSE, stopping its session (whose CDR is returned)."""
        return await self.charging.unplug(location_id, evse_uid)


# =============================================================================== helpers


def _command_type(text: str) -> CommandType | None:
    try:
        return CommandType(text.strip().upper())
    except ValueError:
        return None


def _date_param(value: str | None, name: str) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        raise OcpiError(StatusCode.INVALID_PARAMETERS, f"{name} is not a DateTime") from None


def _int_param(value: str | None, name: str, *, default: int, minimum: int) -> int:
    if value is None or not value.strip():
        return default
    try:
        number = int(value)
    except ValueError:
        raise OcpiError(StatusCode.INVALID_PARAMETERS, f"{name} is not an integer") from None
    if number < minimum:
        raise OcpiError(StatusCode.INVALID_PARAMETERS, f"{name} must be at least {minimum}")
    return number


def _same_token(token: Token, key: tuple[str, str, str, str], *, typed: bool) -> None:
    """The Token in a body must be the one its URL names (2001 otherwise)."""
    country_code, party_id, uid, token_type = key
    if (ci(token.country_code), ci(token.party_id), ci(token.uid)) != (
        ci(country_code),
        ci(party_id),
        ci(uid),
    ) or (typed and ci(str(token.type)) != ci(token_type)):
        raise OcpiError(StatusCode.INVALID_PARAMETERS, "the token does not match its URL")
