"""One process runs the singletons: two real ``chargemesh serve`` processes over one PostgreSQL
schema, each with a feed of its own on a loopback server that counts who asks it. Only the
leader syncs on schedule (and says ``"leader": true`` in ``/readyz``); when it is killed (``kill
-9``) or stopped, the other takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import free_port, wait_for

CHARGEMESH = str(Path(sys.executable).parent / "chargemesh")
TAKEOVER_S = 15.0  # the brief's bound; a follower asks every 3 s


class Feeds:
    """A stand-in OCPI CPO for every process: it answers 404 and counts the requests per feed
    (the first path segment names the process whose feed it is)."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()
        feeds = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                feeds.asked[self.path.strip("/").split("/")[0]] += 1
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    f = Feeds()
    yield f
    f.server.shutdown()


class Node:
    """``chargemesh serve`` as an operator runs it, on a port of its own."""

    def __init__(self, name: str, store_url: str, feeds: Feeds, workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        config = workdir / f"{name}.toml"
        config.write_text(
            f"""
[store]
url = "{store_url}"
[server]
host = "127.0.0.1"
port = {self.port}
public_url = "http://127.0.0.1:{self.port}"
[sync]
interval_s = 1
[status]
poll_interval_s = 0
[ocpi]
allow_loopback = true
[[operators]]
id = "CN-{name.upper()}01"
protocol = "ocpi"
url = "{feeds.url}/{name}/versions"
token_a = "token-a-{name}"
""",
            encoding="utf-8",
        )
        self.process = subprocess.Popen(
            [CHARGEMESH, "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=workdir,
        )

    def readyz(self) -> dict[str, Any] | None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2.0)
        except httpx.HTTPError:
            return None
        body: dict[str, Any] = answer.json()
        return body if body.get("ready") else None

    def leads(self) -> bool:
        status = self.readyz()
        return bool(status and status["leader"])

    def stop(self, sig: signal.Signals) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        self.process.wait(timeout=20)


def test_one_process_runs_the_singletons_and_another_takes_over(
    postgres_url: str, feeds: Feeds, tmp_path: Path
) -> None:
    first = Node("a", postgres_url, feeds, tmp_path)
    nodes = [first]
    try:
        wait_for(first.leads, timeout_s=30.0, poll_s=0.2)  # alone: it leads and syncs
        wait_for(lambda: feeds.asked["a"] >= 2, timeout_s=15.0, poll_s=0.1)

        second = Node("b", postgres_url, feeds, tmp_path)
        nodes.append(second)
        status = wait_for(second.readyz, timeout_s=30.0, poll_s=0.2)
        assert status["leader"] is False  # ready to serve, but it does not lead
        asked_a = feeds.asked["a"]
        time.sleep(8.0)  # over two of the follower's asks for the lead
        assert second.readyz() == {**status, "leader": False}
        assert first.leads()
        assert feeds.asked["b"] == 0  # the follower never synced on schedule
        assert feeds.asked["a"] > asked_a  # the leader still does

        first.stop(signal.SIGKILL)  # no goodbye: PostgreSQL ends its session and its lock
        killed = time.monotonic()
        wait_for(second.leads, timeout_s=TAKEOVER_S, poll_s=0.1)
        took_over_s = time.monotonic() - killed
        wait_for(lambda: feeds.asked["b"] >= 1, timeout_s=10.0, poll_s=0.1)
        assert took_over_s < TAKEOVER_S
        print(f"took over {took_over_s:.1f} s after kill -9")

        third = Node("c", postgres_url, feeds, tmp_path)  # and a clean stop hands over too
        nodes.append(third)
        assert wait_for(third.readyz, timeout_s=30.0, poll_s=0.2)["leader"] is False
        second.stop(signal.SIGINT)
        wait_for(third.leads, timeout_s=TAKEOVER_S, poll_s=0.1)
        wait_for(lambda: feeds.asked["c"] >= 1, timeout_s=10.0, poll_s=0.1)
    finally:
        for node in nodes:
            node.stop(signal.SIGKILL)


def test_the_only_process_over_sqlite_leads(feeds: Feeds, tmp_path: Path) -> None:
    node = Node("s", f"sqlite:///{tmp_path / 'chargemesh.db'}", feeds, tmp_path)
    try:
        assert wait_for(node.readyz, timeout_s=30.0, poll_s=0.2)["leader"] is True
        wait_for(lambda: feeds.asked["s"] >= 1, timeout_s=10.0, poll_s=0.1)
        answer = httpx.get(f"http://127.0.0.1:{node.port}/healthz", timeout=2.0)
        assert answer.json() == {"status": "ok"}
    finally:
        node.stop(signal.SIGKILL)
