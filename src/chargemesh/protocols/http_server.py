"""Serve an ASGI app on the loopback interface from a background thread (tests, the simulator).

::

    with LoopbackServer(app) as server:
        httpx.post(f"{server.url}/evcs/v1/query_token", json=envelope)

The server runs uvicorn in its own thread with its own event loop; :meth:`LoopbackServer.start`
returns once it accepts connections (port 0 picks a free port, read back into ``port``), and
:meth:`LoopbackServer.stop` asks it to exit and joins the thread. uvicorn's logging is left to
the process (``log_config=None``: no global logging reconfiguration); its level is ``warning``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Final, TypeVar

import uvicorn
from starlette.types import ASGIApp

from chargemesh.protocols.direct_http import DirectHttp

__all__ = ["LoopbackServer"]

_POLL_S: Final = 0.005
T = TypeVar("T")


class _Server(uvicorn.Server):
    """uvicorn's server, remembering the event loop it serves on."""

    loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)


class LoopbackServer:
    """One uvicorn server on ``host``:``port`` (0 = any free port) in a daemon thread."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout_s: float = 10.0,
        shutdown_timeout_s: float = 10.0,
    ) -> None:
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            log_config=None,
            lifespan="on",
            http=DirectHttp,
            timeout_graceful_shutdown=max(1, int(shutdown_timeout_s / 2)),
        )
        self._server = _Server(self._config)
        self._host = host
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._startup_timeout_s = startup_timeout_s
        self._shutdown_timeout_s = shutdown_timeout_s

    # ------------------------------------------------------------------ address

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    # ------------------------------------------------------------------ life cycle

    def start(self) -> LoopbackServer:
        """Start serving and wait until the socket is bound; ``RuntimeError`` if it fails."""
        if self._thread is not None:
            raise RuntimeError("the server was already started")
        self._thread = threading.Thread(target=self._run, name="loopback-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server failed to start") from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the server did not start in time")
            time.sleep(_POLL_S)
        self._port = int(self._server.servers[0].sockets[0].getsockname()[1])
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        except BaseException as exc:  # SystemExit on a bind failure, anything else
            self._error = exc

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        """Run ``coro`` on the server's event loop and wait for its result: for work that must
        share the app's loop (its HTTP clients, locks and futures), e.g. a sync or a command."""
        loop = self._server.loop
        if loop is None or not self.running:
            coro.close()
            raise RuntimeError("the server is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout_s)

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread (idempotent)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._server.should_exit = True
        thread.join(self._shutdown_timeout_s)
        if thread.is_alive():
            self._server.force_exit = True
            thread.join(self._shutdown_timeout_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._server.started

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
