"""Small things many tests need: a free loopback port, waiting for a condition, and the price a
shown tariff gives at a time of day."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import time as clock
from decimal import Decimal
from typing import Any, TypeVar

from chargemesh.ports import free_port

__all__ = ["free_port", "wait_for"]

T = TypeVar("T")


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
