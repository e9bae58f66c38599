"""``GET /api/v1/stations/nearby`` on the lean path: the search a map makes at every pan.

A plain ASGI route placed before the FastAPI router: the query string is read by hand with the
parameters' own declarations (:mod:`chargemesh.api.search_params`), the index is asked, and
the answer's bytes go out as orjson wrote them. What FastAPI would add per request — the
Request object, dependency solving, one pydantic call per parameter — is most of a
millisecond here and buys nothing: the documented twin in :mod:`chargemesh.api.search` keeps
the endpoint in the OpenAPI document, and the two answer alike, errors included (our 422 with
each field as ``query.<name>``, an unknown operator named).
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from chargemesh.api.errors import error_body, validation_body
from chargemesh.api.refusals import Answer, json_answer
from chargemesh.api.search import nearby_answer, unknown_operators
from chargemesh.api.search_params import FILTER_PARAMS, NEARBY_PARAMS, read_query, to_filter
from chargemesh.search.index import StationIndex

PATH: Final = "/api/v1/stations/nearby"
PARAMS: Final = FILTER_PARAMS + NEARBY_PARAMS


def query_values(query_string: bytes) -> dict[str, list[str]]:
    """Every value of each name in a query string, decoded as Starlette's ``QueryParams``
    decodes it (blank values kept, ``+`` a space, percent-escapes as UTF-8)."""
    text = query_string.decode("latin-1")
    values: dict[str, list[str]] = {}
    if "%" in text or "+" in text:
        pairs = parse_qsl(text, keep_blank_values=True)
    else:  # nothing escaped (a map's usual query): parse_qsl's answer by splitting alone
        pairs = [_split(part) for part in text.split("&") if part]
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return values


def _split(part: str) -> tuple[str, str]:
    name, _, value = part.partition("=")
    return name, value


class NearbyEndpoint:
    """The nearby search as a bare ASGI app (no Request, no dependency machinery)."""

    def __init__(self, index: StationIndex) -> None:
        self.index = index

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.answer(scope).send(send)

    def answer(self, scope: Scope) -> Answer:
        """The whole answer to the request in ``scope`` (its query string): nothing awaited."""
        values, errors = read_query(PARAMS, query_values(scope["query_string"]))
        if errors:
            return _json_refusal(validation_body(errors))
        f = to_filter(
            values["connector"], values["min_kw"], values["available"], values["operator"],
            values["access"],
        )  # fmt: skip
        unknown = unknown_operators(self.index, f)
        if unknown is not None:
            return _json_refusal(error_body(422, unknown))
        body = nearby_answer(
            self.index, f, values["lat"], values["lon"], values["radius_km"], values["limit"],
            values["coords"], values["vehicle"],
        )  # fmt: skip
        return json_answer(body)


def _json_refusal(body: dict[str, Any]) -> Answer:
    """A 422 written as the FastAPI twin's exception handler writes it (Starlette's JSON)."""
    response = JSONResponse(body, status_code=422)
    return Answer(422, response.raw_headers, bytes(response.body))


def nearby_route(endpoint: NearbyEndpoint) -> Route:
    """The route to put before the FastAPI router. GET only, as the documented twin: a HEAD is
    refused (405) by both, where Starlette would otherwise answer it."""
    route = Route(PATH, endpoint, methods=["GET"], name="stations_nearby")
    route.methods = {"GET"}
    return route
