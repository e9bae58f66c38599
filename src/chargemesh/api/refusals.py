"""A request refused before any route sees it (too large, too many), answered in the caller's
own protocol: the T/CEC envelope under ``/tcec/``, the OCPI envelope under ``/ocpi/``, our
JSON error (docs/api-errors.md) everywhere else. For pure ASGI middlewares (the body limits,
the rate limits), which answer without building a Request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import orjson
from starlette.types import Send

from chargemesh.api.errors import DEFAULT_CODES
from chargemesh.protocols.ocpi.transport import StatusCode, envelope
from chargemesh.protocols.tcec.codec import Ret

TCEC_PREFIX: Final = "/tcec/"
OCPI_PREFIX: Final = "/ocpi/"


def refusal_body(path: str, status: int, reason: str, *, advice: str | None = None) -> bytes:
    """The body of a refusal of ``path`` with HTTP ``status`` (413, 429, 400…)."""
    if path.startswith(TCEC_PREFIX):
        ret = Ret.BUSY if status == 429 else Ret.SYSTEM_ERROR if status >= 500 else Ret.MALFORMED
        # unsigned: the caller is not known yet (nothing of the body has been read)
        return orjson.dumps({"Ret": int(ret), "Msg": reason, "Data": "", "Sig": ""})
    if path.startswith(OCPI_PREFIX):
        code = StatusCode.SERVER_ERROR if status >= 500 else StatusCode.CLIENT_ERROR
        return orjson.dumps(envelope(status_code=code, status_message=reason))
    code_text = DEFAULT_CODES.get(status, "error" if status >= 500 else "refused")
    detail: dict[str, object] = {
        "code": code_text,
        "reason": reason,
        "advice": advice,
        "errors": [],
    }
    return orjson.dumps({"detail": detail})


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole HTTP answer known before anything is sent: what a hot path computes without
    awaiting, sent on an ASGI ``send`` (:meth:`send`) or written straight to the connection
    (``protocols/direct_http.py``)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def json_answer(body: bytes) -> Answer:
    """A 200 with a JSON body."""
    return Answer(
        200,
        [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")],
        body,
    )


def refusal(
    path: str,
    status: int,
    reason: str,
    *,
    advice: str | None = None,
    retry_after_s: int | None = None,
) -> Answer:
    """The refusal of ``path``; it closes the connection (whatever the client still sends of
    its body is not read)."""
    body = refusal_body(path, status, reason, advice=advice)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if retry_after_s is not None:
        headers.append((b"retry-after", str(max(1, retry_after_s)).encode()))
    return Answer(status, headers, body)


async def send_refusal(
    send: Send,
    path: str,
    status: int,
    reason: str,
    *,
    advice: str | None = None,
    retry_after_s: int | None = None,
) -> None:
    """Answer the :func:`refusal` on an ASGI ``send``."""
    await refusal(path, status, reason, advice=advice, retry_after_s=retry_after_s).send(send)
