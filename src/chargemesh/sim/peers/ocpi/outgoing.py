"""The simulated CPO's own calls to its registered eMSP: the registration it starts
(:meth:`EmspCalls.register_with`), the EVSE status, Location, Session and CDR pushes, real-time
authorization, the Token pull and the CommandResults; the client they go through and the peer
they go to.

:class:`EmspCalls` is a part of :class:`~.server.OcpiCpoServer`, which holds the registration
state both sides share (the tokens and the peer, under one lock): the server's credentials
endpoints write it when the eMSP registers, these calls read it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets as _random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import httpx
from fastapi import Request

from chargemesh.protocols.ocpi.client import OcpiClient, OcpiPeerError, join_url
from chargemesh.protocols.ocpi.enums import (
    CommandResultType,
    CommandType,
    InterfaceRole,
    ModuleID,
    Role,
    Status,
    TokenType,
)
from chargemesh.protocols.ocpi.models import (
    AuthorizationInfo,
    Cdr,
    CommandResult,
    Credentials,
    CredentialsRole,
    DisplayText,
    Location,
    LocationReferences,
    Session,
    Tariff,
    Token,
    Version,
    ci,
    dump,
)
from chargemesh.protocols.ocpi.transport import OCPI_VERSION, OcpiError, StatusCode, format_datetime
from chargemesh.sim.peers.ocpi.data import CpoData

__all__ = ["EmspCalls", "EmspPeer", "SentResult"]

log = logging.getLogger(__name__)

HTTP_TIMEOUT_S: Final = 10.0

_I = TypeVar("_I", Location, Tariff, Session, Cdr)


def new_token() -> str:
    return _random.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class SentResult:
    """A CommandResult this CPO POSTed (``delivered`` false if the eMSP refused or was
    unreachable)."""

    command: CommandType
    response_url: str
    result: CommandResultType | str
    delivered: bool
    message: str | None = None


@dataclass(frozen=True, slots=True)
class EmspPeer:
    """The registered eMSP: the token we call it with, its versions URL and endpoints."""

    token: str
    versions_url: str
    endpoints: Mapping[tuple[str, str], str]
    party: tuple[str, str] | None


class EmspCalls:
    """The calls a CPO makes to its registered eMSP (see the module docstring). Each raises
    ``RuntimeError`` when no eMSP is registered (before anything changes) and
    :class:`~chargemesh.protocols.ocpi.client.OcpiPeerError` when the eMSP refuses or cannot be
    reached; ``http`` is the client to call with (default the CPO's own)."""

    # the CPO's data and knobs, and the registration state, set by the server
    network: CpoData
    retries: int
    backoff_s: float
    raw_token: bool
    sent_results: list[SentResult]
    _lock: threading.RLock
    _token_a: str | None
    _issued: str | None
    _peer: EmspPeer | None
    _http: httpx.AsyncClient | None
    _http_loop: asyncio.AbstractEventLoop | None

    def own_credentials(self, token: str, request: Request | None = None) -> Credentials:
        """Our credentials carrying ``token`` (the server's: it knows its own address)."""
        raise NotImplementedError

    async def send_command_result(
        self,
        kind: CommandType,
        response_url: str,
        outcome: CommandResultType,
        message: str | None = None,
    ) -> bool:
        """POST a CommandResult (with ``message`` as its English text) to ``response_url`` now;
        whether the eMSP took it. Recorded in ``sent_results`` either way."""
        with self._lock:
            peer = self._peer
        delivered = False
        if peer is None:
            log.warning("OCPI CPO: %s result not sent, no eMSP registered", kind)
        else:
            texts = [DisplayText(language="en", text=message)] if message else None
            body = dump(CommandResult(result=outcome, message=texts))
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as http:
                client = self._client(http, peer.token)
                try:
                    await client.post(response_url, body, to_party=peer.party)
                    delivered = True
                except OcpiPeerError as exc:
                    log.warning("OCPI CPO: %s result not delivered: %s", kind, exc)
        with self._lock:
            self.sent_results.append(SentResult(kind, response_url, outcome, delivered, message))
        return delivered

    def _client(self, http: httpx.AsyncClient, token: str) -> OcpiClient:
        return OcpiClient(
            http,
            token,
            own_party=self.network.party,
            retries=self.retries,
            backoff_s=self.backoff_s,
            raw_token=self.raw_token,
        )

    def _owned_http(self) -> httpx.AsyncClient:
        """The server's own client, made on first use in the running event loop (and made
        again if the caller moved to another loop: a client is bound to the loop it ran on)."""
        loop = asyncio.get_running_loop()
        if self._http is None or self._http.is_closed or self._http_loop is not loop:
            self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT_S)
            self._http_loop = loop
        return self._http

    async def close(self) -> None:
        """Close the HTTP client of the outgoing side (idempotent)."""
        http, self._http, self._http_loop = self._http, None, None
        if http is not None and not http.is_closed:
            await http.aclose()

    def _peer_or_fail(self) -> EmspPeer:
        with self._lock:
            peer = self._peer
        if peer is None:
            raise RuntimeError("no eMSP is registered with this CPO")
        return peer

    def _peer_client(self, http: httpx.AsyncClient | None = None) -> tuple[OcpiClient, EmspPeer]:
        """A client to the registered eMSP, on ``http`` or the server's own HTTP client."""
        peer = self._peer_or_fail()
        return self._client(http or self._owned_http(), peer.token), peer

    @staticmethod
    def _endpoint(peer: EmspPeer, module: ModuleID, role: InterfaceRole) -> str:
        url = peer.endpoints.get((module.value, role.value))
        if url is None:
            raise RuntimeError(f"the eMSP has no {module.value} {role.value} endpoint")
        return url

    async def register_with(self, emsp_versions_url: str, token_a: str) -> None:
        """Register with an eMSP that handed us ``token_a``: this CPO is the sender of the
        registration. GET its versions and 2.2.1 details with token A, POST our credentials with
        a fresh token B (valid at once: the eMSP calls our versions with it while it answers),
        keep its token C and endpoints. ``OcpiPeerError`` if any step fails (token B is then
        withdrawn)."""
        client = self._client(self._owned_http(), token_a)
        versions = await client.get_versions(emsp_versions_url)
        try:
            chosen = pick_version(versions)
        except OcpiError as exc:
            raise OcpiPeerError(
                str(exc), url=emsp_versions_url, status_code=int(exc.status_code)
            ) from None
        details = await client.get_version_details(chosen.url)
        endpoints = OcpiClient.endpoints(details)
        credentials_url = endpoints.get(
            (ModuleID.CREDENTIALS.value, InterfaceRole.RECEIVER.value)
        ) or endpoints.get((ModuleID.CREDENTIALS.value, InterfaceRole.SENDER.value))
        if credentials_url is None:
            raise OcpiPeerError(
                "the eMSP lists no credentials endpoint",
                url=chosen.url,
                status_code=int(StatusCode.NO_MATCHING_ENDPOINTS),
            )
        token_b = new_token()
        with self._lock:
            previous = self._issued
            self._issued = token_b
        try:
            theirs = await client.post_credentials(credentials_url, self.own_credentials(token_b))
        except BaseException:
            with self._lock:
                if self._issued == token_b:
                    self._issued = previous
            raise
        peer = EmspPeer(
            token=theirs.token,
            versions_url=emsp_versions_url,
            endpoints=endpoints,
            party=emsp_party(theirs.roles),
        )
        with self._lock:
            self._peer = peer
            self._token_a = None
        log.info("OCPI CPO: registered with eMSP %s", party_text(peer.party))

    async def push_evse_status(
        self,
        location_id: str,
        evse_uid: str,
        status: Status | str,
        at: datetime,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> Location:
        """Change an EVSE's status in the network, then PATCH ``{status, last_updated}`` to the
        eMSP's ``{locations}/{cc}/{pid}/{location_id}/{evse_uid}``. Returns the updated
        Location. (Here and below, ``http`` is the client to call with, default the server's
        own; ``RuntimeError`` when no eMSP is registered, before anything changes.)"""
        client, peer = self._peer_client(http)
        receiver = self._endpoint(peer, ModuleID.LOCATIONS, InterfaceRole.RECEIVER)
        location = self.network.set_evse_status(location_id, evse_uid, status, at)
        evse = next(e for e in location.evses or [] if ci(e.uid) == ci(evse_uid))
        url = join_url(
            receiver,
            location.country_code,
            location.party_id,
            location.id,
            evse.uid,
        )
        body = {"status": str(status), "last_updated": format_datetime(at)}
        await client.patch(url, body, to_party=peer.party)
        return location

    async def put_location(self, location: Location) -> None:
        """Store a Location and PUT it to the eMSP."""
        await self._put_object(ModuleID.LOCATIONS, location, self.network.put_location)

    async def put_session(self, session: Session, *, http: httpx.AsyncClient | None = None) -> None:
        """Store a Session and PUT it to the eMSP."""
        await self._put_object(ModuleID.SESSIONS, session, self.network.add_session, http)

    async def _put_object(
        self,
        module: ModuleID,
        item: _I,
        store: Callable[[_I], _I],
        http: httpx.AsyncClient | None = None,
    ) -> None:
        client, peer = self._peer_client(http)
        receiver = self._endpoint(peer, module, InterfaceRole.RECEIVER)
        store(item)
        url = join_url(receiver, item.country_code, item.party_id, item.id)
        await client.put(url, dump(item), to_party=peer.party)

    async def patch_session(
        self,
        session_id: str,
        patch: Mapping[str, Any],
        *,
        http: httpx.AsyncClient | None = None,
    ) -> Session:
        """Apply a PATCH to a stored Session and send it to the eMSP; ``last_updated`` is added
        (now) when the patch has none, as the spec requires it. Returns the updated Session."""
        body = dict(patch)
        if "last_updated" not in body:
            body["last_updated"] = format_datetime(datetime.now(UTC))
        client, peer = self._peer_client(http)
        receiver = self._endpoint(peer, ModuleID.SESSIONS, InterfaceRole.RECEIVER)
        session = self.network.update_session(session_id, body)
        url = join_url(
            receiver,
            session.country_code,
            session.party_id,
            session.id,
        )
        await client.patch(url, body, to_party=peer.party)
        return session

    async def post_cdr(self, cdr: Cdr, *, http: httpx.AsyncClient | None = None) -> str:
        """Store a CDR and POST it to the eMSP; the eMSP's ``Location`` header (the URL of its
        copy), ``""`` if it sent none."""
        client, peer = self._peer_client(http)
        url = self._endpoint(peer, ModuleID.CDRS, InterfaceRole.RECEIVER)
        self.network.add_cdr(cdr)
        response = await client.post(url, dump(cdr), to_party=peer.party)
        return str(response.headers.get("Location", ""))

    async def authorize(
        self,
        token_uid: str,
        token_type: TokenType | str | None = None,
        location: LocationReferences | None = None,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> AuthorizationInfo:
        """Real-time authorization of a token at the eMSP."""
        client, peer = self._peer_client(http)
        url = self._endpoint(peer, ModuleID.TOKENS, InterfaceRole.SENDER)
        return await client.authorize(
            url,
            token_uid,
            token_type=None if token_type is None else str(token_type),
            location=location,
            to_party=peer.party,
        )

    async def pull_tokens(self) -> list[Token]:
        """Every Token of the eMSP (all pages, deduplicated by party, uid and type, the latest
        kept); they are stored in the network too."""
        client, peer = self._peer_client()
        url = self._endpoint(peer, ModuleID.TOKENS, InterfaceRole.SENDER)
        found: dict[tuple[str, str, str, str], Token] = {}
        async for page in client.pages(url, Token, to_party=peer.party):
            for token in page.items:
                key = (ci(token.country_code), ci(token.party_id), ci(token.uid), str(token.type))
                found[key] = token
        tokens = list(found.values())
        for token in tokens:
            self.network.put_token(token)
        return tokens


def party_text(party: tuple[str, str] | None) -> str:
    return "*".join(party) if party else "(unknown party)"


def pick_version(versions: Iterable[Version]) -> Version:
    for version in versions:
        if str(version.version) == OCPI_VERSION:
            return version
    raise OcpiError(StatusCode.UNSUPPORTED_VERSION, f"the peer does not offer OCPI {OCPI_VERSION}")


def emsp_party(roles: Iterable[CredentialsRole]) -> tuple[str, str] | None:
    roles = list(roles)
    chosen = next((r for r in roles if str(r.role) == Role.EMSP.value), roles[0] if roles else None)
    return (ci(chosen.country_code), ci(chosen.party_id)) if chosen else None
