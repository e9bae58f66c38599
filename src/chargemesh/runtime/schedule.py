"""Work repeated on a schedule, spread a little so that many feeds or nodes do not align."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable


async def repeat(
    work: Callable[[], Awaitable[None]], interval_s: float, *, jitter: float = 0.1
) -> None:
    """``work`` now and then every ``interval_s`` (± ``jitter`` of it) after it ends, until
    cancelled."""
    spread = random.Random()
    while True:
        await work()
        await asyncio.sleep(interval_s * spread.uniform(1.0 - jitter, 1.0 + jitter))
