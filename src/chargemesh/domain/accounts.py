"""Who uses the platform: drivers' accounts and their sign-ins, and the operations team's keys.

Secrets are never held here: a password as its argon2id hash, a refresh token or an ops key as
its SHA-256 (docs/accounts.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Account:
    """A driver's account; ``email`` in lower case, unique."""

    id: str
    email: str
    password_hash: str
    created_at: datetime
    last_login_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """One refresh token issued to a sign-in (``family_id``), as the store keeps it."""

    account_id: str
    family_id: str
    issued_at: datetime
    expires_at: datetime
    spent_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LoginFailures:
    """Wrong passwords for one email since ``first_at``, and the lock they earned."""

    failures: int
    first_at: datetime
    locked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class OpsKey:
    """An operations key: ``cm_<prefix>_<secret>``, kept as its SHA-256."""

    prefix: str
    name: str
    key_hash: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
