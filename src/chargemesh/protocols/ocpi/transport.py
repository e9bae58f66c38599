"""OCPI 2.2.1 transport: the response envelope, status codes, the ``Authorization`` token (raw or
Base64), pagination headers and the request-id headers. No I/O.

Lenient on input, strict on output: we always *send* ``Token <base64(token)>`` and envelopes with
every required field; we *accept* the raw token as well as the Base64 one, an empty ``Link``
header on the last page and a ``Link`` whose host is not the one we asked.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "OCPI_VERSION",
    "ROUTING_HEADERS",
    "Envelope",
    "OcpiError",
    "StatusCode",
    "decode_token",
    "encode_token",
    "envelope",
    "format_datetime",
    "next_link",
    "page_link",
    "parse_datetime",
    "query_params",
    "request_headers",
    "token_candidates",
]

OCPI_VERSION: Final = "2.2.1"

#: The routing headers of functional modules (not credentials, versions or hubclientinfo).
ROUTING_HEADERS: Final = (
    "OCPI-to-party-id",
    "OCPI-to-country-code",
    "OCPI-from-party-id",
    "OCPI-from-country-code",
)


class StatusCode(IntEnum):
    SUCCESS = 1000
    CLIENT_ERROR = 2000
    INVALID_PARAMETERS = 2001
    NOT_ENOUGH_INFORMATION = 2002
    UNKNOWN_LOCATION = 2003
    UNKNOWN_TOKEN = 2004
    SERVER_ERROR = 3000
    UNABLE_TO_USE_CLIENT_API = 3001
    UNSUPPORTED_VERSION = 3002
    NO_MATCHING_ENDPOINTS = 3003
    HUB_ERROR = 4000
    UNKNOWN_RECEIVER = 4001
    TIMEOUT_ON_FORWARDED_REQUEST = 4002
    CONNECTION_PROBLEM = 4003


class OcpiError(Exception):
    """A request refused in OCPI's words: the HTTP status and the envelope's status code.

    ``str(exc)`` is the ``status_message``: fixed text and ids only, never a token or a payload.
    ``retry_after_s``: a 429's Retry-After (the party's rate limit).
    """

    def __init__(
        self,
        status_code: StatusCode,
        message: str,
        *,
        http_status: int = 400,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.http_status = http_status
        self.retry_after_s = retry_after_s

    @classmethod
    def unauthorized(cls, message: str = "missing or unknown token") -> OcpiError:
        return cls(StatusCode.CLIENT_ERROR, message, http_status=401)

    @classmethod
    def not_found(cls, message: str, code: StatusCode = StatusCode.CLIENT_ERROR) -> OcpiError:
        return cls(code, message, http_status=404)


Envelope = dict[str, Any]


def format_datetime(at: datetime) -> str:
    """OCPI DateTime: UTC, ``Z``, at most milliseconds (e.g. ``2015-06-29T20:39:09Z``)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("OCPI timestamps are built from aware datetimes")
    at = at.astimezone(UTC)
    spec = "milliseconds" if at.microsecond // 1000 else "seconds"
    return at.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def parse_datetime(text: str) -> datetime:
    """An OCPI DateTime; a value without a zone is UTC as the spec says. ``ValueError`` if bad."""
    value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def envelope(
    data: Any = None,
    status_code: int = StatusCode.SUCCESS,
    status_message: str | None = None,
    *,
    at: datetime | None = None,
) -> Envelope:
    """The response envelope; ``data`` is left out when there is none."""
    body: Envelope = {}
    if data is not None:
        body["data"] = data
    body["status_code"] = int(status_code)
    if status_message:
        body["status_message"] = status_message
    body["timestamp"] = format_datetime(at or datetime.now(UTC))
    return body


# --------------------------------------------------------------------------- authorization


def encode_token(token: str) -> str:
    """The ``Authorization`` header value we send: ``Token <base64(utf8(token))>``."""
    return "Token " + base64.b64encode(token.encode()).decode("ascii")


def decode_token(header: str | None) -> str | None:
    """The credential in an ``Authorization: Token …`` header, Base64 decoded when it is valid
    Base64 of UTF-8 text; ``None`` when there is no such header. See :func:`token_candidates`."""
    candidates = token_candidates(header)
    return candidates[0] if candidates else None


_B64: Final = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


def token_candidates(header: str | None) -> list[str]:
    """What the peer may mean: the Base64-decoded token first (2.2.1), then the raw one (2.1.1
    peers and many 2.2 ones send it undecoded). A token that merely *looks* like Base64 is
    ambiguous, so the caller tries both against what it issued."""
    if not header:
        return []
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    out: list[str] = []
    if _B64.match(value) and len(value) % 4 == 0:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if decoded and decoded.isprintable():
            out.append(decoded)
    out.append(value)
    return out


def request_headers(
    token: str,
    *,
    request_id: str | None = None,
    correlation_id: str | None = None,
    to_party: tuple[str, str] | None = None,
    from_party: tuple[str, str] | None = None,
) -> dict[str, str]:
    """Headers for a request we send. ``to_party``/``from_party`` are (country_code, party_id)
    and are set on functional modules only."""
    headers = {
        "Authorization": encode_token(token),
        "X-Request-ID": request_id or str(uuid.uuid4()),
        "X-Correlation-ID": correlation_id or str(uuid.uuid4()),
    }
    if to_party is not None:
        headers["OCPI-to-country-code"], headers["OCPI-to-party-id"] = to_party
    if from_party is not None:
        headers["OCPI-from-country-code"], headers["OCPI-from-party-id"] = from_party
    return headers


# --------------------------------------------------------------------------- pagination

_LINK_NEXT: Final = re.compile(r"<([^>]*)>\s*;\s*rel\s*=\s*\"?next\"?", re.IGNORECASE)


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header; ``None`` on the last page (no header, an
    empty one, or no ``next`` relation)."""
    if not header or not header.strip():
        return None
    match = _LINK_NEXT.search(header)
    if match is None or not match.group(1).strip():
        return None
    return match.group(1).strip()


def page_link(url: str, params: Mapping[str, str | int | None]) -> str:
    """``<url?params>; rel="next"``: ``url`` with its query replaced by ``params`` (``None``
    values left out), as the ``Link`` header of a page that has a next one."""
    parts = urlsplit(url)
    query = urlencode({k: str(v) for k, v in params.items() if v is not None})
    return f'<{urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))}>; rel="next"'


def query_params(url: str) -> dict[str, str]:
    """The query parameters of a URL (e.g. a ``Link`` target), last value wins."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
