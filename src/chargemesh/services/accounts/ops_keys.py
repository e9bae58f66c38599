"""The operations team's keys: ``cm_<prefix>_<secret>``, shown once when made, kept as the
SHA-256 of the whole key and found by its prefix. A revoked key is refused on the next request
on every node (each request looks the key up in the store)."""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from chargemesh.domain.accounts import OpsKey
from chargemesh.services.accounts.tokens import digest
from chargemesh.store import Store, StoreIntegrityError

KEY: Final = re.compile(r"^cm_([0-9a-f]{12})_([A-Za-z0-9_-]{32,64})$")
#: last use is written at most this often per key (not on every request)
TOUCH_EVERY: Final = timedelta(minutes=1)


class OpsKeys:
    def __init__(self, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.store = store
        self.clock = clock

    def create(self, name: str) -> tuple[OpsKey, str]:
        """A new key named ``name``: (what is kept, the key itself — show it once)."""
        name = name.strip()
        if not name or len(name) > 100:
            raise ValueError("a key's name is 1 to 100 characters")
        for _ in range(5):
            prefix = secrets.token_hex(6)
            key = f"cm_{prefix}_{secrets.token_urlsafe(32)}"
            kept = OpsKey(prefix, name, digest(key), self.clock())
            try:
                self.store.create_ops_key(kept)
            except StoreIntegrityError:  # that prefix exists: draw another
                continue
            return kept, key
        raise RuntimeError("could not draw an unused key prefix")

    def verify(self, key: str) -> OpsKey | None:
        """The live key ``key`` is, or None (malformed, unknown, wrong secret, revoked)."""
        found = KEY.match(key)
        if found is None:
            return None
        kept = self.store.ops_key(found.group(1))
        if kept is None or kept.revoked_at is not None:
            return None
        if not hmac.compare_digest(kept.key_hash, digest(key)):
            return None
        now = self.clock()
        if kept.last_used_at is None or now - kept.last_used_at >= TOUCH_EVERY:
            self.store.ops_key_used(kept.prefix, at=now)
        return kept

    def list(self) -> list[OpsKey]:
        return self.store.ops_keys()

    def revoke(self, prefix_or_name: str) -> int:
        return self.store.revoke_ops_keys(prefix_or_name.strip(), at=self.clock())
