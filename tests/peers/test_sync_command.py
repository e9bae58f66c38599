"""``chargemesh sync`` end to end: the real command (a subprocess) against a T/CEC operator and
an OCPI CPO on loopback ports, each feed's health recorded and served by /api/v1/operators."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from chargemesh.bootstrap import OcpiSettings, assemble, tcec_peers
from chargemesh.config import load_config
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.ocpi.models import Location, parse
from chargemesh.protocols.ocpi.transport import format_datetime
from chargemesh.protocols.tcec.codec import Secrets
from chargemesh.sim.peers.ocpi.data import CpoNetwork
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
from chargemesh.sim.peers.tcec.network import OperatorNetwork
from chargemesh.sim.peers.tcec.server import TcecOperatorServer
from chargemesh.store import open_store
from tests.helpers import free_port
from tests.peers import ocpi_samples
from tests.peers.tcec_samples import (
    OPERATOR_ID,
    PLATFORM_ID,
    PLATFORM_SECRETS,
    PUSH_SECRETS,
    STATION_COUNT,
    T0,
    station,
)

OCPI_ID = "CN-LTC"
OCPI_COUNT = 12


def secrets_toml(s: Secrets) -> str:
    return (
        f'operator_secret = "{s.operator_secret}"\ndata_secret = "{s.data_secret}"\n'
        f'data_secret_iv = "{s.data_secret_iv}"\nsig_secret = "{s.sig_secret}"\n'
    )


@dataclass
class Feeds:
    config: Path
    store_url: str
    tcec: LoopbackServer
    cpo: OcpiCpoServer


@pytest.fixture
def feeds(tmp_path: Path, store_url: str) -> Iterator[Feeds]:
    network = OperatorNetwork([station(n) for n in range(STATION_COUNT)], changed_at=T0)
    tcec = TcecOperatorServer(OPERATOR_ID, "cec", network, {PLATFORM_ID: PLATFORM_SECRETS})
    cpo_network = CpoNetwork(*ocpi_samples.CPO_PARTY, locations=ocpi_samples.locations(OCPI_COUNT))
    cpo = OcpiCpoServer(cpo_network, token_a=ocpi_samples.TOKEN_A, max_limit=5)
    port = free_port()
    with LoopbackServer(tcec.app) as tcec_server, LoopbackServer(cpo.app) as cpo_server:
        cpo.set_base_url(cpo_server.url)
        config = tmp_path / "chargemesh.toml"
        config.write_text(
            f"""
[store]
url = "{store_url}"
[server]
host = "127.0.0.1"
port = {port}
public_url = "http://127.0.0.1:{port}"
[[operators]]
id = "{OPERATOR_ID}"
name = "Lanting Charging"
protocol = "tcec"
url = "{tcec.base_url(tcec_server.url)}"
capabilities = ["realtime", "scan"]
dialect = "cec"
[operators.outbound]
{secrets_toml(PLATFORM_SECRETS)}
[operators.inbound]
{secrets_toml(PUSH_SECRETS)}
[[operators]]
id = "{OCPI_ID}"
name = "Lanting Charging International"
protocol = "ocpi"
url = "{cpo_server.url}/ocpi/versions"
token_a = "{ocpi_samples.TOKEN_A}"
capabilities = ["realtime", "scan"]
[tcec]
operator_id = "{PLATFORM_ID}"
[ocpi]
country_code = "{ocpi_samples.EMSP_PARTY[0]}"
party_id = "{ocpi_samples.EMSP_PARTY[1]}"
allow_loopback = true  # the CPO listens on loopback
""",
            encoding="utf-8",
        )
        yield Feeds(config, store_url, tcec_server, cpo)


def chargemesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chargemesh", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def operators_api(feeds: Feeds, path: str = "/api/v1/operators") -> list[dict[str, object]]:
    """The public operators list, or with ``path`` /api/v1/ops/feeds what an ops key sees."""
    config = load_config(feeds.config)
    with open_store(feeds.store_url) as store:
        platform = assemble(store, tcec_peers(config), ocpi=OcpiSettings.from_config(config))
        _, key = platform.ops_keys.create("sync test")
        with LoopbackServer(platform.app()) as server:
            headers = {"Authorization": f"Bearer {key}"} if "/ops/" in path else {}
            answer = httpx.get(f"{server.url}{path}", headers=headers, timeout=10)
    assert answer.status_code == 200
    body: list[dict[str, object]] = answer.json()
    return body


def test_sync_pulls_every_feed_and_records_its_health(feeds: Feeds) -> None:
    done = chargemesh("sync", "--config", str(feeds.config))
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout
    assert PLATFORM_SECRETS.data_secret not in done.stdout + done.stderr
    by_id = {o["id"]: o for o in operators_api(feeds)}
    assert set(by_id) == {OPERATOR_ID, OCPI_ID}
    assert by_id[OPERATOR_ID]["stations"] == STATION_COUNT
    assert by_id[OCPI_ID]["stations"] == OCPI_COUNT
    assert by_id[OCPI_ID]["evses"] == 2 * OCPI_COUNT
    for op in by_id.values():
        feed = op["feed"]
        assert isinstance(feed, dict)
        assert feed["state"] == "ok"
        assert feed["errors"] == 0
        assert feed["last_success"] is not None
        assert isinstance(feed["lag_s"], float)
    assert by_id[OPERATOR_ID]["feed"]["records"] == STATION_COUNT  # type: ignore[index]
    assert by_id[OCPI_ID]["feed"]["records"] == OCPI_COUNT  # type: ignore[index]


def test_a_failing_feed_is_recorded_and_does_not_stop_the_others(feeds: Feeds) -> None:
    assert chargemesh("sync", "--config", str(feeds.config)).returncode == 0
    feeds.tcec.stop()  # the T/CEC operator goes away
    new = ocpi_samples.location_json(OCPI_COUNT + 1)
    new["last_updated"] = format_datetime(datetime.now(UTC))  # changed after the first pull
    feeds.cpo.network.put_location(parse(Location, new))
    done = chargemesh("sync", "--config", str(feeds.config))
    assert done.returncode == 1
    assert "failed" in done.stdout
    by_id = {o["id"]: o for o in operators_api(feeds)}
    tcec_feed, ocpi_feed = by_id[OPERATOR_ID]["feed"], by_id[OCPI_ID]["feed"]
    assert isinstance(tcec_feed, dict)
    assert isinstance(ocpi_feed, dict)
    assert tcec_feed["state"] == "failing"  # PRODUCT.md: ok, degraded or failing
    assert tcec_feed["errors"] == 1
    assert "last_error" not in tcec_feed  # the error's text is the operations team's
    full = {o["id"]: o["feed"] for o in operators_api(feeds, "/api/v1/ops/feeds")}
    assert full[OPERATOR_ID]["last_error"]  # type: ignore[index]
    assert tcec_feed["last_success"] is not None  # from the first sync
    assert by_id[OPERATOR_ID]["stations"] == STATION_COUNT  # nothing delisted
    assert ocpi_feed["state"] == "ok"
    assert by_id[OCPI_ID]["stations"] == OCPI_COUNT + 1


def test_sync_of_an_unknown_operator_is_a_usage_error(feeds: Feeds) -> None:
    done = chargemesh("sync", "--config", str(feeds.config), "--operator", "NOSUCHONE")
    assert done.returncode == 2
    assert "NOSUCHONE" in done.stderr


def test_serve_syncs_at_start_serves_the_api_and_stops_cleanly_on_ctrl_c(feeds: Feeds) -> None:
    config = load_config(feeds.config)
    url = f"{config.server.base_url}/api/v1/operators"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chargemesh", "serve", "--config", str(feeds.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        states: dict[object, object] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            try:
                answer = httpx.get(url, timeout=5)
            except httpx.HTTPError:
                continue
            states = {o["id"]: o["feed"]["state"] for o in answer.json()}
            if states == {OPERATOR_ID: "ok", OCPI_ID: "ok"}:
                break
        assert proc.poll() is None, proc.communicate()[1]
        assert states == {OPERATOR_ID: "ok", OCPI_ID: "ok"}
        # the platform also answers the protocols while it serves: OCPI versions with our token
        versions = httpx.get(f"{config.server.base_url}/ocpi/versions", timeout=5)
        assert versions.status_code == 401  # no token: refused with the envelope
        assert versions.json()["status_code"] == 2000
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
