"""T/CEC tokens we issued and the requests seen by the replay guard, in SQL (both backends); a
mixin of ``SqlStore``. Every process over one store shares them (protocols/tcec/tokens.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from chargemesh.store.hooks import SqlHooks

#: requests per INSERT (3 parameters each: well under both backends' parameter limits)
ROWS_PER_INSERT = 500


class TcecTables(SqlHooks):
    def keep_tcec_token(
        self, token_hash: str, operator_id: str, *, issued_at: datetime, expires_at: datetime
    ) -> None:
        """Keep a token we issued (its hash); tokens expired by ``issued_at`` are dropped."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql("DELETE FROM tcec_tokens WHERE expires_at <= ?"),
                (self._time_in(issued_at),),
            )
            cur.execute(
                self._sql(
                    "INSERT INTO tcec_tokens (token_hash, operator_id, issued_at, expires_at) "
                    "VALUES (?, ?, ?, ?)"
                ),
                (token_hash, operator_id, self._time_in(issued_at), self._time_in(expires_at)),
            )

    def tcec_token(self, token_hash: str, *, at: datetime) -> tuple[str, datetime] | None:
        """(OperatorID, expiry) of a token live at ``at``: issued by us, not expired, not
        revoked."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT operator_id, expires_at FROM tcec_tokens WHERE token_hash = ? "
                    "AND expires_at > ? AND revoked_at IS NULL"
                ),
                (token_hash, self._time_in(at)),
            )
            row = cur.fetchone()
        expires = self._time_out(row[1]) if row else None
        return (str(row[0]), expires) if row and expires else None

    def revoke_tcec_tokens(self, *, at: datetime) -> int:
        """Revoke every live token; how many."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql("UPDATE tcec_tokens SET revoked_at = ? WHERE revoked_at IS NULL"),
                (self._time_in(at),),
            )
            return int(cur.rowcount)

    def remember_tcec_requests(
        self,
        requests: Sequence[tuple[str, str, datetime]],
        *,
        forget_before: datetime | None = None,
    ) -> list[bool]:
        """Record each (OperatorID, Seq, TimeStamp) in one transaction: True where it is new,
        False where it was recorded before (by any process, or earlier in ``requests``).
        Requests whose TimeStamp is before ``forget_before`` are forgotten first."""
        keys = [(self._time_in(stamp), op, seq) for op, seq, stamp in requests]
        new: set[tuple[Any, ...]] = set()
        with self._lock, self._transaction() as cur:
            if forget_before is not None:
                cur.execute(
                    self._sql("DELETE FROM tcec_seen_requests WHERE stamp < ?"),
                    (self._time_in(forget_before),),
                )
            rows = iter(keys)
            while chunk := list(islice(rows, ROWS_PER_INSERT)):
                marks = ", ".join("(?, ?, ?)" for _ in chunk)
                cur.execute(
                    self._sql(
                        f"INSERT INTO tcec_seen_requests (stamp, operator_id, seq) VALUES {marks} "
                        "ON CONFLICT DO NOTHING RETURNING stamp, operator_id, seq"
                    ),
                    [value for key in chunk for value in key],
                )
                new.update(tuple(r) for r in cur.fetchall())
        fresh = []
        for key in keys:  # a request twice in one batch: the first is new, the second a replay
            fresh.append(key in new)
            new.discard(key)
        return fresh
