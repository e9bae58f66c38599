"""The HTTP side of one OCPI peer connection, used by both roles: our eMSP calling a CPO, and the
simulated CPO pushing to an eMSP.

:class:`OcpiClient` sends ``Authorization: Token <base64>`` (raw when ``raw_token`` is set, for
peers that want 2.1.1-style tokens), a fresh ``X-Request-ID`` and ``X-Correlation-ID`` on every
request, and the ``OCPI-from-*``/``OCPI-to-*`` routing headers on functional modules only (not on
versions or credentials).

Every failure is an :class:`OcpiPeerError`: HTTP errors, envelopes whose ``status_code`` is not
1000, unreadable bodies, timeouts and connection failures. Its message names the URL and what went
wrong, never the token. 401 and 403 both mean "unauthorized" (real peers answer 403).

:meth:`OcpiClient.pages` walks a paginated list by its ``Link`` headers. It tolerates an empty
``Link`` (the last page) and a ``Link`` on another host (its query parameters are applied to the
URL we were given). A page that fails is retried with backoff at the same offset; when it keeps
failing the error carries ``resume_offset`` so a later pull can continue there. Items that do not
parse are skipped one by one and counted in ``Page.rejected``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, NamedTuple, TypeVar
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel

from chargemesh.protocols.bounded import FetchLimits, bounded_request
from chargemesh.protocols.json_input import loads
from chargemesh.protocols.ocpi.enums import CommandType
from chargemesh.protocols.ocpi.models import (
    AuthorizationInfo,
    CommandResponse,
    Credentials,
    LocationReferences,
    Version,
    VersionDetails,
    dump,
    parse,
)
from chargemesh.protocols.ocpi.transport import (
    OcpiError,
    StatusCode,
    format_datetime,
    next_link,
    query_params,
    request_headers,
)

__all__ = [
    "OcpiClient",
    "OcpiPeerError",
    "Page",
    "join_url",
]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

#: Envelope codes that mean "no such object" on a GET by id.
_NOT_FOUND_CODES: Final = frozenset({StatusCode.UNKNOWN_LOCATION, StatusCode.UNKNOWN_TOKEN})
_MESSAGE_MAX: Final = 200
#: How often one pull reads again after the list changed under it (then it goes on as it is).
MAX_STEP_BACKS: Final = 50


class OcpiPeerError(Exception):
    """A call to a peer that failed. ``str(exc)`` names the URL and the failure, never a token.

    ``http_status`` is ``None`` when no response came (timeout, connection refused);
    ``status_code`` is the envelope's OCPI code when there was one; ``resume_offset`` is set by
    :meth:`OcpiClient.pages`: the offset of the page that kept failing.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        http_status: int | None = None,
        status_code: int | None = None,
        resume_offset: int | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.http_status = http_status
        self.status_code = status_code
        self.resume_offset = resume_offset

    @property
    def unauthorized(self) -> bool:
        """The peer refused our token: 401 per spec, 403 from some implementations."""
        return self.http_status in (401, 403)

    @property
    def not_found(self) -> bool:
        return self.http_status == 404 or self.status_code in _NOT_FOUND_CODES


@dataclass(slots=True)
class Page(Generic[M]):
    """One page of a paginated list.

    ``offset`` is the offset this page was asked at; ``total`` (``X-Total-Count``) and ``limit``
    (``X-Limit``) are ``None`` when the peer left them out; ``next_offset`` is ``None`` on the
    last page; ``rejected`` counts the items that did not parse (skipped).
    """

    items: list[M]
    offset: int
    total: int | None
    limit: int | None
    next_offset: int | None
    rejected: int = 0


class _PageAnswer(NamedTuple):
    data: list[Any]
    headers: httpx.Headers


def join_url(base: str, *segments: str) -> str:
    """``base`` and path segments with exactly one ``/`` between them, whether ``base`` ends with
    a slash or not (receiver URLs end with one, quirk 8). Segments are percent-encoded."""
    tail = "/".join(quote(str(s).strip("/"), safe="") for s in segments)
    return f"{base.rstrip('/')}/{tail}" if tail else base


def _with_query(url: str, params: Mapping[str, str | int | None]) -> str:
    """``url`` with ``params`` set in its query (other parameters kept; ``None`` removes one)."""
    parts = urlsplit(url)
    query = query_params(url)
    for key, value in params.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme.lower(), pa.netloc.lower()) == (pb.scheme.lower(), pb.netloc.lower())


def _int_param(url: str, name: str) -> int | None:
    value = query_params(url).get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number >= 0 else None


def _item_id(raw: Any) -> str:
    if isinstance(raw, Mapping):
        for key in ("id", "uid"):
            value = raw.get(key)
            if isinstance(value, str | int):
                return str(value)[:64]
    return "?"


class OcpiClient:
    """Calls to one peer. ``token`` is the credentials token the peer issued to us (a plain
    attribute: it changes on registration and rotation). ``own_party`` is our (country_code,
    party_id), sent as ``OCPI-from-*`` on functional modules."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: str,
        *,
        own_party: tuple[str, str] | None = None,
        retries: int = 3,
        backoff_s: float = 0.2,
        raw_token: bool = False,
        limits: FetchLimits | None = None,
    ) -> None:
        if retries < 0 or backoff_s < 0:
            raise ValueError("retries and backoff_s must not be negative")
        self.token = token
        self.own_party = own_party
        self.raw_token = raw_token
        self._http = http
        self._retries = retries
        self._backoff_s = backoff_s
        #: how large and how slow one answer may be: it is streamed and dropped past either
        self.limits = limits or FetchLimits()

    # ------------------------------------------------------------------ plumbing

    def _headers(self, *, functional: bool, to_party: tuple[str, str] | None) -> dict[str, str]:
        if functional:
            headers = request_headers(self.token, to_party=to_party, from_party=self.own_party)
        else:
            headers = request_headers(self.token)
        if self.raw_token:
            headers["Authorization"] = f"Token {self.token}"
        return headers

    def _redact(self, text: str) -> str:
        text = text[:_MESSAGE_MAX]
        if self.token:
            text = text.replace(self.token, "***")
            encoded = self._headers(functional=False, to_party=None)["Authorization"]
            text = text.replace(encoded.removeprefix("Token "), "***")
        return text

    async def _send(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        has_body: bool = False,
        functional: bool = True,
        to_party: tuple[str, str] | None = None,
    ) -> httpx.Response:
        headers = self._headers(functional=functional, to_party=to_party)
        try:
            if has_body:
                return await bounded_request(
                    self._http, method, url, self.limits, json=body, headers=headers
                )
            return await bounded_request(self._http, method, url, self.limits, headers=headers)
        except httpx.TimeoutException as exc:
            raise OcpiPeerError(f"{method} {url}: timeout ({self._cause(exc)})", url=url) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise OcpiPeerError(
                f"{method} {url}: transport failure ({self._cause(exc)})", url=url
            ) from None

    def _cause(self, exc: Exception) -> str:
        """The failure's kind and its own words (too large, refused address, TLS), for our logs
        and feed health; the token never appears."""
        said = str(exc)
        return f"{type(exc).__name__}: {self._redact(said)}" if said else type(exc).__name__

    def _envelope(
        self, method: str, url: str, response: httpx.Response, *, body_required: bool = True
    ) -> dict[str, Any]:
        """The response envelope after checking HTTP and OCPI status; ``{}`` for an empty 2xx
        body when ``body_required`` is false."""
        payload: Any = None
        if response.content:
            try:
                payload = loads(response.content)  # nesting bounded
            except ValueError:
                payload = None
        status_code: int | None = None
        message = ""
        if isinstance(payload, dict):
            raw_code = payload.get("status_code")
            status_code = raw_code if isinstance(raw_code, int) else None
            raw_message = payload.get("status_message")
            message = self._redact(raw_message) if isinstance(raw_message, str) else ""
        if not response.is_success:
            detail = f" OCPI {status_code}" if status_code is not None else ""
            detail += f": {message}" if message else ""
            raise OcpiPeerError(
                f"{method} {url}: HTTP {response.status_code}{detail}",
                url=url,
                http_status=response.status_code,
                status_code=status_code,
            )
        if not response.content and not body_required:
            return {}
        if not isinstance(payload, dict):
            raise OcpiPeerError(
                f"{method} {url}: the body is not an OCPI envelope",
                url=url,
                http_status=response.status_code,
            )
        if status_code is None and body_required:
            raise OcpiPeerError(
                f"{method} {url}: the envelope has no status_code",
                url=url,
                http_status=response.status_code,
            )
        if status_code is not None and status_code != StatusCode.SUCCESS:
            raise OcpiPeerError(
                f"{method} {url}: OCPI {status_code}" + (f": {message}" if message else ""),
                url=url,
                http_status=response.status_code,
                status_code=status_code,
            )
        return payload

    async def _data(
        self, method: str, url: str, *, functional: bool, body: Any = None, has_body: bool = False
    ) -> Any:
        response = await self._send(
            method, url, body=body, has_body=has_body, functional=functional
        )
        return self._envelope(method, url, response).get("data")

    def _model(self, model_cls: type[M], data: Any, url: str) -> M:
        try:
            return parse(model_cls, data)
        except OcpiError as exc:
            raise OcpiPeerError(
                f"{url}: the answer is not a valid {model_cls.__name__} ({exc})", url=url
            ) from None

    # ------------------------------------------------------------------ versions, credentials

    async def get_versions(self, url: str) -> list[Version]:
        data = await self._data("GET", url, functional=False)
        if not isinstance(data, list):
            raise OcpiPeerError(f"GET {url}: data is not a list of versions", url=url)
        return [self._model(Version, item, url) for item in data]

    async def get_version_details(self, url: str) -> VersionDetails:
        data = await self._data("GET", url, functional=False)
        return self._model(VersionDetails, data, url)

    @staticmethod
    def endpoints(details: VersionDetails) -> dict[tuple[str, str], str]:
        """``{(module identifier, role): url}`` of a version's details, e.g.
        ``("locations", "SENDER")``. The enums are ``str`` subclasses, so
        ``(ModuleID.LOCATIONS, InterfaceRole.SENDER)`` looks up the same key."""
        return {(str(e.identifier), str(e.role)): e.url for e in details.endpoints}

    async def get_credentials(self, url: str) -> Credentials:
        data = await self._data("GET", url, functional=False)
        return self._model(Credentials, data, url)

    async def post_credentials(self, url: str, credentials: Credentials) -> Credentials:
        data = await self._data(
            "POST", url, functional=False, body=dump(credentials), has_body=True
        )
        return self._model(Credentials, data, url)

    async def put_credentials(self, url: str, credentials: Credentials) -> Credentials:
        data = await self._data("PUT", url, functional=False, body=dump(credentials), has_body=True)
        return self._model(Credentials, data, url)

    async def delete_credentials(self, url: str) -> None:
        response = await self._send("DELETE", url, functional=False)
        self._envelope("DELETE", url, response, body_required=False)

    # ------------------------------------------------------------------ paginated GET

    async def pages(
        self,
        url: str,
        model_cls: type[M],
        *,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
        to_party: tuple[str, str] | None = None,
    ) -> AsyncIterator[Page[M]]:
        """Every page of the list at ``url``, from ``offset``, following ``Link`` rel=next.

        A page that fails is retried ``retries`` times with exponential backoff, at the same
        offset; then :class:`OcpiPeerError` with ``resume_offset`` set. If ``X-Total-Count``
        changes between pages, the pull reads again from that page's offset less the change
        (items may be seen twice: callers dedupe by id).
        """
        if offset < 0 or (limit is not None and limit < 1):
            raise ValueError("offset must be >= 0 and limit >= 1")
        first: dict[str, str | int | None] = {"offset": offset}
        if date_from is not None:
            first["date_from"] = format_datetime(date_from)
        if date_to is not None:
            first["date_to"] = format_datetime(date_to)
        if limit is not None:
            first["limit"] = limit
        current: str | None = _with_query(url, first)
        current_offset = offset
        last_total: int | None = None
        step_backs = 0
        while current is not None:
            response = await self._page_response(current, current_offset, to_party)
            page, following = self._read_page(url, current, current_offset, response, model_cls)
            changed = last_total is not None and page.total is not None and page.total != last_total
            if changed and page.total is not None and last_total is not None:
                # Items entered or left the list while we crawl (e.g. one changed and moved
                # past date_to): this page and the ones before may have shifted by as many, so
                # read again from that far back (callers dedupe by id) rather than miss any. A
                # list that never settles is followed as it is after MAX_STEP_BACKS.
                shift = abs(page.total - last_total)
                if step_backs < MAX_STEP_BACKS:
                    step_backs += 1
                    stepped = max(0, page.offset - shift)
                    log.info(
                        "OCPI %s: total changed by %d during the pull, reading again from %d",
                        url,
                        shift,
                        stepped,
                    )
                    page.next_offset = stepped
                    following = _with_query(following or current, {"offset": stepped})
            if page.total is not None:
                last_total = page.total
            yield page
            current = following
            current_offset = page.next_offset if page.next_offset is not None else 0

    async def _page_response(
        self, url: str, offset: int, to_party: tuple[str, str] | None
    ) -> _PageAnswer:
        """One page's items (raw) and headers, the page retried while it fails."""
        attempt = 0
        while True:
            try:
                response = await self._send("GET", url, to_party=to_party)
                data = self._envelope("GET", url, response).get("data")
                if data is None:
                    data = []
                if not isinstance(data, list):
                    raise OcpiPeerError(
                        f"GET {url}: data is not a list", url=url, http_status=response.status_code
                    )
                return _PageAnswer(data, response.headers)
            except OcpiPeerError as exc:
                if exc.unauthorized or attempt >= self._retries:
                    raise OcpiPeerError(
                        f"{exc} (page at offset {offset}, {attempt + 1} attempts)",
                        url=url,
                        http_status=exc.http_status,
                        status_code=exc.status_code,
                        resume_offset=offset,
                    ) from None
                log.info(
                    "OCPI page at offset %d failed (%s), retry %d/%d",
                    offset,
                    exc,
                    attempt + 1,
                    self._retries,
                )
                await asyncio.sleep(self._backoff_s * 2**attempt)
                attempt += 1

    def _read_page(
        self,
        base_url: str,
        url: str,
        offset: int,
        answer: _PageAnswer,
        model_cls: type[M],
    ) -> tuple[Page[M], str | None]:
        raw_items, headers = answer
        items: list[M] = []
        rejected = 0
        for raw in raw_items:
            try:
                items.append(parse(model_cls, raw))
            except OcpiError:
                rejected += 1
                log.warning(
                    "OCPI %s: skipped a %s that does not parse (id %s)",
                    base_url,
                    model_cls.__name__,
                    _item_id(raw),
                )
        total = _int_header(headers, "X-Total-Count")
        limit = _int_header(headers, "X-Limit")
        link = next_link(headers.get("Link"))
        following: str | None = None
        next_offset: int | None = None
        if link is not None and raw_items:
            if _same_origin(link, url):
                following = link
            else:  # quirk 6: the Link names another host: apply its parameters to our URL
                following = _with_query(url, dict(query_params(link)))
            next_offset = _int_param(following, "offset")
            if next_offset is None or next_offset <= offset:
                if next_offset is not None:  # a Link that does not move on would loop forever
                    log.warning("OCPI %s: Link offset %d does not advance", base_url, next_offset)
                next_offset = offset + len(raw_items)
                following = _with_query(following, {"offset": next_offset})
        return (
            Page(
                items=items,
                offset=offset,
                total=total,
                limit=limit,
                next_offset=next_offset,
                rejected=rejected,
            ),
            following,
        )

    # ------------------------------------------------------------------ objects

    async def get_object(
        self, url: str, model_cls: type[M], *, to_party: tuple[str, str] | None = None
    ) -> M | None:
        """One object; ``None`` when the peer does not know it (404, 2003, 2004). ``data`` may be
        the object or a one-element list (quirk 4)."""
        response = await self._send("GET", url, to_party=to_party)
        try:
            data = self._envelope("GET", url, response).get("data")
        except OcpiPeerError as exc:
            if exc.not_found:
                return None
            raise
        if isinstance(data, list):
            if not data:
                return None
            if len(data) != 1:
                raise OcpiPeerError(f"GET {url}: expected one object, got {len(data)}", url=url)
            data = data[0]
        if data is None:
            return None
        return self._model(model_cls, data, url)

    async def _push(
        self, method: str, url: str, body: Any, to_party: tuple[str, str] | None
    ) -> httpx.Response:
        response = await self._send(method, url, body=body, has_body=True, to_party=to_party)
        self._envelope(method, url, response, body_required=False)
        return response

    async def put(
        self, url: str, body: Any, *, to_party: tuple[str, str] | None = None
    ) -> httpx.Response:
        return await self._push("PUT", url, _jsonable(body), to_party)

    async def patch(
        self, url: str, body: Any, *, to_party: tuple[str, str] | None = None
    ) -> httpx.Response:
        return await self._push("PATCH", url, _jsonable(body), to_party)

    async def post(
        self, url: str, body: Any, *, to_party: tuple[str, str] | None = None
    ) -> httpx.Response:
        """POST; the response is returned so the caller can read its ``Location`` header."""
        return await self._push("POST", url, _jsonable(body), to_party)

    async def delete(self, url: str, *, to_party: tuple[str, str] | None = None) -> httpx.Response:
        response = await self._send("DELETE", url, to_party=to_party)
        self._envelope("DELETE", url, response, body_required=False)
        return response

    # ------------------------------------------------------------------ commands, authorize

    async def command(
        self,
        commands_url: str,
        command: CommandType,
        body_model: BaseModel,
        *,
        to_party: tuple[str, str] | None = None,
    ) -> CommandResponse:
        """POST a command; the CPO's immediate :class:`CommandResponse`.

        A CommandResponse that comes with a non-1000 status code (e.g. REJECTED with 2003 for an
        unknown location) is returned as is: its ``result`` says what happened."""
        url = join_url(commands_url, CommandType(command).value)
        response = await self._send(
            "POST", url, body=dump(body_model), has_body=True, to_party=to_party
        )
        try:
            body = self._envelope("POST", url, response)
        except OcpiPeerError as exc:
            answered = _command_response_in(response)
            if answered is None or exc.status_code is None:
                raise
            log.info("OCPI %s: %s answered with OCPI %d", url, command, exc.status_code)
            return answered
        return self._model(CommandResponse, body.get("data"), url)

    async def authorize(
        self,
        tokens_url: str,
        token_uid: str,
        *,
        token_type: str | None = None,
        location: LocationReferences | None = None,
        to_party: tuple[str, str] | None = None,
    ) -> AuthorizationInfo:
        """Real-time authorization: POST ``{tokens_url}/{uid}/authorize[?type=]``."""
        url = join_url(tokens_url, token_uid, "authorize")
        if token_type is not None:
            url = _with_query(url, {"type": str(token_type)})
        if location is None:
            response = await self._send("POST", url, to_party=to_party)
        else:
            response = await self._send(
                "POST", url, body=dump(location), has_body=True, to_party=to_party
            )
        data = self._envelope("POST", url, response).get("data")
        return self._model(AuthorizationInfo, data, url)


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def _jsonable(body: Any) -> Any:
    return dump(body) if isinstance(body, BaseModel) else body


def _command_response_in(response: httpx.Response) -> CommandResponse | None:
    try:
        payload = loads(response.content)  # nesting bounded
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        return None
    try:
        return parse(CommandResponse, payload["data"])
    except OcpiError:
        return None
