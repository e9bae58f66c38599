"""Server plumbing shared by both OCPI roles' FastAPI apps.

Every answer is an OCPI envelope, errors included: an :class:`OcpiError` keeps its HTTP status
and status code, FastAPI's own validation errors become 2001, an unknown path 2000 with 404.
``X-Request-ID`` and ``X-Correlation-ID`` are echoed on every response.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chargemesh.protocols.json_input import JsonTooDeep, loads
from chargemesh.protocols.ocpi.transport import OcpiError, StatusCode, envelope

__all__ = ["ECHOED_HEADERS", "error_response", "install", "ocpi_response", "read_json"]

log = logging.getLogger(__name__)

ECHOED_HEADERS = ("X-Request-ID", "X-Correlation-ID")


def ocpi_response(
    data: Any = None,
    *,
    status_code: int = StatusCode.SUCCESS,
    message: str | None = None,
    http_status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = orjson.dumps(envelope(data, status_code, message))
    return Response(
        body, status_code=http_status, media_type="application/json", headers=dict(headers or {})
    )


def error_response(exc: OcpiError) -> Response:
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
    return ocpi_response(
        status_code=exc.status_code, message=str(exc), http_status=exc.http_status,
        headers=headers,
    )  # fmt: skip


async def read_json(request: Request) -> Any:
    """The request body as JSON; an empty or unreadable body, or one nested deeper than any
    OCPI object, is OCPI 2001."""
    body = await request.body()
    if not body:
        raise OcpiError(StatusCode.INVALID_PARAMETERS, "a JSON body is required")
    try:
        return loads(body)
    except JsonTooDeep as exc:
        raise OcpiError(StatusCode.INVALID_PARAMETERS, f"the body is {exc}") from None
    except ValueError:
        raise OcpiError(StatusCode.INVALID_PARAMETERS, "the body is not valid JSON") from None


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid parameters"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))


def install(app: FastAPI) -> None:
    """Envelopes for every error and request-id echo, on ``app``."""

    async def ocpi_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, OcpiError)
        return error_response(exc)

    async def validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return ocpi_response(
            status_code=StatusCode.INVALID_PARAMETERS,
            message=_validation_message(exc),
            http_status=400,
        )

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return ocpi_response(
            status_code=StatusCode.CLIENT_ERROR,
            message=str(exc.detail),
            http_status=exc.status_code,
        )

    app.add_exception_handler(OcpiError, ocpi_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)

    app.add_middleware(EchoRequestIds)


class EchoRequestIds:
    """Echo ``X-Request-ID`` and ``X-Correlation-ID`` on the response. Plain ASGI: Starlette's
    ``BaseHTTPMiddleware`` costs a task and a stream per request on the push hot path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = {name.lower().encode() for name in ECHOED_HEADERS}
        echoed = [(k, v) for k, v in scope["headers"] if k in wanted]
        if not echoed:
            await self.app(scope, receive, send)
            return

        async def send_echoing(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in echoed if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_echoing)
