"""Read an async iterator ahead: the next page of a feed is fetched (and the peer computes it)
while the current one is parsed and stored, instead of one after the other."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


async def prefetch(source: AsyncIterator[T], depth: int = 1) -> AsyncIterator[T]:
    """Yield what ``source`` yields, keeping up to ``depth`` items fetched ahead. An error of
    ``source`` is raised here, after the items before it."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=depth)

    async def fill() -> None:
        try:
            async for item in source:
                await queue.put(item)
        except Exception as exc:  # handed to the consumer, in order
            await queue.put(_Failed(exc))
            return
        await queue.put(_END)

    task = asyncio.create_task(fill())
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _Failed:
    def __init__(self, error: Exception) -> None:
        self.error = error
