"""``chargemesh demo`` through the real command: the simulator in its own process, the platform
syncing every feed through the protocols, serving, and stopping by itself (``--run-for``) — and
run a second time in the same folder, where the simulator listens on new ports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from chargemesh.cli.demo import DEMO_EMAIL, DEMO_PASSWORD
from chargemesh.services.accounts.ops_keys import OpsKeys
from chargemesh.services.accounts.tokens import digest
from chargemesh.store import open_store
from tests.helpers import free_port


@dataclass
class DemoRun:
    returncode: int
    out: str
    stderr: str
    while_ready: list[Any] = field(default_factory=list)  # what ``on_ready`` returned


def run_demo(
    tmp_path: Path, workdir: Path, port: int, run_for: float, on_ready: Callable[[], Any]
) -> DemoRun:
    """The README's demo command, asking ``on_ready`` once it says it is ready."""
    errors = (tmp_path / f"stderr-{time.monotonic_ns()}.txt").open("w+", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chargemesh", "demo", "--scale", "0.002", "--port", str(port),
         "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env={**os.environ, "COLUMNS": "200", "CHARGEMESH_DEMO_RUN_FOR": str(run_for)},
    )  # fmt: skip
    seen: list[str] = []
    answers: list[Any] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "demo ready" in line:  # it serves now: ask it while it does
                answers.append(on_ready())

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(240)
    proc.wait(timeout=30)
    errors.seek(0)
    return DemoRun(proc.returncode, "".join(seen), errors.read(), answers)


def check_synced_and_served(run: DemoRun, port: int, workdir: Path) -> list[dict[str, Any]]:
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    synced = re.search(r"synced (\d+) of (\d+) feeds", run.out)
    assert synced is not None, run.out
    assert synced.group(1) == synced.group(2) == "26", run.out
    assert "FAILED" not in run.out
    assert f"http://127.0.0.1:{port}" in run.out
    assert "demo stopped" in run.out
    assert f"{DEMO_EMAIL} / {DEMO_PASSWORD}" in run.out
    key = re.search(r"ops key \(.*\): (cm_\S+)", run.out)
    assert key is not None, run.out
    assert len(run.while_ready) == 1, run.out
    operators: list[dict[str, Any]] = run.while_ready[0]["operators"]
    assert len(operators) == 27  # 26 partner networks and the own network
    unwell = [(o["id"], o["stations"], o["feed"]) for o in operators
              if o["feed"]["state"] != "ok" or o["stations"] == 0]  # fmt: skip
    assert unwell == []
    own = [o for o in operators if o["protocol"] == "ocpp"]
    assert [o["name"] for o in own] == ["chargemesh Supercharge"]
    assert re.search(r"own network: \d+ superchargers and \d+ home chargers registered", run.out)
    assert run.while_ready[0]["connected"] > 0, run.out  # own chargers came online over OCPP
    with open_store(f"sqlite:///{workdir / 'chargemesh.db'}") as store:
        counts = store.counts()
        assert counts.operators == 27
        # one count of stations everywhere: the banner, the operators' sum, the store
        assert counts.stations == sum(o["stations"] for o in operators)
        assert f"{counts.stations:,} stations" in run.out
        assert counts.listings == sum(o["listings"]["stations"] for o in operators)
        # the key printed is the one live demo key (an earlier run's is revoked)
        live = [k for k in store.ops_keys() if k.revoked_at is None and k.name == "demo"]
        assert [k.key_hash for k in live] == [digest(key.group(1))]
    return operators


def test_demo_runs_twice_in_one_folder_and_charges_on_an_ocpi_network(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    port = free_port()

    def operators() -> dict[str, Any]:
        answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/operators", timeout=10)
        return {"operators": answer.json(), "connected": own_connected(port, workdir)}

    first = run_demo(tmp_path, workdir, port, 4, operators)
    check_synced_and_served(first, port, workdir)

    # Again in the same folder: the simulator's OCPI networks listen on new ports, and the
    # registrations the first run made point at the old ones.
    port = free_port()
    manifest_before = tomllib.loads((workdir / "chargemesh.toml").read_text(encoding="utf-8"))

    def operators_and_a_charge() -> dict[str, Any]:
        answer = operators()
        manifest = tomllib.loads((workdir / "chargemesh.toml").read_text(encoding="utf-8"))
        ocpi = next(o for o in manifest["operators"] if o["protocol"] == "ocpi")
        answer["session"] = charge_once(port, workdir, ocpi["id"])
        answer["firmware"] = upload_firmware(port, workdir)
        return answer

    second = run_demo(tmp_path, workdir, port, 25, operators_and_a_charge)
    check_synced_and_served(second, port, workdir)
    manifest = tomllib.loads((workdir / "chargemesh.toml").read_text(encoding="utf-8"))
    moved = {o["id"]: o["url"] for o in manifest["operators"] if o["protocol"] == "ocpi"}
    before = {o["id"]: o["url"] for o in manifest_before["operators"] if o["protocol"] == "ocpi"}
    assert moved
    assert all(moved[op] != before[op] for op in moved)
    with open_store(f"sqlite:///{workdir / 'chargemesh.db'}") as store:
        for op, url in moved.items():
            party = store.get_ocpi_party(op)
            assert party is not None
            assert party.registered
            assert party.versions_url == url  # registered anew where the CPO is now
    # the demo signs firmware with a key it made on its first run and kept
    assert second.while_ready[0]["firmware"]["signed"] is True
    assert (workdir / "keys" / "firmware-signing.key").stat().st_mode & 0o077 == 0
    session = second.while_ready[0]["session"]
    assert session["state"] in ("charging", "stopping", "completed"), session
    assert session["failure_reason"] is None


def own_connected(port: int, workdir: Path) -> int:
    """How many own chargers hold a connection to the CSMS (waiting up to 20 s for one)."""
    with open_store(f"sqlite:///{workdir / 'chargemesh.db'}") as store:
        _, key = OpsKeys(store).create("test")
    deadline = time.monotonic() + 20
    while True:
        listed = httpx.get(f"http://127.0.0.1:{port}/api/v1/ops/chargers", timeout=10,
                           headers={"Authorization": f"Bearer {key}"}).json()  # fmt: skip
        connected = sum(1 for c in listed if c["connected"])
        if connected or time.monotonic() > deadline:
            return connected
        time.sleep(0.5)


def upload_firmware(port: int, workdir: Path) -> dict[str, Any]:
    """An image uploaded through the ops API: what the platform answers."""
    with open_store(f"sqlite:///{workdir / 'chargemesh.db'}") as store:
        _, key = OpsKeys(store).create("firmware test")
    answer = httpx.post(f"http://127.0.0.1:{port}/api/v1/ops/firmware", timeout=10,
                        headers={"Authorization": f"Bearer {key}"},
                        files={"file": ("fw.bin", b"CMXFW1 demo\n" + bytes(1000))},
                        data={"version": "9.9.9", "models": "CMX-HC7"})  # fmt: skip
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def charge_once(port: int, workdir: Path, operator_id: str) -> dict[str, Any]:
    """Start a charge at a free connector of ``operator_id`` through the driver API, wait until
    it charges, stop it; the session as it stands then."""
    with open_store(f"sqlite:///{workdir / 'chargemesh.db'}") as store:
        station_ids = store.station_ids(operator_id)
        free = None
        for sid in sorted(station_ids):
            station = store.get_station(sid)
            assert station is not None
            for evse in station.evses:
                for c in evse.connectors:
                    if free is None and str(c.status) == "available":
                        free = c.id
            if free is not None:
                break
    assert free is not None, f"no free connector of {operator_id}"
    base = f"http://127.0.0.1:{port}/api/v1"
    # the demo driver the demo printed
    form = {"username": DEMO_EMAIL, "password": DEMO_PASSWORD}
    grant = httpx.post(f"{base}/auth/token", data=form, timeout=10)
    assert grant.status_code == 200, grant.text
    auth = {"Authorization": f"Bearer {grant.json()['access_token']}"}
    cars = httpx.get(f"{base}/vehicles", headers=auth, timeout=10).json()
    assert len(cars) == 1
    assert cars[0]["plug_and_charge_networks"]  # the sim's country has networks offering it
    started = httpx.post(f"{base}/sessions", json={"connector_id": free}, headers=auth,
                         timeout=10)  # fmt: skip
    assert started.status_code == 201, started.text
    sid = started.json()["id"]
    deadline = time.monotonic() + 15
    body: dict[str, Any] = started.json()
    while time.monotonic() < deadline and body["state"] in ("requested", "starting"):
        time.sleep(0.2)
        body = httpx.get(f"{base}/sessions/{sid}", headers=auth, timeout=10).json()
    if body["state"] == "charging":
        body = httpx.post(f"{base}/sessions/{sid}/stop", headers=auth, timeout=10).json()
    return body
