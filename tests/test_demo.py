"""``chargemesh demo`` through the real command: the simulator in its own process, the platform
syncing every feed through the protocols, serving, and stopping by itself (``--run-for``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from chargemesh.store import open_store
from tests.helpers import free_port


def test_demo_syncs_every_simulated_feed_serves_and_stops(tmp_path: Path) -> None:
    port = free_port()
    workdir = tmp_path / "demo"
    errors = (tmp_path / "stderr.txt").open("w+", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chargemesh", "demo", "--scale", "0.002", "--port", str(port),
         "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env={**os.environ, "COLUMNS": "200", "CHARGEMESH_DEMO_RUN_FOR": "4"},
    )  # fmt: skip
    seen: list[str] = []
    answers: list[httpx.Response] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "demo ready" in line:  # it serves now: ask it while it does
                answers.append(httpx.get(f"http://127.0.0.1:{port}/api/v1/operators", timeout=10))

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(240)
    proc.wait(timeout=30)
    errors.seek(0)
    stderr = errors.read()
    out = "".join(seen)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    synced = re.search(r"synced (\d+) of (\d+) feeds", out)
    assert synced is not None, out
    assert synced.group(1) == synced.group(2) == "26"
    assert f"http://127.0.0.1:{port}" in out
    assert "demo stopped" in out
    assert len(answers) == 1
    operators = answers[0].json()
    assert len(operators) == 26
    assert all(o["feed"]["state"] == "ok" and o["stations"] > 0 for o in operators)
    with open_store(f"sqlite:///{workdir / 'chargemesh.db'}") as store:
        assert store.counts().operators == 26
        assert store.counts().stations == sum(o["stations"] for o in operators)
