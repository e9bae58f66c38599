"""Reading a partner's answer within bounds: so many bytes, so many seconds, whatever it sends.

An operator's page is read as a stream and stopped as soon as it grows past
:attr:`FetchLimits.max_bytes` (a 100 MB page never sits in our memory) or the whole exchange —
connect, headers and every chunk of the body — takes longer than :attr:`FetchLimits.total_s` (a
page that trickles forever, each chunk within the read timeout, still ends). The size is counted
after decompression, so a small gzip bomb is stopped like a large page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

import httpx

__all__ = ["AnswerTooLarge", "AnswerTooSlow", "FetchLimits", "bounded_request"]

MB: Final = 1024 * 1024


class AnswerTooLarge(httpx.TransportError):
    """The answer was larger than the limit; what was read of it is dropped."""


class AnswerTooSlow(httpx.TimeoutException):
    """The whole exchange took longer than the limit (e.g. a body that never ends)."""


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """The most one answer may hold (``max_bytes``, decompressed) and take (``total_s``, from
    the request's start to the body's last byte). Generous by default: a national operator's
    page of 100 stations is a few MB."""

    max_bytes: int = 50 * MB
    total_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.total_s <= 0:
            raise ValueError("max_bytes and total_s must be positive")


async def bounded_request(
    http: httpx.AsyncClient, method: str, url: str, limits: FetchLimits, **kwargs: Any
) -> httpx.Response:
    """``http.request(method, url, **kwargs)`` with its body read whole but within ``limits``;
    raises :class:`AnswerTooLarge` or :class:`AnswerTooSlow` (httpx transport errors, so callers
    that handle those handle these)."""
    request = http.build_request(method, url, **kwargs)
    try:
        async with asyncio.timeout(limits.total_s):
            response = await http.send(request, stream=True)
            try:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > limits.max_bytes:
                    raise AnswerTooLarge(
                        f"the answer declares {int(declared)} bytes", request=request
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limits.max_bytes:
                        raise AnswerTooLarge(
                            f"the answer is larger than {limits.max_bytes} bytes", request=request
                        )
                    chunks.append(chunk)
            finally:
                await response.aclose()
    except TimeoutError:
        raise AnswerTooSlow(
            f"no whole answer within {limits.total_s:g} s", request=request
        ) from None
    # the body as read (decoded): a plain response, so .content and .json() work as usual
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=b"".join(chunks),
        request=request,
        extensions={"http_version": response.extensions.get("http_version", b"HTTP/1.1")},
    )
