"""Small things many tests need: a free loopback port, waiting for a condition, and the price a
shown tariff gives at a time of day."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free loopback port that the kernel will not hand to anyone binding port 0 meanwhile.

    A port picked by binding port 0 is an ephemeral one: between closing it and the server
    binding it, a simulator or client starting in between may be given the same port (CI saw
    "address already in use" that way). Ports below the ephemeral range are never given out
    by the kernel, so a random one of those that binds now stays ours unless a test picks it.
    """
    low, _high = _ephemeral_range()
    floor = max(1024, low - 12_000)
    for _ in range(200):
        port = random.randrange(floor, low)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {floor}..{low - 1}")


def wait_for(check: Callable[[], T], timeout_s: float = 10.0, poll_s: float = 0.02) -> T:
    """Poll ``check`` until it returns something truthy, and return that; fail the test with
    "timed out waiting" after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(poll_s)


def shown_price(tariff: dict[str, Any], local: clock) -> Decimal:
    """The per-kWh price a tariff as the API shows it (``periods`` of ``start``/``end`` "HH:MM",
    end exclusive, an end at or before the start running past midnight) gives at ``local``
    (China time): the first period that covers it, as OCPI applies the first element."""
    at = local.strftime("%H:%M")
    for p in tariff["periods"]:
        start, end = p["start"], p["end"]
        inside = start <= at < end if start < end else (at >= start or at < end)
        if inside:
            return Decimal(str(p["price_per_kwh"]))
    raise AssertionError(f"no period of {tariff['periods']} covers {at}")
