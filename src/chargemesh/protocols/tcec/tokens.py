"""Tokens we issue to operators, and the replay guard for their signed requests."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from chargemesh.protocols.tcec.codec import Ret, TcecError

DEFAULT_TOKEN_TTL_S = 7200


class TokenIssuer:
    """Random bearer tokens, each bound to the OperatorID it was issued to."""

    def __init__(
        self, ttl_s: int = DEFAULT_TOKEN_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def issue(self, operator_id: str) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            self._tokens[token] = (operator_id, now + self.ttl_s)
        return token

    def operator_for(self, token: str) -> str | None:
        """The OperatorID a live token belongs to, or ``None``."""
        entry = self._tokens.get(token)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def revoke_all(self) -> None:
        with self._lock:
            self._tokens.clear()


class ReplayGuard:
    """Refuses a request whose (OperatorID, Seq, TimeStamp) was seen within the window, and any
    request whose TimeStamp lies outside the window (so the memory of seen requests is bounded)."""

    def __init__(self, window: timedelta = timedelta(seconds=DEFAULT_TOKEN_TTL_S)) -> None:
        self.window = window
        self._seen: dict[tuple[str, str, datetime], datetime] = {}
        self._lock = threading.Lock()
        self._next_sweep: datetime | None = None

    def check(self, operator_id: str, seq: str, timestamp: datetime, now: datetime) -> None:
        if abs(now - timestamp) > self.window:
            raise TcecError(
                Ret.MALFORMED,
                "TimeStamp is too far from the current time",
                reason="stale_timestamp",
            )
        key = (operator_id, seq, timestamp)
        with self._lock:
            if self._next_sweep is None or now >= self._next_sweep:
                cutoff = now - self.window
                self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}
                self._next_sweep = now + timedelta(seconds=60)
            if key in self._seen:
                raise TcecError(
                    Ret.MALFORMED,
                    "replayed request: this OperatorID, Seq and TimeStamp were already used",
                    reason="replay",
                )
            self._seen[key] = timestamp
