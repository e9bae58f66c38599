"""An asyncio event loop on its own daemon thread, with one shared HTTP client: where the simulated
operators' charging sessions run and push from, whatever thread drives them (a test, a server's
handler, the simulator).

::

    loop = BackgroundLoop("sim-charging").start()
    future = loop.submit(some_coroutine())     # a concurrent.futures.Future
    ...
    loop.stop()                                # cancels what is still running, closes the client
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

import httpx

__all__ = ["BackgroundLoop"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class BackgroundLoop:
    """One event loop thread. :meth:`submit` starts it when needed; :meth:`stop` is idempotent."""

    def __init__(self, name: str = "sim-loop", *, http_timeout_s: float = 10.0) -> None:
        self.name = name
        self._http_timeout_s = http_timeout_s
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: httpx.AsyncClient | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    # ------------------------------------------------------------------ life cycle

    def start(self) -> BackgroundLoop:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._ready.clear()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.name}: the event loop did not start")
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._loop is not None

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._http = httpx.AsyncClient(timeout=self._http_timeout_s)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            me = asyncio.current_task()
            others = [t for t in asyncio.all_tasks() if t is not me]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            await self._http.aclose()
            self._loop = None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel what still runs, close the HTTP client, end the thread."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or not thread.is_alive():
            return
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(stop.set)
        thread.join(timeout_s)
        if thread.is_alive():
            log.warning("%s: the event loop did not stop in %.0f s", self.name, timeout_s)

    def __enter__(self) -> BackgroundLoop:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ use

    @property
    def http(self) -> httpx.AsyncClient:
        """The shared client (use it from coroutines running on this loop only)."""
        if self._http is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._http

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop (started if need be) from any thread."""
        if not self.running:
            self.start()
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError(f"{self.name} is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def call_soon(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the loop's thread (nothing if the loop is not running)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback)
