"""Rate limits: how many requests one caller may make, answered with HTTP 429 and Retry-After.

Three kinds of caller, each with its own token bucket per key (``[rate_limits]``,
docs/configuration.md):

- anonymous search (``/api/v1/stations``, ``/api/v1/map/``, ``/api/v1/route/``, the event
  streams): per client address, by :class:`SearchRateLimit`, a pure ASGI middleware that refuses
  before any route runs;
- drivers: per account, once the access token is verified (``Guards.driver``);
- operators' pushes: per operator, once the request is authenticated (T/CEC by OperatorID in
  ``api/tcec.py``, OCPI by party in ``api/ocpi.py``) — never by what an unauthenticated caller
  claims, so nobody can spend another operator's allowance.

The buckets live in this process's memory: each node (and each worker process) counts alone,
so a cluster of N nodes lets a caller N times the rate. O(1) per request; at most ``max_keys``
keys are kept, the least recently seen dropped first (a dropped key starts again full).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from chargemesh.api.refusals import Answer, refusal
from chargemesh.config import RateLimitsConfig
from chargemesh.metrics import REGISTRY

#: the anonymous search paths limited per client address
SEARCH_PATHS: Final = ("/api/v1/stations", "/api/v1/map/", "/api/v1/route/", "/api/v1/events")

REFUSED: Final = Counter(
    "chargemesh_rate_limited",
    "Requests refused with 429 by a rate limit, by kind of caller (search, driver, push)",
    ["limit"],
    registry=REGISTRY,
)


class TokenBuckets:
    """One token bucket per key: ``per_s`` tokens a second, at most ``burst`` saved up."""

    __slots__ = ("_buckets", "_clock", "_refused", "burst", "max_keys", "per_s")

    def __init__(
        self,
        per_s: float,
        burst: int,
        *,
        name: str,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_s = per_s
        self.burst = float(max(burst, 1))
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # key -> [tokens, at]
        self._refused = REFUSED.labels(name)

    def wait_s(self, key: str) -> int:
        """0 when ``key`` may make one more request now (and it is counted); otherwise the
        whole seconds until it may (for ``Retry-After``), and nothing is counted."""
        now = self._clock()
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            if len(buckets) >= self.max_keys:
                buckets.popitem(last=False)  # the least recently seen
            buckets[key] = [self.burst - 1.0, now]
            return 0
        buckets.move_to_end(key)
        tokens = bucket[0] + (now - bucket[1]) * self.per_s
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0
        bucket[0] = tokens
        self._refused.inc()
        return max(1, math.ceil((1.0 - tokens) / self.per_s))

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The node's buckets; None where ``[rate_limits]`` switches a limit off (0)."""

    search: TokenBuckets | None
    driver: TokenBuckets | None
    push: TokenBuckets | None

    @classmethod
    def from_config(cls, config: RateLimitsConfig) -> RateLimits:
        def buckets(name: str, per_s: float, burst: int) -> TokenBuckets | None:
            if per_s <= 0:
                return None
            return TokenBuckets(per_s, burst or math.ceil(per_s), name=name,
                                max_keys=config.max_keys)  # fmt: skip

        return cls(
            search=buckets("search", config.search_per_s, config.search_burst),
            driver=buckets("driver", config.driver_per_s, config.driver_burst),
            push=buckets("push", config.push_per_s, config.push_burst),
        )

    @classmethod
    def off(cls) -> RateLimits:
        return cls(None, None, None)


class SearchRateLimit:
    """Anonymous search limited per client address (``scope["client"]``: behind a proxy, the
    address uvicorn takes from X-Forwarded-For when the proxy is trusted, see
    ``--forwarded-allow-ips``). Loopback is limited like any other address."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].startswith(SEARCH_PATHS)
            and await refused_search(self.buckets, scope, send)
        ):
            return
        await self.app(scope, receive, send)


def search_refusal(buckets: TokenBuckets, scope: Scope) -> Answer | None:
    """The refusal (429, ``Retry-After``) of a search from an address whose allowance is spent,
    or None: the search may go on."""
    client = scope.get("client")
    wait = buckets.wait_s(client[0] if client else "")
    if not wait:
        return None
    return refusal(
        scope["path"], 429, "too many requests from this address",
        advice=f"retry after {wait} s", retry_after_s=wait,
    )  # fmt: skip


async def refused_search(buckets: TokenBuckets, scope: Scope, send: Send) -> bool:
    """Answer :func:`search_refusal` if there is one; True if the search was refused."""
    refused = search_refusal(buckets, scope)
    if refused is not None:
        await refused.send(send)
    return refused is not None
