"""Drivers' access tokens: short-lived JWTs (PyJWT, HS256) the API accepts as
``Authorization: Bearer``; refresh tokens are opaque random text, kept only as their SHA-256.

The signing key is the config's ``[auth] signing_key``, else one made once and kept in the
store, so every node over it signs and verifies alike. ``kid`` names the key (a digest of it,
which tells nothing of it) so a token signed by a replaced key is refused as such."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import jwt

ISSUER: Final = "chargemesh"
AUDIENCE: Final = "chargemesh-driver"
ALGORITHM: Final = "HS256"
SUBJECT_PREFIX: Final = "account:"
KEY_NAME: Final = "access_token_key"  # in the store's platform secrets


class InvalidAccessToken(Exception):
    """Not a token of ours, expired, or not for drivers (the reason stays in the server)."""


def new_secret() -> str:
    """A fresh signing key (64 random bytes as URL-safe text)."""
    return secrets.token_urlsafe(64)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """How a refresh token or an ops key is kept: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AccessTokens:
    """Issues and verifies access tokens with one key."""

    key: str
    ttl: timedelta = timedelta(minutes=15)

    @property
    def kid(self) -> str:
        return hashlib.sha256(b"chargemesh kid " + self.key.encode()).hexdigest()[:16]

    def issue(self, account_id: str, *, at: datetime) -> str:
        claims = {
            "sub": SUBJECT_PREFIX + account_id,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(at.timestamp()),
            "exp": int((at + self.ttl).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def account_of(self, token: str) -> str:
        """The account a valid token was issued to; ``InvalidAccessToken`` otherwise."""
        try:
            if jwt.get_unverified_header(token).get("kid") != self.kid:
                raise InvalidAccessToken("signed by another key")
            claims = jwt.decode(
                token, self.key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken(type(exc).__name__) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.startswith(SUBJECT_PREFIX):
            raise InvalidAccessToken("not a driver's token")
        return subject.removeprefix(SUBJECT_PREFIX)
