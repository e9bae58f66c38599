"""A driver's means of authorization that the platform issues and owns: an app account, an RFID
card, or a vehicle's contract (EMAID) for plug-and-charge. Operators ask us whether a token may
charge; the answer comes from its standing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TokenType(StrEnum):
    APP_USER = "app_user"  # the driver's account in our app (QR and app starts)
    AD_HOC_USER = "ad_hoc_user"
    RFID = "rfid"
    EMAID = "emaid"  # ISO 15118 contract id, for plug-and-charge
    OTHER = "other"


class TokenStanding(StrEnum):
    """Whether the account behind a token may charge now."""

    ALLOWED = "allowed"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    NO_CREDIT = "no_credit"
    NOT_ALLOWED = "not_allowed"


@dataclass(frozen=True, slots=True)
class Token:
    uid: str
    type: TokenType
    contract_id: str  # the eMA id the driver's charges are billed to
    issuer: str
    last_updated: datetime
    valid: bool = True
    standing: TokenStanding = TokenStanding.ALLOWED
    whitelist: str = "ALLOWED"  # may the operator authorize it offline: ALWAYS, ALLOWED, …
    visual_number: str | None = None
    group_id: str | None = None
    language: str | None = None

    @property
    def may_charge(self) -> bool:
        return self.valid and self.standing is TokenStanding.ALLOWED
