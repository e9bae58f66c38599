"""The Tokens module with us as token owner: CPOs pull our tokens (paginated) and ask us in real
time whether one may charge (``POST /tokens/{uid}/authorize``); the answer comes from the account
behind the token. Every authorization given is recorded with its reference, so that the session it
starts can be matched to the driver; an ALLOWED one is, in the same unit of work, an
``OcpiTokenAuthorized`` event (what starts a plug-and-charge session)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime
from typing import Any, Final

from chargemesh.domain import Token, TokenStanding, TokenType
from chargemesh.domain.events import OcpiTokenAuthorized
from chargemesh.events.relay import OutboxRelay
from chargemesh.protocols.ocpi import models
from chargemesh.protocols.ocpi.models import AuthorizationInfo, LocationReferences, dump, parse
from chargemesh.protocols.ocpi.transport import OcpiError, StatusCode
from chargemesh.store import Store
from chargemesh.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

INBOX_AUTHORIZATION: Final = "authorization"

_ALLOWED: Final = {
    TokenStanding.ALLOWED: "ALLOWED",
    TokenStanding.BLOCKED: "BLOCKED",
    TokenStanding.EXPIRED: "EXPIRED",
    TokenStanding.NO_CREDIT: "NO_CREDIT",
    TokenStanding.NOT_ALLOWED: "NOT_ALLOWED",
}


def token_type(value: str) -> TokenType:
    """A domain token type from OCPI's (``APP_USER`` …); OCPI 2001 for anything else."""
    try:
        return TokenType(value.strip().lower())
    except ValueError:
        raise OcpiError(StatusCode.INVALID_PARAMETERS, "unknown token type") from None


def to_ocpi(token: Token, own_party: tuple[str, str]) -> models.Token:
    return models.Token.model_validate(
        {
            "country_code": own_party[0],
            "party_id": own_party[1],
            "uid": token.uid,
            "type": token.type.value.upper(),
            "contract_id": token.contract_id,
            "visual_number": token.visual_number,
            "issuer": token.issuer,
            "group_id": token.group_id,
            "valid": token.valid,
            "whitelist": token.whitelist,
            "language": token.language,
            "last_updated": token.last_updated,
        }
    )


def allowed(token: Token) -> str:
    if not token.valid and token.standing is TokenStanding.ALLOWED:
        return "NOT_ALLOWED"
    return _ALLOWED[token.standing]


class TokenAuthority:
    def __init__(self, store: Store, own_party: tuple[str, str], relay: OutboxRelay) -> None:
        self._store = store
        self.own_party = own_party
        self._relay = relay

    async def page(
        self, *, date_from: datetime | None, date_to: datetime | None, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        tokens, total = await asyncio.to_thread(
            self._store.list_tokens,
            date_from=date_from,
            date_to=date_to,
            offset=offset,
            limit=limit,
        )
        return [dump(to_ocpi(t, self.own_party)) for t in tokens], total

    async def authorize(
        self, party_id: str, uid: str, type_param: str | None, body: Any
    ) -> AuthorizationInfo:
        wanted = token_type(type_param) if type_param else TokenType.RFID  # the spec's default
        location = parse(LocationReferences, body) if body is not None else None
        token = await asyncio.to_thread(self._store.get_token, uid, wanted.value)
        if token is None:
            raise OcpiError.not_found("unknown token", StatusCode.UNKNOWN_TOKEN)
        answer = allowed(token)
        if answer == "ALLOWED" and token.type is TokenType.EMAID:
            # a car's contract is one token for every network: plug-and-charge only where its
            # driver switched it on
            vehicle = await asyncio.to_thread(self._store.vehicle_by_emaid, token.uid)
            if vehicle is not None and party_id.upper() not in vehicle.networks:
                answer = "NOT_ALLOWED"
        reference = secrets.token_hex(16) if answer == "ALLOWED" else None
        info = AuthorizationInfo.model_validate(
            {
                "allowed": answer,
                "token": dump(to_ocpi(token, self.own_party)),
                "location": dump(location) if location else None,
                "authorization_reference": reference,
            }
        )
        where = dump(location) if location else None
        record = {
            "uid": token.uid, "type": token.type.value, "allowed": answer,
            "authorization_reference": reference, "location": where,
        }  # fmt: skip

        def work(uow: UnitOfWork) -> None:
            uow.inbox.append_inbox(
                party_id, "ocpi", INBOX_AUTHORIZATION, record, at=datetime.now(UTC)
            )
            if reference is not None:
                uow.collect([OcpiTokenAuthorized(party_id, token.uid, reference, where)])

        await self._relay.write(work)
        return info
