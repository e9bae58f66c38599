"""Tokens we issue to operators, and the replay guard for their signed requests.

Both keep their state in a book that every process over one store shares (the store implements
both books: ``store/tcec_sql.py``), so a token issued by one process is accepted by another, a
request seen by one is a replay for all, and a restart forgets neither (docs/tcec.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

from chargemesh.protocols.tcec.codec import Ret, TcecError

DEFAULT_TOKEN_TTL_S = 7200
#: how long a token verified against the book is trusted from memory: a revocation reaches every
#: process within this bound
TOKEN_RECHECK_S = 30.0
SWEEP_EVERY = timedelta(seconds=60)


def token_hash(token: str) -> str:
    """What the book keeps of a token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def now_utc() -> datetime:
    return datetime.now(UTC)


class TokenBook(Protocol):
    """Where issued tokens are kept, by hash."""

    def keep_tcec_token(
        self, token_hash: str, operator_id: str, *, issued_at: datetime, expires_at: datetime
    ) -> None: ...

    def tcec_token(self, token_hash: str, *, at: datetime) -> tuple[str, datetime] | None:
        """(OperatorID, expiry) of a token live at ``at``."""

    def revoke_tcec_tokens(self, *, at: datetime) -> int: ...


class RequestBook(Protocol):
    """Where requests seen are kept for the replay guard."""

    def remember_tcec_requests(
        self,
        requests: Sequence[tuple[str, str, datetime]],
        *,
        forget_before: datetime | None = None,
    ) -> list[bool]:
        """Record each (OperatorID, Seq, TimeStamp): True where it is new."""


class MemoryTokenBook:
    """A book for one process alone (the simulator tests' stand-in for our platform)."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, datetime, datetime | None]] = {}
        self._lock = threading.Lock()

    def keep_tcec_token(
        self, token_hash: str, operator_id: str, *, issued_at: datetime, expires_at: datetime
    ) -> None:
        with self._lock:
            self._tokens = {h: v for h, v in self._tokens.items() if v[1] > issued_at}
            self._tokens[token_hash] = (operator_id, expires_at, None)

    def tcec_token(self, token_hash: str, *, at: datetime) -> tuple[str, datetime] | None:
        entry = self._tokens.get(token_hash)
        if entry is None or entry[1] <= at or entry[2] is not None:
            return None
        return entry[0], entry[1]

    def revoke_tcec_tokens(self, *, at: datetime) -> int:
        with self._lock:
            live = {h: (op, exp, at) for h, (op, exp, gone) in self._tokens.items() if not gone}
            self._tokens.update(live)
        return len(live)


class _Known(NamedTuple):
    operator_id: str
    expires_at: datetime
    checked: float  # monotonic time it was last found live in the book


class TokenIssuer:
    """Random bearer tokens, each bound to the OperatorID it was issued to, kept in ``book``.

    A token never changes once issued, so one found live is trusted from memory until it expires,
    rechecked against the book every ``recheck_s`` (how a revocation reaches other processes); a
    token not in memory is looked up in the book (one issued by another process). Issuing a token
    leaves the operator's earlier tokens live until they expire."""

    def __init__(
        self,
        book: TokenBook,
        ttl_s: int = DEFAULT_TOKEN_TTL_S,
        *,
        recheck_s: float = TOKEN_RECHECK_S,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.ttl_s = ttl_s
        self.recheck_s = recheck_s
        self._book = book
        self._clock = clock
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()  # issue and operator_for run on worker threads

    def issue(self, operator_id: str) -> str:
        """A new token for ``operator_id`` (writes to the book: call it off the event loop)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        expires = now + timedelta(seconds=self.ttl_s)
        self._book.keep_tcec_token(
            token_hash(token), operator_id, issued_at=now, expires_at=expires
        )
        with self._lock:
            self._known = {t: k for t, k in self._known.items() if k.expires_at > now}
            self._known[token] = _Known(operator_id, expires, time.monotonic())
        return token

    def known(self, token: str) -> str | None:
        """The OperatorID of a token trusted from memory (no I/O), or ``None``: then ask
        ``operator_for``."""
        entry = self._known.get(token)
        if entry is None or time.monotonic() - entry.checked >= self.recheck_s:
            return None
        if entry.expires_at <= self._clock():
            self._known.pop(token, None)
            return None
        return entry.operator_id

    def operator_for(self, token: str) -> str | None:
        """The OperatorID a live token belongs to, or ``None`` (may read the book: call it off
        the event loop)."""
        owner = self.known(token)
        if owner is not None:
            return owner
        found = self._book.tcec_token(token_hash(token), at=self._clock())
        with self._lock:
            if found is None:
                self._known.pop(token, None)
                return None
            self._known[token] = _Known(found[0], found[1], time.monotonic())
        return found[0]

    def revoke_all(self) -> None:
        """Revoke every token issued so far, in every process over the book."""
        self._book.revoke_tcec_tokens(at=self._clock())
        with self._lock:
            self._known.clear()


class ReplayGuard:
    """Refuses a request whose (OperatorID, Seq, TimeStamp) was seen before, by this process or
    any other over ``book``, and any request whose TimeStamp lies outside the window (so the
    requests kept are bounded: those older than twice the window are forgotten, which leaves a
    window's worth of margin for clocks that disagree between processes).

    Concurrent checks are written to the book together, one transaction per batch, as the status
    writer does (services/feeds/status.py): a request is let through only once its row is
    committed."""

    def __init__(
        self,
        book: RequestBook,
        window: timedelta = timedelta(seconds=DEFAULT_TOKEN_TTL_S),
        *,
        max_batch: int = 5000,
    ) -> None:
        self.window = window
        self._book = book
        self._max_batch = max_batch
        self._waiting: list[tuple[tuple[str, str, datetime], asyncio.Future[bool]]] = []
        self._writing: asyncio.Task[None] | None = None
        self._next_sweep: datetime | None = None

    async def check(self, operator_id: str, seq: str, timestamp: datetime, now: datetime) -> None:
        if abs(now - timestamp) > self.window:
            raise TcecError(
                Ret.MALFORMED,
                "TimeStamp is too far from the current time",
                reason="stale_timestamp",
            )
        new = asyncio.get_running_loop().create_future()
        self._waiting.append(((operator_id, seq, timestamp), new))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write(), name="tcec-replay-guard")
        if not await new:
            raise TcecError(
                Ret.MALFORMED,
                "replayed request: this OperatorID, Seq and TimeStamp were already used",
                reason="replay",
            )

    async def _write(self) -> None:
        """Write what waits, batch after batch, until nothing does."""
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            now = now_utc()
            forget = None
            if self._next_sweep is None or now >= self._next_sweep:
                forget = now - 2 * self.window
                self._next_sweep = now + SWEEP_EVERY
            try:
                fresh = await asyncio.to_thread(
                    self._book.remember_tcec_requests,
                    [key for key, _ in batch],
                    forget_before=forget,
                )
            except Exception as exc:  # each waiting request fails; the next batch may not
                for _, waiter in batch:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for (_, waiter), is_new in zip(batch, fresh, strict=True):
                if not waiter.done():
                    waiter.set_result(is_new)
