"""OCPI connections: the credentials handshake in both directions, token rotation and
unregistration, and who a request's token belongs to.

* We register with a CPO (:meth:`OcpiConnections.register_with`): with the token A it gave us we
  read its versions and details, issue our token B — saved *before* we POST it, since the CPO
  calls our versions with it while our POST is still open — and keep the token C it answers.
* A CPO registers with us (:meth:`accept`): it presents a token A we issued (:meth:`invite`) and
  POSTs its credentials; we read its versions and details with its token and answer ours with a
  fresh token C. Token A is then discarded.

Tokens are compared exactly; a peer may send them raw or Base64 (``token_candidates``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final

import httpx

from chargemesh.domain import Operator
from chargemesh.protocols.bounded import MB, FetchLimits
from chargemesh.protocols.ocpi.client import OcpiClient, OcpiPeerError
from chargemesh.protocols.ocpi.enums import Role
from chargemesh.protocols.ocpi.models import (
    BusinessDetails,
    Credentials,
    CredentialsRole,
    VersionDetails,
    dump,
    parse,
)
from chargemesh.protocols.ocpi.transport import OcpiError, StatusCode, token_candidates
from chargemesh.store import OcpiParty, Store
from chargemesh.store.repository import INVITED, NONE, REGISTERED, REGISTERING

log = logging.getLogger(__name__)

#: Versions we speak, best first (2.1.1 peers are read leniently by the same models).
SUPPORTED_VERSIONS: Final = ("2.2.1", "2.1.1")
MAX_CACHED_HEADERS: Final = 4096
#: How long a node trusts what it read of a token before reading the store again: a re-invite,
#: a rotation or an unregistration done by another node or by the CLI takes effect within this.
TOKEN_RECHECK_S: Final = 1.0
#: What one read of a party's versions or version details may be during the handshake: they
#: are a few hundred bytes, and whoever holds a registration token chooses where we read them.
HANDSHAKE_LIMITS: Final = FetchLimits(max_bytes=1 * MB, total_s=10.0)
#: The one answer to a credentials POST/PUT whose versions or details could not be read,
#: whatever the reason (refused address, closed port, not HTTP, not OCPI, too large, too slow):
#: telling them apart would let a token holder map what the platform can reach.
UNREADABLE: Final = "the versions URL could not be read as OCPI"


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 43 characters, within string(64)


class OcpiConnections:
    def __init__(
        self,
        store: Store,
        *,
        versions_url: str,
        own_party: tuple[str, str],
        business_name: str = "chargemesh",
        http: httpx.AsyncClient | None = None,
        operators: Mapping[str, Operator] | None = None,
        page_limits: FetchLimits | None = None,
    ) -> None:
        self._store = store
        self.versions_url = versions_url
        self.own_party = (own_party[0].upper(), own_party[1].upper())
        self._business = business_name
        self._http = http
        self.operators = {k.upper(): v for k, v in (operators or {}).items()}
        #: token_in → (party, when read); dropped on every change here, re-read after
        #: TOKEN_RECHECK_S for what changed elsewhere (another node, the CLI)
        self._tokens: dict[str, tuple[OcpiParty, float]] = {}
        self._headers: dict[str, tuple[OcpiParty, float]] = {}  # Authorization value → likewise
        self.retries = 3  # per failing page of a pull, then the pull stops (and resumes later)
        self.page_limits = page_limits or FetchLimits()  # one answer of a pull, a push, a command
        self.backoff_s = 0.5

    # --- identity --------------------------------------------------------------------------
    def our_credentials(self, token: str) -> Credentials:
        cc, pid = self.own_party
        return Credentials(
            token=token,
            url=self.versions_url,
            roles=[
                CredentialsRole(
                    role=Role.EMSP,
                    business_details=BusinessDetails(name=self._business),
                    country_code=cc,
                    party_id=pid,
                )
            ],
        )

    def operator(self, party: OcpiParty) -> Operator:
        """The registry operator a connection feeds (configured, else named by its roles)."""
        found = self.operators.get(party.id.upper())
        if found is not None:
            return replace(found, id=party.id.upper())
        from chargemesh.domain import OperatorProtocol

        name = next((str(r.get("business_details", {}).get("name")) for r in party.roles), party.id)
        return Operator(party.id.upper(), name, OperatorProtocol.OCPI)

    def client(
        self, token: str, *, raw: bool = False, limits: FetchLimits | None = None
    ) -> OcpiClient:
        if self._http is None:
            raise RuntimeError("OcpiConnections needs an httpx client to call peers")
        return OcpiClient(
            self._http,
            token,
            own_party=self.own_party,
            retries=self.retries,
            backoff_s=self.backoff_s,
            raw_token=raw,
            limits=limits or self.page_limits,
        )

    def client_for(self, party: OcpiParty) -> OcpiClient:
        """The client for a registered connection: its token, raw or Base64 as it reads them."""
        if party.token_out is None:
            raise OcpiPeerError(f"{party.id} is not registered", url=party.versions_url or "")
        return self.client(party.token_out, raw=party.raw_token)

    # --- who is calling -------------------------------------------------------------------
    async def authenticate(self, authorization: str | None) -> OcpiParty:
        """The party whose token this is (raw or Base64); HTTP 401 otherwise."""
        now = time.monotonic()
        known = self._headers.get(authorization or "")
        if known is not None and now - known[1] < TOKEN_RECHECK_S:
            return known[0]
        for candidate in token_candidates(authorization):
            cached = self._tokens.get(candidate)
            if cached is not None and now - cached[1] < TOKEN_RECHECK_S:
                party: OcpiParty | None = cached[0]
            else:
                party = await asyncio.to_thread(self._store.ocpi_party_by_token, candidate)
                if party is None:
                    self._tokens.pop(candidate, None)
                else:
                    self._remember(self._tokens, candidate, party, now)
            if party is not None and party.token_in == candidate:
                self._remember(self._headers, authorization or "", party, now)
                return party
        self._headers.pop(authorization or "", None)
        raise OcpiError.unauthorized()

    @staticmethod
    def _remember(
        cache: dict[str, tuple[OcpiParty, float]], key: str, party: OcpiParty, at: float
    ) -> None:
        if len(cache) >= MAX_CACHED_HEADERS and key not in cache:
            cache.clear()
        cache[key] = (party, at)

    async def save(self, party: OcpiParty) -> OcpiParty:
        party = replace(party, updated_at=datetime.now(UTC))
        if party.registered:  # the registry knows every operator that can send us data
            await asyncio.to_thread(self._store.upsert_operator, self.operator(party))
        await asyncio.to_thread(self._store.save_ocpi_party, party)
        self._tokens = {k: v for k, v in self._tokens.items() if v[0].id != party.id}
        self._headers = {k: v for k, v in self._headers.items() if v[0].id != party.id}
        if party.token_in is not None:
            self._tokens[party.token_in] = (party, time.monotonic())
        return party

    async def party(self, party_id: str) -> OcpiParty | None:
        return await asyncio.to_thread(self._store.get_ocpi_party, party_id)

    # --- a CPO registers with us ------------------------------------------------------------
    async def invite(self, party_id: str) -> str:
        """A token A for the party to register with (out of band, with our versions URL).
        Any registration it had is dropped."""
        token = new_token()
        await self.save(OcpiParty(party_id.upper(), token_in=token, stage=INVITED))
        return token

    async def accept(self, party: OcpiParty, body: object, *, update: bool = False) -> Credentials:
        """POST (``update`` False, with token A) or PUT (registered, with our token) of the
        party's credentials: read its versions and details, answer ours with a fresh token."""
        if update and not party.registered:
            raise OcpiError(
                StatusCode.CLIENT_ERROR, "not registered: POST credentials first", http_status=405
            )
        if not update and party.stage != INVITED:
            raise OcpiError(
                StatusCode.CLIENT_ERROR,
                "already registered: use PUT to update or DELETE to unregister",
                http_status=405,
            )
        theirs = parse(Credentials, body)
        _speaks_only_for(party.id, theirs)
        version, details, raw = await self._discover(theirs.url, theirs.token)
        token_c = new_token()
        await self.save(
            replace(
                party,
                token_in=token_c,
                stage=REGISTERED,
                token_out=theirs.token,
                versions_url=theirs.url,
                version=version,
                endpoints=_endpoints(details),
                roles=tuple(dump(r) for r in theirs.roles),
                raw_token=raw,
            )
        )
        log.info("OCPI %s %s with us (version %s)", party.id, "updated" if update else
                 "registered", version)  # fmt: skip
        return self.our_credentials(token_c)

    async def unregister(self, party: OcpiParty) -> None:
        """DELETE of credentials: the party's token stops working; its data stays."""
        if not party.registered:
            raise OcpiError(StatusCode.CLIENT_ERROR, "not registered", http_status=405)
        await self.save(replace(party, token_in=None, stage=NONE, token_out=None))

    async def _discover(self, versions_url: str, token: str) -> tuple[str, VersionDetails, bool]:
        """The version we share with a peer, its details, and whether it wants the token raw:
        2.2.1 says Base64, many 2.1.1 and 2.2 peers read it raw, so a 401 to the Base64 form is
        tried once more raw (the spec's own advice), and what works is kept for the peer."""
        raw = False
        client = self.client(token, limits=HANDSHAKE_LIMITS)
        try:
            try:
                versions = await client.get_versions(versions_url)
            except OcpiPeerError as exc:
                if not exc.unauthorized:
                    raise
                raw = True
                client = self.client(token, raw=True, limits=HANDSHAKE_LIMITS)
                versions = await client.get_versions(versions_url)
        except OcpiPeerError as exc:
            raise _unreadable(exc) from exc
        offered = {str(v.version): v.url for v in versions}
        version = next((v for v in SUPPORTED_VERSIONS if v in offered), None)
        if version is None:
            raise OcpiError(
                StatusCode.UNSUPPORTED_VERSION,
                f"no common version: we speak {', '.join(SUPPORTED_VERSIONS)}",
            )
        try:
            details = await client.get_version_details(offered[version])
        except OcpiPeerError as exc:
            raise _unreadable(exc) from exc
        modules = {str(e.identifier) for e in details.endpoints}
        if "credentials" not in modules:
            raise OcpiError(StatusCode.NO_MATCHING_ENDPOINTS, "no credentials endpoint")
        return version, details, raw

    # --- we register with a CPO -----------------------------------------------------------
    async def register_with(
        self, party_id: str, versions_url: str, token_a: str, *, anew: bool = False
    ) -> OcpiParty:
        """The handshake from our side; returns the registered connection. ``anew``: the old
        connection is gone (the CPO moved or forgot us), so where its pulls stood means nothing
        and the next pull lists everything. Raises :class:`OcpiPeerError` (or
        :class:`OcpiError` for a version/endpoint mismatch)."""
        version, details, raw = await self._discover_peer(versions_url, token_a)
        endpoints = _endpoints(details)
        credentials_url = _find(endpoints, "credentials")
        token_b = new_token()
        held = await self.party(party_id)
        pending = OcpiParty(
            party_id.upper(),
            token_in=token_b,
            stage=REGISTERING,
            versions_url=versions_url,
            version=version,
            endpoints=endpoints,
            sync_state=held.sync_state if held and not anew else {},
            raw_token=raw,
        )
        await self.save(pending)  # before the POST: the CPO reads our versions with token B
        try:
            theirs = await self.client(token_a, raw=raw).post_credentials(
                credentials_url, self.our_credentials(token_b)
            )
            _speaks_only_for(party_id, theirs)
        except (OcpiPeerError, OcpiError):
            await self.save(replace(pending, token_in=None, stage=NONE))
            raise
        party = await self.save(
            replace(
                pending,
                stage=REGISTERED,
                token_out=theirs.token,
                roles=tuple(dump(r) for r in theirs.roles),
            )
        )
        log.info("OCPI: registered with %s (version %s)", party.id, version)
        return party

    async def rotate(self, party: OcpiParty) -> OcpiParty:
        """PUT our credentials with a new token B (e.g. on a schedule or after a leak)."""
        if not party.registered or party.token_out is None:
            raise ValueError(f"{party.id} is not registered")
        url = _find(party.endpoints, "credentials")
        token_b = new_token()
        old = party
        party = await self.save(replace(party, token_in=token_b))
        try:
            theirs = await self.client_for(old).put_credentials(url, self.our_credentials(token_b))
        except OcpiPeerError:
            await self.save(old)
            raise
        return await self.save(replace(party, token_out=theirs.token))

    async def leave(self, party: OcpiParty) -> OcpiParty:
        """Unregister from the CPO (DELETE of its credentials): both tokens stop working."""
        if not party.registered:
            raise ValueError(f"{party.id} is not registered")
        await self.client_for(party).delete_credentials(_find(party.endpoints, "credentials"))
        return await self.save(replace(party, token_in=None, stage=NONE, token_out=None))

    async def _discover_peer(
        self, versions_url: str, token: str
    ) -> tuple[str, VersionDetails, bool]:
        try:
            return await self._discover(versions_url, token)
        except OcpiError as exc:  # our side: the operator is told why
            why = f" ({exc.__cause__})" if isinstance(exc.__cause__, OcpiPeerError) else ""
            raise OcpiPeerError(
                f"{exc}{why}", url=versions_url, status_code=exc.status_code
            ) from None


def _speaks_only_for(party_id: str, credentials: Credentials) -> None:
    """A party speaks only for the identity it was invited (or configured) as: credentials whose
    roles name another country_code/party_id are refused, before anything is fetched or kept —
    otherwise it could write under another operator's id and lock the real owner out."""
    cc, _, pid = party_id.upper().partition("-")
    for role in credentials.roles:
        claimed = (str(role.country_code).upper(), str(role.party_id).upper())
        if claimed != (cc, pid):
            raise OcpiError(
                StatusCode.INVALID_PARAMETERS,
                f"these credentials were issued for {cc}-{pid}; they cannot speak for "
                f"{claimed[0][:2]}-{claimed[1][:3]}",
                http_status=403,
            )


def _unreadable(exc: OcpiPeerError) -> OcpiError:
    """The one answer for versions or details that could not be read; the reason is logged
    here only (a peer error names the URL and the failure, never a token)."""
    log.info("OCPI handshake: %s: %s", UNREADABLE, exc)
    return OcpiError(StatusCode.UNABLE_TO_USE_CLIENT_API, UNREADABLE)


def _endpoints(details: VersionDetails) -> tuple[dict[str, str], ...]:
    return tuple(
        {"identifier": str(e.identifier), "role": str(e.role), "url": e.url}
        for e in details.endpoints
    )


def _find(endpoints: tuple[dict[str, str], ...], module: str, role: str | None = None) -> str:
    for e in endpoints:
        if e["identifier"] == module and (role is None or e["role"] == role):
            return e["url"]
    raise OcpiPeerError(f"the peer lists no {module} endpoint", url="", status_code=3003)
