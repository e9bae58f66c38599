"""A simulated country and the platform over it, as subprocesses on loopback, for the browser
tests; and how Debian's Chromium is started for them.

``chargemesh sim`` writes its manifest (a config ``serve`` takes as it is) and its ground truth;
``chargemesh serve`` syncs every feed at start. Charges run 60 times faster than real time
(``--time-scale 60``: a minute an hour), so a test sees the kWh of a charge grow within seconds.
Chromium must be at ``/usr/bin/chromium`` (``apt-get install -y chromium``): without it the tests
fail, they are never skipped. Screenshots are kept under ``artifacts/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargemesh.config import Config, load_config
from chargemesh.sim.manifest import truth_path
from tests.helpers import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--no-sandbox",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
SCALE = "0.002"
TIME_SCALE = "60"
START_TIMEOUT_S = 180.0


@dataclass
class Country:
    """The simulator and the platform, both running."""

    config: Config
    base_url: str
    operators: list[dict[str, Any]]  # GET /api/v1/operators once every feed synced
    stations: int  # stations on the whole map, unfiltered
    truth: dict[str, Any]  # the simulator's ground truth


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def whole_map(base_url: str) -> int:
    """Stations on the map of the whole country, as the platform counts them now."""
    answer = httpx.get(
        f"{base_url}/api/v1/map/clusters", params={"bbox": "70,15,140,56", "zoom": 3}, timeout=10
    )
    answer.raise_for_status()
    stations: int = answer.json()["stations"]
    return stations


@contextlib.contextmanager
def running_country(tmp: Path) -> Iterator[Country]:
    """``chargemesh sim`` and ``chargemesh serve`` on free ports, until every feed synced and
    the map settled; both stopped on the way out."""
    manifest = tmp / "sim.toml"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "COLUMNS": "200"}
    sim_log, serve_log = tmp / "sim.log", tmp / "serve.log"
    logs = contextlib.ExitStack()
    # The manifest's [server] and [store] point at a free port and a store of our own; the
    # simulator pushes its realtime operators' changes to that public_url.
    sim = subprocess.Popen(
        [sys.executable, "-m", "chargemesh", "sim", "--scale", SCALE, "--manifest", str(manifest),
         "--churn", "0", "--faults", "0", "--seed", "7", "--platform-url", base_url,
         "--time-scale", TIME_SCALE, "--store", f"sqlite:///{tmp / 'chargemesh.db'}",
         "--csms-port", str(free_port())],
        stdout=subprocess.DEVNULL, stderr=logs.enter_context(sim_log.open("wb")), env=env,
    )  # fmt: skip
    serve: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not truth_path(manifest).exists():  # written after the manifest
            if sim.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the simulator did not start:\n{_tail(sim_log)}")
            time.sleep(0.2)
        config = load_config(manifest)
        assert config.server.base_url == base_url
        serve = subprocess.Popen(
            [sys.executable, "-m", "chargemesh", "serve", "--config", str(manifest)],
            stdout=subprocess.DEVNULL, stderr=logs.enter_context(serve_log.open("wb")), env=env,
        )  # fmt: skip
        wanted = {op.id for op in config.operators}
        operators: list[dict[str, Any]] = []
        while True:  # serve syncs every feed at start
            if serve.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the platform did not sync every feed:\n{_tail(serve_log)}")
            time.sleep(0.5)
            try:
                answer = httpx.get(f"{base_url}/api/v1/operators", timeout=10)
            except httpx.HTTPError:
                continue
            if answer.status_code != 200:  # not ready yet (503 until the index is built)
                continue
            operators = answer.json()
            states = {o["id"]: o["feed"]["state"] for o in operators}
            if set(states) == wanted and all(s in ("ok", "failed") for s in states.values()):
                break
        failed = [o["id"] for o in operators if o["feed"]["state"] != "ok"]
        assert not failed, f"feeds failed: {failed}\n{_tail(serve_log)}"
        # what was synced reaches the search index within a second or so: wait until it is still
        previous, stations = -1, whole_map(base_url)
        while stations == 0 or stations != previous:
            if time.monotonic() > deadline:
                pytest.fail(f"the map never settled ({stations} stations)\n{_tail(serve_log)}")
            time.sleep(1.5)
            previous, stations = stations, whole_map(base_url)
        truth = json.loads(truth_path(manifest).read_text(encoding="utf-8"))
        yield Country(config, base_url, operators, stations, truth)
    finally:
        if serve is not None:
            _stop(serve, signal.SIGINT)  # uvicorn's clean way out
        _stop(sim, signal.SIGTERM)
        logs.close()


def need_chromium() -> str:
    if not CHROMIUM.exists():
        pytest.fail(f"the browser test needs Chromium at {CHROMIUM}: apt-get install -y chromium")
    return str(CHROMIUM)
