"""Our OCPI 2.2.1 eMSP endpoints, mounted under ``/ocpi`` (versions at ``/ocpi/versions``).

Every request is authenticated first (``Authorization: Token …``, raw or Base64): an unknown or
missing token is HTTP 401 with the envelope; a registration token A opens only versions, details
and credentials. Functional modules then check that the party may touch the object: the
``{country_code}/{party_id}`` of the URL (and ``OCPI-from-*`` when sent) must be one the token
speaks for, ``OCPI-to-*`` when sent must name us, and a GET by id answers only the caller's own
objects. Refused requests change nothing.

Receiver endpoint URLs end with ``/``: some CPOs append ``CC/PID/id`` to them without a slash.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response
from starlette.routing import Route

from chargemesh import __version__
from chargemesh.api.ratelimit import TokenBuckets
from chargemesh.domain import Operator
from chargemesh.metrics import PUSHES
from chargemesh.protocols.ocpi.enums import CommandType
from chargemesh.protocols.ocpi.http import (
    ECHOED_HEADERS,
    error_response,
    install,
    ocpi_response,
    read_json,
)
from chargemesh.protocols.ocpi.models import ci, dump
from chargemesh.protocols.ocpi.transport import (
    OCPI_VERSION,
    OcpiError,
    StatusCode,
    page_link,
    parse_datetime,
)
from chargemesh.services.charging.ocpi_commands import CommandSender
from chargemesh.services.charging.ocpi_tokens import TokenAuthority
from chargemesh.services.feeds.ocpi_connections import OcpiConnections
from chargemesh.services.feeds.ocpi_locations import LocationIngest
from chargemesh.services.feeds.ocpi_objects import CDRS, SESSIONS, TARIFFS, ObjectIngest
from chargemesh.store import OcpiParty, Store

log = logging.getLogger(__name__)

MAX_LIMIT: Final = 1000  # tokens per page we serve
STALE: Final = "ignored: older than the object held"

#: (module, role, path under /ocpi/2.2.1/) that our version details list.
ENDPOINTS: Final = (
    ("credentials", "SENDER", "credentials"),
    ("credentials", "RECEIVER", "credentials"),
    ("locations", "RECEIVER", "locations/"),
    ("tariffs", "RECEIVER", "tariffs/"),
    ("sessions", "RECEIVER", "sessions/"),
    ("cdrs", "RECEIVER", "cdrs/"),
    ("tokens", "SENDER", "tokens/"),
    ("commands", "SENDER", "commands/"),
)


def _date(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        raise OcpiError(StatusCode.INVALID_PARAMETERS, f"{name} is not an OCPI DateTime") from None


def _int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise OcpiError(StatusCode.INVALID_PARAMETERS, f"{name} must be an integer") from None
    if number < 0:
        raise OcpiError(StatusCode.INVALID_PARAMETERS, f"{name} must not be negative")
    return number


def _done(stale: bool) -> Response:
    return ocpi_response(message=STALE if stale else None)


def _applied(operator: Operator, module: str, stale: bool) -> Response:
    """A pushed object kept (or ignored as older than the one held), counted for /metrics."""
    PUSHES.labels("ocpi", operator.id, module, "stale" if stale else "ok").inc()
    return _done(stale)


class OcpiEmspEndpoints:
    def __init__(
        self,
        *,
        store: Store,
        connections: OcpiConnections,
        locations: LocationIngest,
        objects: ObjectIngest,
        tokens: TokenAuthority,
        commands: CommandSender,
        base_url: str,
        rate_limit: TokenBuckets | None = None,
    ) -> None:
        self.rate_limit = rate_limit  # per party, once its token is known
        self._store = store
        self.connections = connections
        self.locations = locations
        self.objects = objects
        self.tokens = tokens
        self.commands = commands
        self.base_url = base_url.rstrip("/")  # …/ocpi

    # --- authentication and ownership ------------------------------------------------------
    async def _any(self, request: Request) -> OcpiParty:
        """Any token we issued, token A included (versions, details, credentials)."""
        return await self.connections.authenticate(request.headers.get("authorization"))

    async def _registered(self, request: Request) -> OcpiParty:
        party = await self._any(request)
        if not party.registered:
            raise OcpiError.unauthorized("this token only opens versions and credentials")
        if self.rate_limit is not None and (wait := self.rate_limit.wait_s(party.id)):
            PUSHES.labels("ocpi", party.id, "any", "rate_limited").inc()
            raise OcpiError(
                StatusCode.CLIENT_ERROR, f"too many requests from this party: retry after {wait} s",
                http_status=429, retry_after_s=wait,
            )  # fmt: skip
        headers = request.headers
        to = (headers.get("ocpi-to-country-code"), headers.get("ocpi-to-party-id"))
        if any(to) and (ci(to[0] or ""), ci(to[1] or "")) != self.connections.own_party:
            raise OcpiError(
                StatusCode.CLIENT_ERROR, "OCPI-to-* names another party", http_status=404
            )
        sender = (headers.get("ocpi-from-country-code"), headers.get("ocpi-from-party-id"))
        if any(sender) and (ci(sender[0] or ""), ci(sender[1] or "")) not in party.parties():
            raise OcpiError(
                StatusCode.CLIENT_ERROR,
                "OCPI-from-* names a party this token does not speak for",
                http_status=403,
            )
        return party

    async def _owner(self, request: Request, cc: str, pid: str) -> OcpiParty:
        party = await self._registered(request)
        if (ci(cc), ci(pid)) not in party.parties():
            raise OcpiError.not_found(f"{cc[:2]}/{pid[:3]} is not a party of this token")
        return party

    async def _held_by(self, party: OcpiParty, module: str, cc: str, pid: str, oid: str) -> None:
        """Objects are owned by the connection that sent them: a GET or push naming another
        connection's object is answered as if it did not exist."""
        held = await asyncio.to_thread(self._store.get_ocpi_object, module, cc, pid, oid)
        if held is not None and held.owner != party.id:
            raise OcpiError.not_found("unknown object")

    async def _pushed(
        self, request: Request, module: str, cc: str, pid: str, oid: str
    ) -> tuple[Operator, Any]:
        """A push of one object: the sender's operator and the body, once it may send it."""
        party = await self._owner(request, cc, pid)
        await self._held_by(party, module, cc, pid, oid)
        return self.connections.operator(party), await read_json(request)

    # --- the application -------------------------------------------------------------------
    def app(self) -> FastAPI:
        app = FastAPI(title="chargemesh OCPI", version=__version__, docs_url=None, redoc_url=None)
        install(app)
        app.include_router(self._versions())
        app.include_router(self._credentials())
        app.router.routes.extend(self.location_routes())
        app.include_router(self._objects())
        app.include_router(self._tokens())
        app.include_router(self._commands())
        return app

    def _versions(self) -> APIRouter:
        router = APIRouter()

        @router.get("/versions")
        async def versions(request: Request) -> Response:
            await self._any(request)
            return ocpi_response([{"version": OCPI_VERSION, "url": f"{self.base_url}/2.2.1"}])

        @router.get("/2.2.1")
        async def details(request: Request) -> Response:
            await self._any(request)
            endpoints = [
                {"identifier": m, "role": r, "url": f"{self.base_url}/2.2.1/{p}"}
                for m, r, p in ENDPOINTS
            ]
            return ocpi_response({"version": OCPI_VERSION, "endpoints": endpoints})

        return router

    def _credentials(self) -> APIRouter:
        router = APIRouter(prefix="/2.2.1/credentials")

        @router.get("")
        async def get(request: Request) -> Response:
            party = await self._any(request)
            if not party.registered or party.token_in is None:
                raise OcpiError(StatusCode.CLIENT_ERROR, "not registered", http_status=405)
            return ocpi_response(dump(self.connections.our_credentials(party.token_in)))

        @router.post("")
        async def post(request: Request) -> Response:
            party = await self._any(request)
            body = await read_json(request)
            return ocpi_response(dump(await self.connections.accept(party, body)))

        @router.put("")
        async def put(request: Request) -> Response:
            party = await self._any(request)
            body = await read_json(request)
            return ocpi_response(dump(await self.connections.accept(party, body, update=True)))

        @router.delete("")
        async def delete(request: Request) -> Response:
            party = await self._any(request)
            await self.connections.unregister(party)
            return ocpi_response()

        return router

    def location_routes(self, prefix: str = "") -> list[Route]:
        """Plain Starlette routes for Locations: status pushes are the hot path, so they carry
        their own envelope errors and request-id echo, and the platform mounts them at its top
        level (``prefix`` "/ocpi") ahead of the OCPI sub-application and its middleware."""

        async def location(request: Request) -> Response:
            try:
                response = await self._location(request)
            except OcpiError as exc:
                response = error_response(exc)
            for name in ECHOED_HEADERS:
                value = request.headers.get(name)
                if value is not None:
                    response.headers[name] = value
            return response

        base = f"{prefix}/2.2.1/locations/{{cc}}/{{pid}}/{{lid}}"
        methods = ["GET", "PUT", "PATCH"]
        return [
            Route(path, location, methods=methods)
            for path in (base, f"{base}/{{evse}}", f"{base}/{{evse}}/{{cid}}")
        ]

    async def _location(self, request: Request) -> Response:
        params = request.path_params
        cc, pid, lid = params["cc"], params["pid"], params["lid"]
        evse, cid = params.get("evse"), params.get("cid")
        party = await self._owner(request, cc, pid)
        if request.method == "GET":
            return ocpi_response(await self.locations.get(party.id, cc, pid, lid, evse, cid))
        body = await read_json(request)
        operator = self.connections.operator(party)
        push = self.locations.put if request.method == "PUT" else self.locations.patch
        try:
            applied = await push(operator, party.id, cc, pid, lid, evse, cid, body)
        except OcpiError:
            PUSHES.labels("ocpi", party.id, "locations", "refused").inc()
            raise
        PUSHES.labels("ocpi", party.id, "locations", "stale" if applied.stale else "ok").inc()
        return _done(applied.stale)

    def _objects(self) -> APIRouter:
        router = APIRouter(prefix="/2.2.1")

        async def get(request: Request, module: str, cc: str, pid: str, oid: str) -> Response:
            party = await self._owner(request, cc, pid)
            await self._held_by(party, module, cc, pid, oid)
            return ocpi_response(await self.objects.get(module, cc, pid, oid))

        @router.get("/tariffs/{cc}/{pid}/{oid}")
        async def get_tariff(request: Request, cc: str, pid: str, oid: str) -> Response:
            return await get(request, TARIFFS, cc, pid, oid)

        @router.put("/tariffs/{cc}/{pid}/{oid}")
        async def put_tariff(request: Request, cc: str, pid: str, oid: str) -> Response:
            operator, body = await self._pushed(request, TARIFFS, cc, pid, oid)
            stale = await self.objects.put_tariff(operator, cc, pid, oid, body)
            return _applied(operator, TARIFFS, stale)

        @router.delete("/tariffs/{cc}/{pid}/{oid}")
        async def delete_tariff(request: Request, cc: str, pid: str, oid: str) -> Response:
            party = await self._owner(request, cc, pid)
            await self._held_by(party, TARIFFS, cc, pid, oid)
            await self.objects.delete_tariff(cc, pid, oid)
            return ocpi_response()

        @router.get("/sessions/{cc}/{pid}/{oid}")
        async def get_session(request: Request, cc: str, pid: str, oid: str) -> Response:
            return await get(request, SESSIONS, cc, pid, oid)

        @router.put("/sessions/{cc}/{pid}/{oid}")
        async def put_session(request: Request, cc: str, pid: str, oid: str) -> Response:
            operator, body = await self._pushed(request, SESSIONS, cc, pid, oid)
            stale = await self.objects.put_session(operator, cc, pid, oid, body)
            return _applied(operator, SESSIONS, stale)

        @router.patch("/sessions/{cc}/{pid}/{oid}")
        async def patch_session(request: Request, cc: str, pid: str, oid: str) -> Response:
            operator, body = await self._pushed(request, SESSIONS, cc, pid, oid)
            stale = await self.objects.patch_session(operator, cc, pid, oid, body)
            return _applied(operator, SESSIONS, stale)

        async def post_cdr(request: Request) -> Response:
            party = await self._registered(request)
            body = await read_json(request)
            if isinstance(body, dict):
                cc, pid, oid = (str(body.get(k, "")) for k in ("country_code", "party_id", "id"))
                await self._held_by(party, CDRS, cc, pid, oid)
            operator = self.connections.operator(party)
            cdr = await self.objects.post_cdr(operator, party.parties(), body)
            PUSHES.labels("ocpi", operator.id, CDRS, "ok").inc()
            where = f"{self.base_url}/2.2.1/cdrs/{cdr.country_code}/{cdr.party_id}/{cdr.id}"
            return ocpi_response(headers={"Location": where})

        router.add_api_route("/cdrs", post_cdr, methods=["POST"])
        router.add_api_route("/cdrs/", post_cdr, methods=["POST"])

        @router.get("/cdrs/{cc}/{pid}/{oid}")
        async def get_cdr(request: Request, cc: str, pid: str, oid: str) -> Response:
            return await get(request, CDRS, cc, pid, oid)

        return router

    def _tokens(self) -> APIRouter:
        router = APIRouter(prefix="/2.2.1/tokens")

        async def listing(request: Request) -> Response:
            await self._registered(request)
            q = request.query_params
            date_from = _date(q.get("date_from"), "date_from")
            date_to = _date(q.get("date_to"), "date_to")
            offset = _int(q.get("offset"), "offset", 0)
            limit = min(_int(q.get("limit"), "limit", MAX_LIMIT), MAX_LIMIT) or MAX_LIMIT
            items, total = await self.tokens.page(
                date_from=date_from, date_to=date_to, offset=offset, limit=limit
            )
            headers = {"X-Total-Count": str(total), "X-Limit": str(MAX_LIMIT)}
            if offset + len(items) < total:
                params: dict[str, str | int | None] = {
                    "date_from": q.get("date_from"),
                    "date_to": q.get("date_to"),
                    "offset": offset + len(items),
                    "limit": limit,
                }
                headers["Link"] = page_link(f"{self.base_url}/2.2.1/tokens/", params)
            return ocpi_response(items, headers=headers)

        router.add_api_route("", listing, methods=["GET"])
        router.add_api_route("/", listing, methods=["GET"])

        @router.post("/{uid}/authorize")
        async def authorize(request: Request, uid: str) -> Response:
            party = await self._registered(request)
            raw = await request.body()
            body: Any = await read_json(request) if raw.strip() else None
            info = await self.tokens.authorize(party.id, uid, request.query_params.get("type"),
                                               body)  # fmt: skip
            return ocpi_response(dump(info))

        return router

    def _commands(self) -> APIRouter:
        router = APIRouter(prefix="/2.2.1/commands")

        @router.post("/{command}/{uid}")
        async def result(request: Request, command: str, uid: str) -> Response:
            party = await self._registered(request)
            try:
                CommandType(command.upper())
            except ValueError:
                raise OcpiError.not_found("unknown command") from None
            body = await read_json(request)
            await self.commands.receive_result(party.id, command, uid, body)
            return ocpi_response()

        return router
