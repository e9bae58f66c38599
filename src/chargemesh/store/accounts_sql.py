"""Drivers' accounts, their refresh tokens and wrong-password counts, the ops keys and the
platform's own secrets, in SQL (both backends); a mixin of ``SqlStore``. Every node over one
store shares them, so a sign-in, a revocation or a lock holds on every node at once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chargemesh.domain.accounts import Account, LoginFailures, OpsKey, RefreshGrant
from chargemesh.store.hooks import SqlHooks

_ACCOUNT = "id, email, password_hash, created_at, last_login_at"
_OPS_KEY = "prefix, name, key_hash, created_at, last_used_at, revoked_at"


class AccountTables(SqlHooks):
    # --- accounts ------------------------------------------------------------------------
    def _account(self, row: Any) -> Account | None:
        if row is None:
            return None
        created = self._time_out(row[3])
        assert created is not None
        return Account(str(row[0]), str(row[1]), str(row[2]), created, self._time_out(row[4]))

    def create_account(self, account: Account) -> None:
        """Add an account; ``StoreIntegrityError`` if its email (or id) is taken."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(f"INSERT INTO accounts ({_ACCOUNT}) VALUES (?, ?, ?, ?, ?)"),
                (account.id, account.email, account.password_hash,
                 self._time_in(account.created_at), self._time_in(account.last_login_at)),
            )  # fmt: skip

    def account_by_email(self, email: str) -> Account | None:
        with self._lock, self._transaction() as cur:
            cur.execute(self._sql(f"SELECT {_ACCOUNT} FROM accounts WHERE email = ?"), (email,))
            return self._account(cur.fetchone())

    def account_by_id(self, account_id: str) -> Account | None:
        with self._lock, self._transaction() as cur:
            cur.execute(self._sql(f"SELECT {_ACCOUNT} FROM accounts WHERE id = ?"), (account_id,))
            return self._account(cur.fetchone())

    def signed_in(self, account_id: str, *, at: datetime, password_hash: str | None) -> None:
        """A sign-in succeeded: note the time (and a re-hashed password, when its hash's
        parameters were outdated)."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "UPDATE accounts SET last_login_at = ?, "
                    "password_hash = COALESCE(?, password_hash) WHERE id = ?"
                ),
                (self._time_in(at), password_hash, account_id),
            )

    # --- wrong passwords -------------------------------------------------------------------
    def login_failures(self, email: str) -> LoginFailures | None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT failures, first_at, locked_until FROM login_failures WHERE email = ?"
                ),
                (email,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        first = self._time_out(row[1])
        assert first is not None
        return LoginFailures(int(row[0]), first, self._time_out(row[2]))

    def count_login_failure(
        self, email: str, *, at: datetime, window: timedelta, lock_after: int, lock_for: timedelta
    ) -> LoginFailures:
        """One more wrong password for ``email``: counted in a window that starts again once
        ``window`` has passed since its first failure; the ``lock_after``-th locks the email
        for ``lock_for``. One statement, so two nodes counting at once both count."""
        start_over = self._time_in(at - window)
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO login_failures (email, failures, first_at, locked_until) "
                    "VALUES (?, 1, ?, NULL) ON CONFLICT (email) DO UPDATE SET "
                    "failures = CASE WHEN login_failures.first_at < ? THEN 1 "
                    "ELSE login_failures.failures + 1 END, "
                    "first_at = CASE WHEN login_failures.first_at < ? THEN excluded.first_at "
                    "ELSE login_failures.first_at END "
                    "RETURNING failures, first_at"
                ),
                (email, self._time_in(at), start_over, start_over),
            )
            failures, first_at = cur.fetchone()
            locked_until = None
            if int(failures) >= lock_after:
                locked_until = at + lock_for
                cur.execute(
                    self._sql(
                        "UPDATE login_failures SET locked_until = ?, failures = 0, first_at = ? "
                        "WHERE email = ?"
                    ),
                    (self._time_in(locked_until), self._time_in(at), email),
                )
        first = self._time_out(first_at)
        assert first is not None
        return LoginFailures(int(failures), first, locked_until)

    def clear_login_failures(self, email: str) -> None:
        with self._lock, self._transaction() as cur:
            cur.execute(self._sql("DELETE FROM login_failures WHERE email = ?"), (email,))

    # --- refresh tokens ----------------------------------------------------------------------
    def keep_refresh_token(
        self, token_hash: str, account_id: str, family_id: str, *, at: datetime,
        expires_at: datetime,
    ) -> None:  # fmt: skip
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO refresh_tokens (token_hash, account_id, family_id, issued_at, "
                    "expires_at) VALUES (?, ?, ?, ?, ?)"
                ),
                (token_hash, account_id, family_id, self._time_in(at), self._time_in(expires_at)),
            )

    def spend_refresh_token(self, token_hash: str, *, at: datetime) -> RefreshGrant | None:
        """Mark a live refresh token spent and return it as it was before (``spent_at`` None
        then); a token already spent, revoked or expired is returned as it is, unchanged; an
        unknown one is None. Only one of two racing spends finds it unspent."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "UPDATE refresh_tokens SET spent_at = ? WHERE token_hash = ? "
                    "AND spent_at IS NULL AND revoked_at IS NULL AND expires_at > ? "
                    "RETURNING account_id, family_id, issued_at, expires_at"
                ),
                (self._time_in(at), token_hash, self._time_in(at)),
            )
            row = cur.fetchone()
            if row is not None:
                issued, expires = self._time_out(row[2]), self._time_out(row[3])
                assert issued is not None
                assert expires is not None
                return RefreshGrant(str(row[0]), str(row[1]), issued, expires)
        return self.refresh_grant(token_hash)

    def refresh_grant(self, token_hash: str) -> RefreshGrant | None:
        """A refresh token as it is kept, whatever its state; None if unknown."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT account_id, family_id, issued_at, expires_at, spent_at, revoked_at "
                    "FROM refresh_tokens WHERE token_hash = ?"
                ),
                (token_hash,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        issued, expires = self._time_out(row[2]), self._time_out(row[3])
        assert issued is not None
        assert expires is not None
        return RefreshGrant(
            str(row[0]), str(row[1]), issued, expires, self._time_out(row[4]),
            self._time_out(row[5]),
        )  # fmt: skip

    def revoke_refresh_family(self, family_id: str, *, at: datetime) -> int:
        """Revoke every token of one sign-in; how many were still unrevoked."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "UPDATE refresh_tokens SET revoked_at = ? "
                    "WHERE family_id = ? AND revoked_at IS NULL"
                ),
                (self._time_in(at), family_id),
            )
            return int(cur.rowcount)

    # --- ops keys ------------------------------------------------------------------------------
    def _ops_key(self, row: Any) -> OpsKey:
        created = self._time_out(row[3])
        assert created is not None
        return OpsKey(
            str(row[0]), str(row[1]), str(row[2]), created, self._time_out(row[4]),
            self._time_out(row[5]),
        )  # fmt: skip

    def create_ops_key(self, key: OpsKey) -> None:
        """Keep a new key (its hash); ``StoreIntegrityError`` if its prefix is taken."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(f"INSERT INTO ops_keys ({_OPS_KEY}) VALUES (?, ?, ?, ?, ?, ?)"),
                (key.prefix, key.name, key.key_hash, self._time_in(key.created_at),
                 self._time_in(key.last_used_at), self._time_in(key.revoked_at)),
            )  # fmt: skip

    def ops_key(self, prefix: str) -> OpsKey | None:
        with self._lock, self._transaction() as cur:
            cur.execute(self._sql(f"SELECT {_OPS_KEY} FROM ops_keys WHERE prefix = ?"), (prefix,))
            row = cur.fetchone()
        return None if row is None else self._ops_key(row)

    def ops_keys(self) -> list[OpsKey]:
        with self._lock, self._transaction() as cur:
            cur.execute(self._sql(f"SELECT {_OPS_KEY} FROM ops_keys ORDER BY created_at, prefix"))
            return [self._ops_key(row) for row in cur.fetchall()]

    def ops_key_used(self, prefix: str, *, at: datetime) -> None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql("UPDATE ops_keys SET last_used_at = ? WHERE prefix = ?"),
                (self._time_in(at), prefix),
            )

    def revoke_ops_keys(self, prefix_or_name: str, *, at: datetime) -> int:
        """Revoke the key with this prefix, or every live key with this name; how many."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "UPDATE ops_keys SET revoked_at = ? WHERE revoked_at IS NULL "
                    "AND (prefix = ? OR name = ?)"
                ),
                (self._time_in(at), prefix_or_name, prefix_or_name),
            )
            return int(cur.rowcount)

    # --- the platform's own secrets ------------------------------------------------------------
    def platform_secret(self, name: str, fresh: str, *, at: datetime) -> str:
        """The secret called ``name``, kept as ``fresh`` if there was none yet: every node
        asking at once gets the same one."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO platform_secrets (name, value, created_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO NOTHING"
                ),
                (name, fresh, self._time_in(at)),
            )
            cur.execute(self._sql("SELECT value FROM platform_secrets WHERE name = ?"), (name,))
            return str(cur.fetchone()[0])
