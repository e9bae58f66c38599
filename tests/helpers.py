"""Small things many tests need: a free loopback port, and waiting for a condition."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
