"""Drivers' accounts: sign up, sign in (with wrong passwords slowed, then refused for a while),
refresh tokens rotated on each use, sign out. Sync: the API runs these in a thread (argon2 is
deliberately slow).

A refresh token is spent by its use and a new one issued in the same family (the sign-in). A
spent token shown again means two parties hold it — the driver and a thief — so the whole
family is revoked: both must sign in again."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chargemesh.domain.accounts import Account
from chargemesh.services.accounts.passwords import Passwords, email_problem, normal_email, weakness
from chargemesh.services.accounts.tokens import AccessTokens, digest, new_refresh_token
from chargemesh.store import Store, StoreIntegrityError


@dataclass(frozen=True, slots=True)
class SignInRules:
    """How sign-ins are guarded (``[auth]`` in the config)."""

    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=30)
    failure_window: timedelta = timedelta(minutes=15)
    slow_after: int = 3  # wrong passwords in the window before each answer is slowed
    slow_by_s: float = 1.0
    lock_after: int = 5  # wrong passwords in the window that lock the email
    lock_for: timedelta = timedelta(minutes=5)


class AccountRefused(Exception):
    """A request about accounts refused: ``status`` and ``code`` say how the API answers."""

    def __init__(
        self, status: int, code: str, reason: str, advice: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.advice = advice
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Grant:
    """What a sign-in or a refresh gives: an access token and the next refresh token."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    #: wrong passwords so far before this answer: the API slows its answer past slow_after
    slow: bool = False


def _bad_credentials() -> AccountRefused:
    return AccountRefused(
        401, "invalid_credentials", "the email or the password is wrong",
        "check both; after several wrong passwords sign-in pauses for a few minutes",
    )  # fmt: skip


class Accounts:
    def __init__(
        self,
        store: Store,
        tokens: AccessTokens,
        rules: SignInRules | None = None,
        passwords: Passwords | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.rules = rules or SignInRules()
        self.passwords = passwords or Passwords()
        self.clock = clock

    # --- sign up -------------------------------------------------------------------------
    def register(self, email: str, password: str) -> Account:
        email = normal_email(email)
        problem = email_problem(email)
        if problem is None:
            problem = weakness(password, email)
        if problem is not None:
            raise AccountRefused(422, "weak_credentials", problem)
        account = Account(uuid.uuid4().hex, email, self.passwords.hash(password), self.clock())
        try:
            self.store.create_account(account)
        except StoreIntegrityError:
            raise AccountRefused(
                409, "email_taken", "an account with this email exists", "sign in instead"
            ) from None
        return account

    # --- sign in, refresh, sign out ------------------------------------------------------------
    def sign_in(self, email: str, password: str) -> Grant:
        """A grant for the right password; ``AccountRefused`` 401 for a wrong one (or an
        unknown email, alike), 429 while the email is locked."""
        email = normal_email(email)
        now = self.clock()
        held = self.store.login_failures(email)
        if held is not None and held.locked_until is not None and held.locked_until > now:
            raise self._locked(held.locked_until, now)
        account = self.store.account_by_email(email) if email_problem(email) is None else None
        ok, rehash = self.passwords.verify(
            account.password_hash if account else None, password[:1024]
        )
        if not ok or account is None:
            r = self.rules
            counted = self.store.count_login_failure(
                email, at=now, window=r.failure_window, lock_after=r.lock_after,
                lock_for=r.lock_for,
            )  # fmt: skip
            if counted.locked_until is not None:
                raise self._locked(counted.locked_until, now)
            refused = _bad_credentials()
            if counted.failures >= r.slow_after:
                refused.advice = (
                    f"{r.lock_after - counted.failures} more wrong password(s) pause sign-in "
                    f"for this email for {int(r.lock_for.total_seconds() // 60)} minutes"
                )
                raise SlowedRefusal(refused)
            raise refused
        if held is not None:
            self.store.clear_login_failures(email)
        self.store.signed_in(account.id, at=now, password_hash=rehash)
        return self._grant(account.id, uuid.uuid4().hex, now)

    def _locked(self, until: datetime, now: datetime) -> AccountRefused:
        wait = max(1, int((until - now).total_seconds() + 0.999))
        return AccountRefused(
            429, "too_many_attempts", "too many wrong passwords for this email",
            f"try again in {wait} s", retry_after_s=wait,
        )  # fmt: skip

    def _grant(self, account_id: str, family_id: str, now: datetime) -> Grant:
        refresh = new_refresh_token()
        self.store.keep_refresh_token(
            digest(refresh), account_id, family_id, at=now, expires_at=now + self.rules.refresh_ttl
        )
        return Grant(
            access_token=self.tokens.issue(account_id, at=now),
            expires_in=int(self.tokens.ttl.total_seconds()),
            refresh_token=refresh,
            refresh_expires_in=int(self.rules.refresh_ttl.total_seconds()),
        )

    def refresh(self, refresh_token: str) -> Grant:
        """Spend a refresh token for a new grant in its family. A token shown a second time
        revokes its family (401 either way)."""
        now = self.clock()
        spent = self.store.spend_refresh_token(digest(refresh_token), at=now)
        if spent is None:
            raise AccountRefused(401, "invalid_refresh_token", "this sign-in is not valid",
                                 "sign in again")  # fmt: skip
        if spent.spent_at is not None and spent.revoked_at is None:  # a reuse: stolen?
            self.store.revoke_refresh_family(spent.family_id, at=now)
        if spent.spent_at is not None or spent.revoked_at is not None or spent.expires_at <= now:
            raise AccountRefused(401, "invalid_refresh_token", "this sign-in has ended",
                                 "sign in again")  # fmt: skip
        if self.store.account_by_id(spent.account_id) is None:
            raise AccountRefused(401, "invalid_refresh_token", "this account is gone")
        return self._grant(spent.account_id, spent.family_id, now)

    def sign_out(self, refresh_token: str, account_id: str) -> None:
        """Revoke the sign-in (family) this refresh token belongs to, if it is the caller's;
        an unknown or foreign token changes nothing (and says nothing)."""
        grant = self.store.refresh_grant(digest(refresh_token))
        if grant is not None and grant.account_id == account_id:
            self.store.revoke_refresh_family(grant.family_id, at=self.clock())

    def account(self, account_id: str) -> Account | None:
        return self.store.account_by_id(account_id)


class SlowedRefusal(Exception):
    """A wrong password after several: the API waits ``slow_by_s`` before answering."""

    def __init__(self, refusal: AccountRefused) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal
