"""The test helpers' own promises: a free port never collides with a kernel-chosen one."""

from __future__ import annotations

import socket

from chargemesh.ports import _ephemeral_range, free_port


def test_a_free_port_lies_below_the_ports_the_kernel_hands_out_and_binds() -> None:
    low, _ = _ephemeral_range()
    taken = []
    for _ in range(20):
        with socket.socket() as kernel_choice:
            kernel_choice.bind(("127.0.0.1", 0))
            taken.append(kernel_choice.getsockname()[1])
        port = free_port()
        assert port < low
        assert port not in taken
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
