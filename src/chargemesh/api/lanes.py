"""The hot paths, ahead of the middleware stack: the nearby search a map makes at every pan and
the T/CEC calls operators push statuses with.

:class:`HotLanes` is the app's outermost layer (``api/app.py``'s ``PlatformApp``). A request on
a hot path goes straight to its endpoint, with what the middleware stack would have done to it
done here:

* the latency in the request histogram, under the route's template (``/tcec/v1/{interface}``);
* a failure answered 500 in the caller's protocol (our JSON, a T/CEC envelope) and logged;
* nearby: the search rate limit per client address (429); the body limits let a GET pass
  unread, as here;
* T/CEC: only a body whose declared length is within ``[limits] tcec_bytes`` (anything else,
  chunked or too long, takes the stack and its body limits); the operator's rate limit is the
  endpoint's own, after its signature.

Everything else goes through the stack. The layers skipped (routing past the other routes,
the body limits, the exception middlewares, FastAPI's exit stack) cost each request ≈ 30 µs: a
nearby search takes ≈ 100 µs in the app, a status push ≈ 350 µs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from chargemesh.api.metrics import SentStatus, status_class
from chargemesh.api.nearby import PATH as NEARBY_PATH
from chargemesh.api.nearby import NearbyEndpoint
from chargemesh.api.ratelimit import TokenBuckets, search_refusal
from chargemesh.api.refusals import Answer, refusal, send_refusal
from chargemesh.api.tcec import CALLS as TCEC_CALLS
from chargemesh.api.tcec import TcecPlatformEndpoints
from chargemesh.metrics import HTTP_REQUESTS, LatencySeries

log = logging.getLogger(__name__)

TCEC_TEMPLATE: Final = f"{TCEC_CALLS}{{interface}}"

Lane = Callable[[Scope, Receive, Send], Awaitable[None]]


class HotLanes:
    def __init__(
        self,
        stack: ASGIApp,
        nearby: NearbyEndpoint,
        search_buckets: TokenBuckets | None,
        tcec: TcecPlatformEndpoints,
        tcec_bytes: int,
    ) -> None:
        self.stack = stack
        self.nearby = nearby
        self.search_buckets = search_buckets
        self.tcec = tcec
        self.tcec_bytes = tcec_bytes
        self._series: dict[tuple[str, str, int], LatencySeries] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            method: str = scope["method"]
            if path == NEARBY_PATH and method == "GET":
                await self.nearby_answer(scope).send(send)
                return
            if method == "POST" and path.startswith(TCEC_CALLS) and self._tcec_fits(scope):
                await self._timed(TCEC_TEMPLATE, scope, receive, send, self.tcec.call)
                return
        await self.stack(scope, receive, send)

    def _tcec_fits(self, scope: Scope) -> bool:
        """One interface name after the prefix, and a declared body within the limit."""
        interface = scope["path"][len(TCEC_CALLS) :]
        if not interface or "/" in interface:
            return False
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                return False
        return declared is not None and declared <= self.tcec_bytes

    async def _timed(
        self, template: str, scope: Scope, receive: Receive, send: Send, lane: Lane
    ) -> None:
        started = time.perf_counter()
        sending = SentStatus(send)
        try:
            await lane(scope, receive, sending)
        except Exception:
            log.exception("%s %s failed", scope["method"], template)
            if sending.status == 0:
                await send_refusal(sending, scope["path"], 500, "internal error")
        finally:
            self._observe(template, scope["method"], sending.status, started)

    def nearby_answer(self, scope: Scope) -> Answer:
        """The nearby lane's whole answer, computed without awaiting anything: the search rate
        limit, the search, a failure as our JSON 500 (logged); timed into the histogram. The
        ASGI lane sends it; ``protocols/direct_http.py`` writes it straight to the connection."""
        started = time.perf_counter()
        try:
            refused = None if self.search_buckets is None else search_refusal(
                self.search_buckets, scope
            )  # fmt: skip
            answer = self.nearby.answer(scope) if refused is None else refused
        except Exception:
            log.exception("GET %s failed", NEARBY_PATH)
            answer = refusal(scope["path"], 500, "internal error")
        self._observe(NEARBY_PATH, "GET", answer.status, started)
        return answer

    def direct_gets(self) -> dict[str, Callable[[Scope], Answer]]:
        """The GETs answered without awaiting, by path."""
        return {NEARBY_PATH: self.nearby_answer}

    def _observe(self, template: str, method: str, status: int, started: float) -> None:
        key = (template, method, status // 100)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = HTTP_REQUESTS.labels(
                template, method, status_class(status)
            )
        series.observe(time.perf_counter() - started)
