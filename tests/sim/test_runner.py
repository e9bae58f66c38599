"""The simulator as a whole: its servers' life cycle, the manifest, status churn and its pushes to
the real platform, feed faults, and the ``chargemesh sim`` command."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from chargemesh.config import load_config
from chargemesh.domain import StatusChanged
from chargemesh.protocols.ocpi import mapping as ocpi_mapping
from chargemesh.protocols.ocpi.mapping import connector_status as from_ocpi
from chargemesh.protocols.tcec.client import client_from_config
from chargemesh.protocols.tcec.codec import CHINA_TZ, Secrets, open_response, seal_request
from chargemesh.protocols.tcec.interfaces import Interface, endpoint_url
from chargemesh.protocols.tcec.mapping import connector_status as from_tcec
from chargemesh.protocols.tcec.stations import StationInfo
from chargemesh.protocols.tcec.wire import parse
from chargemesh.services.feeds.ocpi_sync import ensure_registered, sync_ocpi_operator
from chargemesh.services.feeds.tcec_sync import sync_tcec_operator
from chargemesh.sim.churn import (
    IDLE,
    OCPI_OF_CODE,
    STEADY_STATE,
    TRANSITIONS,
    Change,
    Churn,
    rhythm,
)
from chargemesh.sim.country import Country, ground_truth
from chargemesh.sim.faults import FaultConfig, FaultInjector
from chargemesh.sim.feeds import OcpiCpoFeed, TcecOperatorFeed, build_feeds
from chargemesh.sim.manifest import PLATFORM_OPERATOR_ID, operator_secrets, token_a
from chargemesh.sim.runner import Simulator, default_churn_rate
from tests.helpers import wait_for
from tests.sim.conftest import SCALE, World, running_world
from tests.sim.test_feeds import all_stations, tcec_client

CEC = "MA1QQC017"
OCPI = "CN-TLN"
CHARGEMESH = str(Path(sys.executable).parent / "chargemesh")


def other_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t is not threading.main_thread()}


# --------------------------------------------------------------------------- life cycle


def test_the_simulator_serves_every_operator_and_stops_clean(country: Country) -> None:
    before = other_threads()
    sim = Simulator(country, churn_rate=5)
    with sim:
        assert sim.running
        assert sim.churn.running
        assert len(set(sim.ports.values())) == len(country.operators) == 26
        with httpx.Client(timeout=5) as http:
            for op in country.operators:
                url = sim.urls[op.id]
                if op.protocol == "ocpi":
                    # The CPO accepts the manifest's token A (for the registration only).
                    headers = {"Authorization": f"Token {token_a(country.seed, op)}"}
                    answer = http.get(url, headers=headers)
                    assert answer.status_code == 200, op.id
                    assert answer.json()["data"][0]["version"] == "2.2.1"
                else:
                    # A T/CEC server answers an envelope (here: 4003, not a valid request).
                    query_token = endpoint_url(url, Interface.QUERY_TOKEN, op.dialect or "cec")
                    answer = http.post(query_token, json={})
                    assert answer.status_code == 200, op.id
                    assert answer.json()["Ret"] == 4003
        with pytest.raises(RuntimeError, match="already started"):
            sim.start()
    assert not sim.running
    assert not sim.churn.running
    sim.stop()  # idempotent
    assert other_threads() <= before
    with pytest.raises(RuntimeError, match="start the simulator"):
        sim.write_manifest(Path("never.toml"))


def test_the_manifest_is_a_config_pointing_at_the_running_servers(
    country: Country, tmp_path: Path
) -> None:
    with Simulator(country, platform_url="http://127.0.0.1:8123/", churn_rate=0) as sim:
        path = sim.write_manifest(tmp_path / "out" / "sim.toml")
        config = load_config(path)
        assert config.server.base_url == "http://127.0.0.1:8123"
        assert {op.id: op.url for op in config.operators} == sim.urls
        tcec = config.operator(CEC)
        outbound, inbound = operator_secrets(country.seed, CEC)
        assert tcec.inbound is not None
        assert tcec.inbound.data_secret.get_secret_value() == inbound["data_secret"]
        assert tcec.outbound is not None
        assert tcec.outbound.sig_secret.get_secret_value() == outbound["sig_secret"]
        truth = json.loads(Simulator.truth_path(path).read_text(encoding="utf-8"))
        assert truth.pop("compatibility") == sim.compatibility.truth()
        assert truth == json.loads(json.dumps(ground_truth(country)))
        assert truth["listed"]["evses"] == country.n_evses


# --------------------------------------------------------------------------- churn


def test_the_daily_rhythm_peaks_in_the_evening() -> None:
    def at(hour: int) -> datetime:
        return datetime(2026, 5, 1, hour, tzinfo=CHINA_TZ)

    assert rhythm(at(18)) == pytest.approx(1.6)
    assert rhythm(at(6)) == pytest.approx(0.4)
    assert rhythm(at(12)) == pytest.approx(1.0)
    assert np.mean([rhythm(at(h)) for h in range(24)]) == pytest.approx(1.0)
    assert rhythm(datetime(2026, 5, 1, 10, tzinfo=UTC)) == pytest.approx(1.6)  # 18:00 in China


def test_churn_is_deterministic_for_a_seed(country: Country) -> None:
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)

    def run(seed: int) -> list[Change]:
        feeds = build_feeds(country, seed=5)
        return Churn(list(feeds.values()), rate=0, seed=seed).step(400, at)

    first, again, other = run(11), run(11), run(12)
    assert first == again
    assert first != other
    assert sum(1 for c in first if c.old != c.new) == len(first)


def test_churn_moves_along_the_transitions_and_keeps_a_realistic_mix(country: Country) -> None:
    feeds = build_feeds(country, seed=1)
    churn = Churn(list(feeds.values()), rate=0, seed=1)
    mirrors = 0
    for change in churn.step(20_000):
        followed = feeds[change.operator_id].followers[change.unit]
        if followed:
            mirrors += 1
        else:
            assert change.new in TRANSITIONS[change.old] or change.new == IDLE
    assert churn.stats["changes"] == 20_000
    assert churn.stats["mirrored"] == mirrors
    codes = np.concatenate([f.status for f in feeds.values()])
    for code, share in STEADY_STATE.items():
        assert float(np.mean(codes == code)) == pytest.approx(share, abs=0.03), code


def test_churn_runs_at_the_configured_rate_and_stops(country: Country) -> None:
    feeds = build_feeds(country)
    before = other_threads()
    noon = datetime(2026, 5, 1, 12, tzinfo=CHINA_TZ)
    churn = Churn(list(feeds.values()), rate=400, seed=2, clock=lambda: noon, tick_s=0.05)
    assert churn.pace() == pytest.approx(400)  # 12:00 China: the daily mean
    with churn:
        time.sleep(1.5)
    elapsed_changes = churn.stats["changes"]
    assert 400 * 1.5 * 0.75 < elapsed_changes < 400 * 1.5 * 1.25
    assert not churn.running
    assert other_threads() <= before
    evening = Churn(list(feeds.values()), rate=400, clock=lambda: noon.replace(hour=18))
    assert evening.pace() == pytest.approx(640)
    flat = Churn(list(feeds.values()), rate=400, daily_rhythm=False, clock=lambda: noon)
    assert flat.pace(noon.replace(hour=6)) == 400


def test_the_default_churn_rate_is_about_a_dozen_changes_per_connector_a_day(
    country: Country,
) -> None:
    feeds = build_feeds(country)
    units = sum(f.units for f in feeds.values())
    assert default_churn_rate(country) == pytest.approx(max(1.0, units * 12 / 86_400))


def sync_tcec(world: World, op_id: str) -> int:
    op = world.config.operator(op_id)

    async def run() -> int:
        async with httpx.AsyncClient(timeout=10) as http:
            client = client_from_config(world.config, op_id, http)
            report = await sync_tcec_operator(
                client, op.to_operator(), world.store, world.platform.relay
            )
            return report.stations

    return world.server.call(run())


def sync_ocpi(world: World, op_id: str) -> Any:
    connections = world.platform.ocpi_connections
    world.server.call(ensure_registered(connections, world.config.operator(op_id)))
    p = world.platform
    return world.server.call(
        sync_ocpi_operator(connections, p.ocpi_locations, p.ocpi_objects, op_id, limit=20)
    )


def test_status_changes_are_pushed_to_the_platform(world: World) -> None:
    sync_tcec(world, CEC)
    sync_ocpi(world, OCPI)
    seen: list[StatusChanged] = []
    world.platform.bus.subscribe(StatusChanged, seen.append)
    tcec, ocpi = world.sim.feeds[CEC], world.sim.feeds[OCPI]
    assert isinstance(tcec, TcecOperatorFeed)
    assert isinstance(ocpi, OcpiCpoFeed)
    latest: dict[tuple[str, int], int] = {}
    while sum(1 for op, _ in latest if op == CEC) < 10 or OCPI not in {op for op, _ in latest}:
        for change in world.sim.churn.step(50):
            if change.operator_id in (CEC, OCPI):
                latest[(change.operator_id, change.unit)] = change.new

    def stored(op_id: str, unit: int) -> Any:
        if op_id == CEC:
            cid = tcec.connector_id(unit)
            station_id = f"{CEC}:{cid[:-5]}"
            station = world.store.get_station(station_id)
            assert station is not None
            return next(c.status for c in station.connectors if c.source_id == cid)
        location_id, evse_uid = ocpi.evse_of(unit)
        station = world.store.get_station(ocpi_mapping.location_key(OCPI, location_id))
        assert station is not None
        key = ocpi_mapping.connector_key(OCPI, location_id, evse_uid, "1")
        return next(c.status for c in station.connectors if c.id == key)

    def expected(op_id: str, code: int) -> Any:
        return from_tcec(code) if op_id == CEC else from_ocpi(OCPI_OF_CODE[code].value)

    wait_for(lambda: all(stored(op, u) is expected(op, code) for (op, u), code in latest.items()))
    sources = Counter(e.source for e in seen if e.operator_id in (CEC, OCPI))
    assert sources["tcec:push"] > 0
    assert sources["ocpi:push"] > 0
    stats = world.sim.churn.stats
    # counted once the platform's answer is back, a moment after the platform has applied it
    wait_for(lambda: stats["pushed"] >= len(latest))
    # Operators the platform has not synced yet: each push refused, but the pushes go on.
    wait_for(lambda: stats["push_rejected"] > 0)
    assert stats["push_failed"] == 0


def test_without_a_platform_nothing_is_pushed(country: Country) -> None:
    with Simulator(country, churn_rate=0) as sim:
        assert set(sim.churn.pushers) == {
            op.id
            for op in country.operators
            if op.protocol == "ocpi" and "realtime" in op.capabilities
        }
        sim.churn.step(200)
        wait_for(lambda: sim.churn.stats["push_skipped"] > 0)
        assert sim.churn.stats["pushed"] == 0  # no CPO is registered with a platform


# --------------------------------------------------------------------------- faults


def test_no_fault_ever_when_faults_are_off(country: Country) -> None:
    with Simulator(country, churn_rate=0) as sim:
        assert sim.injectors == {}

        async def run() -> int:
            async with httpx.AsyncClient(timeout=10) as http:
                _, stations = await all_stations(tcec_client(sim, CEC, http), page_size=5)
                return len(stations)

        assert asyncio.run(run()) == sim.feeds[CEC].station_count
        assert sim.fault_counts() == Counter()
    never = FaultInjector(CEC, FaultConfig(probability=0.0))
    assert all(never.draw(page) is None for page in range(1000))


def test_fault_decisions_are_reproducible() -> None:
    config = FaultConfig(probability=0.3, seed=4)
    first, second = FaultInjector(CEC, config), FaultInjector(CEC, config)
    drawn = [first.draw(page) for page in range(200)]
    assert drawn == [second.draw(page) for page in range(200)]
    assert set(drawn) == {None, "http_500", "timeout", "malformed"}
    assert [FaultInjector(OCPI, config).draw(page) for page in range(200)] != drawn
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultConfig(probability=1.5)


def only(kind: str, delay_s: float = 35.0) -> FaultConfig:
    return FaultConfig(probability=1.0, kinds={kind: 1.0}, delay_s=delay_s)  # type: ignore[dict-item]


def test_a_page_that_fails_once_is_served_on_the_retry(country: Country) -> None:
    with Simulator(country, churn_rate=0, faults=only("http_500")) as sim:

        async def run() -> tuple[int, list[StationInfo]]:
            async with httpx.AsyncClient(timeout=10) as http:
                return await all_stations(tcec_client(sim, CEC, http), page_size=20)

        pages, stations = asyncio.run(run())
        assert len(stations) == sim.feeds[CEC].station_count
        assert sim.injectors[CEC].counts == Counter({"http_500": pages})
        assert sim.tcec_servers[CEC].fail_page_once == set()


def test_a_late_page_times_the_client_out_and_its_retry_succeeds(country: Country) -> None:
    with Simulator(country, churn_rate=0, faults=only("timeout", delay_s=1.0)) as sim:

        async def run() -> tuple[int, list[StationInfo]]:
            async with httpx.AsyncClient(timeout=0.3) as http:
                return await all_stations(tcec_client(sim, CEC, http), page_size=60)

        pages, stations = asyncio.run(run())
        assert len(stations) == sim.feeds[CEC].station_count
        assert sim.injectors[CEC].counts == Counter({"timeout": pages})


def raw_page(sim: Simulator, page_no: int) -> dict[str, Any]:
    """One query_stations_info page, decrypted but not parsed: what the wire carries."""
    url = sim.urls[CEC]
    secrets = Secrets(**operator_secrets(sim.country.seed, CEC)[0])

    def post(interface: Interface, payload: dict[str, Any], token: str | None) -> Any:
        body = seal_request(
            PLATFORM_OPERATOR_ID, payload, secrets, seq="0001", timestamp=datetime.now(CHINA_TZ)
        )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = httpx.post(endpoint_url(url, interface, "cec"), json=body, headers=headers)
        return open_response(answer.content, secrets)

    token = post(
        Interface.QUERY_TOKEN,
        {"OperatorID": PLATFORM_OPERATOR_ID, "OperatorSecret": secrets.operator_secret},
        None,
    )["AccessToken"]
    page: dict[str, Any] = post(
        Interface.QUERY_STATIONS_INFO, {"PageNo": page_no, "PageSize": 10}, token
    )
    return page


def test_a_malformed_record_reaches_the_wire_in_a_valid_envelope(country: Country) -> None:
    with Simulator(country, churn_rate=0, faults=only("malformed")) as sim:
        page = raw_page(sim, 2)
        broken = []
        for record in page["StationInfos"]:
            try:
                parse(StationInfo, record)
            except Exception:
                broken.append(record["StationID"])
        assert len(page["StationInfos"]) == 10
        assert len(broken) == 1
        (event,) = sim.injectors[CEC].events
        assert (event.kind, event.record) == ("malformed", broken[0])
        assert event.where.startswith("page 2: ")


def test_the_platform_skips_a_malformed_ocpi_location_and_keeps_the_rest(
    country: Country, tmp_path: Path
) -> None:
    with running_world(country, tmp_path, faults=only("malformed")) as world:
        report = sync_ocpi(world, OCPI)
        stations = ground_truth(country)["operators"][OCPI]["stations"]
        assert report.rejected == report.pages == -(-stations // 20)
        assert report.locations == stations - report.rejected
        assert world.sim.fault_counts() == Counter({"malformed": report.pages})


def test_ocpi_pages_that_fail_once_are_retried_by_the_platform(
    country: Country, tmp_path: Path
) -> None:
    with running_world(country, tmp_path, faults=only("http_500")) as world:
        world.platform.ocpi_connections.backoff_s = 0.01
        report = sync_ocpi(world, OCPI)
        stations = ground_truth(country)["operators"][OCPI]["stations"]
        assert report.locations == stations
        # every page request failed once, then was served: the catch-up of what changed during
        # the pull is one such page too (empty or not)
        asked = world.sim.ocpi_servers[OCPI].requests["GET /ocpi/2.2.1/locations"]
        assert asked % 2 == 0
        assert asked // 2 >= report.pages
        assert world.sim.injectors[OCPI].counts == Counter({"http_500": asked // 2})


# --------------------------------------------------------------------------- the command


def run_cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # the operators' table on one line each
    return subprocess.run(
        [CHARGEMESH, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def test_sim_help_and_bad_arguments(tmp_path: Path) -> None:
    shown = run_cli("sim", "--help", cwd=tmp_path)
    assert shown.returncode == 0
    for option in ("--scale", "--manifest", "--seed", "--churn", "--faults", "--platform-url"):
        assert option in shown.stdout
    assert run_cli("sim", "--scale", "0", cwd=tmp_path).returncode == 2
    assert run_cli("sim", "--faults", "1.5", cwd=tmp_path).returncode == 2
    bad_url = run_cli("sim", "--platform-url", "ftp://x", cwd=tmp_path)
    assert bad_url.returncode == 2
    assert "must be an http:// or https:// URL" in bad_url.stderr
    assert "Traceback" not in bad_url.stderr


def test_sim_runs_writes_its_manifest_and_stops(tmp_path: Path) -> None:
    args = ("--scale", str(SCALE), "--manifest", "out/sim.toml", "--churn", "20")
    done = run_cli("sim", *args, "--run-for", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    manifest = tmp_path / "out" / "sim.toml"
    config = load_config(manifest)
    assert len(config.operators) == 26
    assert (tmp_path / "out" / "sim.truth.json").is_file()
    assert "out/sim.toml" in done.stdout
    assert "stopped:" in done.stdout
    for op in config.operators:
        assert op.url in done.stdout
