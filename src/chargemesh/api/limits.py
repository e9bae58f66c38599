"""Request bodies bounded before they are read, each by what its caller may need to send: a T/CEC
call, an OCPI object, a driver's request, an operations team's import, a firmware image
([limits] in the config, docs/configuration.md).

A body declared larger than its limit (``Content-Length``) is refused at once, unread; a body
sent in chunks (no ``Content-Length``) is counted as it arrives and refused at the first chunk
past the limit, nothing more being read. Either way the caller gets HTTP 413 in its own protocol
(:mod:`chargemesh.api.refusals`: the T/CEC envelope with ``Ret`` 4003, the OCPI envelope with
status 2000, our JSON error) and nothing is changed: the route never sees a whole body.

A JSON body of our own API is also refused (400, our JSON error) when it nests deeper than any
request of ours (:mod:`chargemesh.protocols.json_input`): FastAPI parses it with the standard
library, which recurses. The protocol endpoints check nesting where they parse.

GET, HEAD and OPTIONS pass untouched: no route reads their body (the server drops one as it
arrives, holding no more than its read buffer), and the nearby search must not pay for this.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chargemesh.api.refusals import OCPI_PREFIX, TCEC_PREFIX, send_refusal
from chargemesh.config import BodyLimitsConfig
from chargemesh.protocols.json_input import MAX_DEPTH, JsonTooDeep, check_depth

__all__ = ["BodyLimits"]

#: methods whose body no route reads
BODILESS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
FIRMWARE_UPLOAD: Final = "/api/v1/ops/firmware"
OPS_PREFIX: Final = "/api/v1/ops/"


class _Refused(Exception):
    """Raised into the route by ``receive`` once the body is refused; the route's own answer
    to it is dropped for the refusal."""


class BodyLimits:
    """Pure ASGI middleware: the limits of ``limits`` on every request with a body."""

    def __init__(self, app: ASGIApp, limits: BodyLimitsConfig) -> None:
        self.app = app
        self._limits = limits

    def limit_for(self, path: str) -> int:
        """The most a request to ``path`` may send (bytes)."""
        limits = self._limits
        if path.startswith(TCEC_PREFIX):
            return limits.tcec_bytes
        if path.startswith(OCPI_PREFIX):
            return limits.ocpi_bytes
        if path.startswith(OPS_PREFIX):
            return limits.firmware_bytes if path == FIRMWARE_UPLOAD else limits.ops_bytes
        return limits.api_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODILESS:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.limit_for(path)
        declared: int | None = None
        json_body = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None
            elif name == b"content-type":
                json_body = b"json" in value.lower()
        if declared is not None and declared > limit:
            await send_refusal(send, path, 413, _too_large(limit))
            return
        ours = not path.startswith((TCEC_PREFIX, OCPI_PREFIX))
        if declared is not None and not (json_body and ours):
            await self.app(scope, receive, send)  # the server delivers no more than declared
            return
        body = _GuardedBody(receive, send, limit, depth_checked=json_body and ours)
        try:
            await self.app(scope, body.receive, body.send)
        except Exception:
            if body.refusal is None:
                raise
        if body.refusal is not None and not body.started:
            status, reason = body.refusal
            await send_refusal(send, path, status, reason)


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes, the most this endpoint takes"


class _GuardedBody:
    """One request's ``receive`` counting the body (and, for our API's JSON, checking its
    nesting once whole), and its ``send`` that drops the route's answer once refused."""

    def __init__(self, receive: Receive, send: Send, limit: int, *, depth_checked: bool):
        self._receive = receive
        self._send = send
        self._limit = limit
        self._seen = 0
        self._brackets = 0
        self._chunks: list[bytes] | None = [] if depth_checked else None
        self.refusal: tuple[int, str] | None = None
        self.started = False

    async def receive(self) -> Message:
        if self.refusal is not None:
            raise _Refused
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        chunk: bytes = message.get("body", b"")
        self._seen += len(chunk)
        if self._seen > self._limit:
            self._refuse(413, _too_large(self._limit))
        if self._chunks is not None:
            self._check_nesting(chunk, more=message.get("more_body", False))
        return message

    def _check_nesting(self, chunk: bytes, *, more: bool) -> None:
        """Kept (referenced: the route holds them anyway) until the body is whole; scanned only
        when it has more opening brackets than it may nest."""
        assert self._chunks is not None
        self._chunks.append(chunk)
        self._brackets += chunk.count(b"[") + chunk.count(b"{")
        if more or self._brackets <= MAX_DEPTH:
            return
        whole = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = None
        try:
            check_depth(whole)
        except JsonTooDeep as exc:
            self._refuse(400, f"the request body is {exc}")
        except ValueError:
            return  # not JSON: the route says so

    def _refuse(self, status: int, reason: str) -> None:
        self.refusal = (status, reason)
        raise _Refused

    async def send(self, message: Message) -> None:
        if self.refusal is not None:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)
