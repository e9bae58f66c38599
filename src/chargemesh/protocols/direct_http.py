"""The HTTP server's protocol: uvicorn's (httptools), answering the app's direct GETs itself.

Between the socket and an ASGI app, uvicorn spends ≈ 70 µs a request on this machine (a
trivial app answers in 0.09 ms one request at a time; a bare asyncio protocol in 0.02 ms): a
request/response cycle object, an event, a task scheduled on the loop, the proxy-headers layer,
two ``send`` messages checked header by header. For the search a map makes at every pan that is
as much as the search itself. The app names the GETs whose whole answer it computes without
awaiting anything (``PlatformApp.direct_gets``: the nearby search with its rate limit and
metrics, ``api/lanes.py``); :class:`DirectHttp` answers those on the connection itself, as
soon as the request is read, with the same bytes the ASGI path sends (uvicorn's default
headers, ``connection: close`` when either side asks for it).

Everything else, and a direct path whenever answering at once could differ from what the
ASGI path does, goes to uvicorn's own handling: a request with a body or ``Expect``, an
upgrade, percent-escapes in the path, a request behind one still being answered (pipelined:
answers keep their order), a connection whose writes are paused (the client is not reading:
the ASGI path waits for it), a ``root_path`` or a concurrency limit. Headers a trusted proxy
sets (``X-Forwarded-For``/``-Proto``) are applied by uvicorn's own middleware.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import httptools
from starlette.types import Scope
from uvicorn.config import Config
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string
from uvicorn.server import ServerState

log = logging.getLogger(__name__)

#: request headers that make a GET take uvicorn's path: a body to read, a 100-continue to send
BODY_HEADERS: Final = frozenset({b"content-length", b"transfer-encoding", b"expect"})
FORWARDED: Final = (b"x-forwarded-for", b"x-forwarded-proto")
INTERNAL_ERROR: Final = (
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 21\r\nconnection: close\r\n"
    b"\r\nInternal Server Error"
)


class DirectAnswer(Protocol):
    """A whole answer computed before anything is sent (``api.refusals.Answer``)."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> list[tuple[bytes, bytes]]: ...
    @property
    def body(self) -> bytes: ...


DirectGet = Callable[[Scope], DirectAnswer]


async def _scope_only(scope: Any, receive: Any, send: Any) -> None:
    """The app behind the proxy-headers middleware when only its change of the scope is
    wanted."""


@functools.cache
def _proxy_headers(trusted: str | tuple[str, ...]) -> ProxyHeadersMiddleware:
    hosts = trusted if isinstance(trusted, str) else list(trusted)
    return ProxyHeadersMiddleware(_scope_only, trusted_hosts=hosts)


def apply_proxy_headers(config: Config, scope: Scope) -> None:
    """What uvicorn's proxy-headers middleware does to ``scope`` (the client's address and
    scheme from a trusted proxy's headers), done here without an event loop turn: the
    middleware awaits nothing but the app, and the app here returns at once."""
    trusted = config.forwarded_allow_ips
    middleware = _proxy_headers(trusted if isinstance(trusted, str) else tuple(trusted))
    step = middleware(scope, _no_receive, _no_send)  # type: ignore[arg-type]
    try:
        step.send(None)
    except StopIteration:
        return
    step.close()
    raise RuntimeError("the proxy-headers middleware awaited: it cannot be applied at once")


async def _no_receive() -> Any:
    raise RuntimeError("a direct GET has no body to receive")


async def _no_send(message: Any) -> None:
    raise RuntimeError("a direct GET is answered by its protocol")


class DirectHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol; the app's direct GETs answered on the connection."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        gets = getattr(config.app, "direct_gets", None)
        direct: Mapping[str, DirectGet] = gets() if callable(gets) else {}
        if config.root_path or config.limit_concurrency is not None:
            direct = {}
        self.direct = direct
        self.pending: DirectGet | None = None
        self.pending_keep_alive = True

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.pending = None

    def on_headers_complete(self) -> None:
        self.pending = self._direct_get() if self.direct else None
        if self.pending is None:
            super().on_headers_complete()

    def on_message_complete(self) -> None:
        get, self.pending = self.pending, None
        if get is None:
            super().on_message_complete()
        else:
            self._answer(get)

    def _direct_get(self) -> DirectGet | None:
        """The direct GET this request is, its scope completed; None: uvicorn's path."""
        parser = self.parser
        if parser.get_method() != b"GET" or parser.should_upgrade() or self.flow.write_paused:
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None  # pipelined behind a request still being answered: keep the order
        for name, _ in self.headers:
            if name in BODY_HEADERS:
                return None
        url = httptools.parse_url(self.url)
        raw_path: bytes = url.path
        if b"%" in raw_path:
            return None
        path = raw_path.decode("ascii")
        get = self.direct.get(path)
        if get is None:
            return None
        version = parser.get_http_version()
        scope = self.scope
        scope["method"] = "GET"
        if version != "1.1":
            scope["http_version"] = version
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = url.query or b""
        self.pending_keep_alive = version != "1.0" and parser.should_keep_alive()
        return get

    def _answer(self, get: DirectGet) -> None:
        scope: Scope = self.scope  # type: ignore[assignment]
        keep_alive = self.pending_keep_alive
        try:
            if self.config.proxy_headers and any(n in FORWARDED for n, _ in self.headers):
                apply_proxy_headers(self.config, scope)
            answer = get(scope)
            status: int = answer.status
            content = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                content += (name, b": ", value, b"\r\n")
            closes = False
            for name, value in answer.headers:
                if name == b"connection" and b"close" in value.lower():
                    closes = True
                content += (name, b": ", value, b"\r\n")
            keep_alive = keep_alive and not closes
            if not keep_alive and not closes:
                content.append(b"connection: close\r\n")
            content += (b"\r\n", answer.body)
        except Exception:
            log.exception("GET %s failed", scope.get("path"))
            status, keep_alive = 500, False
            content = [STATUS_LINE[500], INTERNAL_ERROR]
        if self.access_log:
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d', get_client_addr(scope), "GET",  # type: ignore[arg-type]
                get_path_with_query_string(scope), scope["http_version"], status,  # type: ignore[arg-type]
            )  # fmt: skip
        self.transport.write(b"".join(content))
        if not keep_alive:
            self.transport.close()
        self._unset_keepalive_if_required()
        self.on_response_complete()
