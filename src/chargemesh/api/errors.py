"""One shape for every 4xx of our own API (``/api/…``), documented in docs/api-errors.md:

    {"detail": {"code": "not_found", "reason": "no station 'x'", "advice": null, "errors": []}}

``code`` is stable for programs, ``reason`` is for people, ``advice`` says what to do instead
(when there is something), ``errors`` lists the fields a request got wrong (422 only). The
protocol endpoints keep their protocols' own errors (OCPI status codes, T/CEC ``Ret``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

API_PREFIX: Final = "/api/"

#: the ``code`` of an error raised with only a message
DEFAULT_CODES: Final[Mapping[int, str]] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class FieldError(BaseModel):
    field: str  # where, e.g. "query.lat" or "body.vin"
    message: str


class ErrorDetail(BaseModel):
    code: str
    reason: str
    advice: str | None = None
    errors: list[FieldError] = []


class ErrorOut(BaseModel):
    """The body of every 4xx answer of the driver and search API."""

    detail: ErrorDetail


#: what the OpenAPI schema says of every route of our API
RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    status: {"model": ErrorOut, "description": f"{code}: see docs/api-errors.md"}
    for status, code in DEFAULT_CODES.items()
    if status in (404, 409, 422)
}


#: what a middleware may answer before any route (docs/api-errors.md): a body too large for
#: its endpoint (only where a route takes one), too many requests from one caller
_BEFORE_ANY_ROUTE: Final[Mapping[int, str]] = {
    413: "too_large: the body is larger than this endpoint takes",
    429: "too_many_requests: slow down, see Retry-After",
}
#: 400 is a request that cannot be read at all: a body that is not UTF-8 or a broken form (our
#: shape), or a URL of 64 KiB or more, which the HTTP server refuses in plain text
_UNREADABLE: Final = "bad_request: a body that cannot be read, or a URL of 64 KiB or more"


def amend_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document says what the API answers, not only what its routes declare:
    400 for a request that cannot be read, 413 for a body too large, 429 for a caller over
    its rate; and every 4xx of ``/api/`` carries the one error shape."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    unreadable = {**error, "text/plain": {"schema": {"type": "string"}}}
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for operation in operations.values():
            answers: dict[str, Any] = operation.setdefault("responses", {})
            answers.setdefault("400", {"description": _UNREADABLE, "content": unreadable})
            for refused, description in _BEFORE_ANY_ROUTE.items():
                if refused != 413 or "requestBody" in operation:
                    answers.setdefault(str(refused), {"description": description})
            for status, answer in answers.items():
                if status.startswith("4") and "content" not in answer:
                    answer["content"] = error
    return schema


def _code(status: int) -> str:
    return DEFAULT_CODES.get(status, "error" if status >= 500 else "client_error")


def error_body(status: int, detail: Any) -> dict[str, Any]:
    """Any detail an endpoint or the framework raised, in the one shape."""
    if isinstance(detail, Mapping):
        reason = detail.get("reason") or detail.get("message") or _code(status)
        out = ErrorDetail(
            code=str(detail.get("code") or _code(status)),
            reason=str(reason),
            advice=detail.get("advice"),
        )
    else:
        out = ErrorDetail(code=_code(status), reason=str(detail))
    return ErrorOut(detail=out).model_dump()


def _field(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def validation_body(errors: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    fields = [
        FieldError(field=_field(e.get("loc", ())), message=str(e.get("msg", "invalid")))
        for e in errors
    ]
    reason = "; ".join(f"{f.field}: {f.message}" for f in fields) or "invalid request"
    detail = ErrorDetail(code=DEFAULT_CODES[422], reason=reason, errors=fields)
    return ErrorOut(detail=detail).model_dump()


def install(app: FastAPI) -> None:
    """Answer 4xx under ``/api/`` in the one shape; elsewhere FastAPI's own handlers stay. The
    published schema (``/openapi.json``) is amended to say so (:func:`amend_schema`)."""

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not request.url.path.startswith(API_PREFIX):
            return await http_exception_handler(request, exc)
        return JSONResponse(
            error_body(exc.status_code, exc.detail),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not request.url.path.startswith(API_PREFIX):
            return await request_validation_exception_handler(request, exc)
        return JSONResponse(validation_body(exc.errors()), status_code=422)

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)

    routes_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = amend_schema(routes_schema())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
