"""Partners that misbehave, for real sockets on loopback: a plain ASGI app whose first path
segment picks the fault (``/slow/…``, ``/huge/…``, ``/badjson/…``, ``/endless/…``, ``/html/…``),
a wrapper that makes a real partner's app misbehave on some paths only, and a TCP port that
accepts and answers something that is not HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager, suppress
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HUGE_BYTES = 100 * 1024 * 1024  # the "100 MB page"
CHUNK = b"[" + b"0," * 32_767 + b"0"  # 64 KiB of a JSON array that never closes
SLOW_S = 30.0  # longer than any test's page limit
ENDLESS_S = 600.0  # "never": far beyond any limit (it stops when the client hangs up)


async def _start(send: Send, status: int = 200, content_type: bytes = b"application/json") -> None:
    headers = [(b"content-type", content_type)]
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _gone_within(receive: Receive, seconds: float) -> bool:
    """Whether the client hung up within ``seconds`` (then the fault has nobody to answer)."""
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True


async def answer_with(fault: str, receive: Receive, send: Send) -> None:
    """Answer a request as the fault says; each streams, so the server holds no page."""
    if fault == "slow":  # headers and body only after longer than the page may take
        if await _gone_within(receive, SLOW_S):
            return
        await _start(send)
        await send({"type": "http.response.body", "body": b"{}"})
    elif fault == "huge":  # 100 MB, streamed in 64 KiB chunks
        await _start(send)
        sent = 0
        while sent < HUGE_BYTES:
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
            sent += len(CHUNK)
        await send({"type": "http.response.body", "body": b"]"})
    elif fault == "badjson":
        await _start(send)
        await send({"type": "http.response.body", "body": b'{"status_code": 1000, "data": [{'})
    elif fault == "endless":  # a chunk every 0.2 s, never the last one (ends with the server)
        await _start(send)
        for _ in range(int(ENDLESS_S / 0.2)):
            await send({"type": "http.response.body", "body": b"[0,", "more_body": True})
            if await _gone_within(receive, 0.2):
                return
        await send({"type": "http.response.body", "body": b""})
    else:  # an ordinary web server: not OCPI, not T/CEC
        await _start(send, 200, b"text/html")
        await send({"type": "http.response.body", "body": b"<html><body>It works!</body></html>"})


async def misbehaving_app(scope: Scope, receive: Receive, send: Send) -> None:
    """One fault per first path segment."""
    if scope["type"] == "http":
        await answer_with(str(scope["path"]).strip("/").split("/")[0], receive, send)


def faulty(app: ASGIApp, fault: str, where: str) -> ASGIApp:
    """``app`` (a real partner: the simulator's operator or CPO), except that requests whose
    path contains ``where`` (its station pages, its locations) meet ``fault``."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and where in str(scope["path"]):
            await answer_with(fault, receive, send)
        else:
            await app(scope, receive, send)

    return wrapped


@contextmanager
def not_http_port() -> Iterator[int]:
    """A loopback port that accepts and answers a line that is not HTTP (an SSH-like banner),
    then closes: what an open non-HTTP service looks like to a client."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, suppress(OSError):
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
