"""A free loopback port for a server that is about to start (the local cluster's nodes, the
simulator's operators, the tests' servers)."""

from __future__ import annotations

import random
import socket
from pathlib import Path


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
    by the kernel, so a random one of those that binds now stays ours unless another picks it.
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
