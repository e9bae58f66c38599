"""Faults of partners survived: an operator whose station pages (T/CEC) or locations (OCPI)
come slowly, as a 100 MB page, as invalid JSON, over a TLS handshake that fails, or never end.

Each is a real server on loopback — the simulator's operator or CPO, made to misbehave on its
pages only (tests/peers/misbehaving.py) — synced in one run with a healthy operator. The faulty
feeds are marked failed with a reason within a bounded time, the healthy one is synced, and
the process's peak memory grows by far less than the 100 MB page (it is streamed and dropped
at ``[sync] page_max_mb``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from chargemesh.bootstrap import OcpiSettings, assemble
from chargemesh.bus import EventBus
from chargemesh.config import Config, parse_config
from chargemesh.events.relay import OutboxRelay
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.tcec.codec import Secrets
from chargemesh.services.feeds.ingest import FeedResult, OcpiSide, sync_all
from chargemesh.sim.peers.ocpi.data import CpoNetwork
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
from chargemesh.sim.peers.tcec.network import OperatorNetwork
from chargemesh.sim.peers.tcec.server import TcecOperatorServer
from chargemesh.store import FeedHealth, Store
from tests.helpers import free_port
from tests.peers.misbehaving import ASGIApp, faulty
from tests.peers.ocpi_samples import CPO_PARTY, EMSP_PARTY, TOKEN_A, locations
from tests.peers.tcec_samples import (
    OPERATOR_ID,
    PLATFORM_ID,
    PLATFORM_SECRETS,
    PUSH_SECRETS,
    T0,
    station,
)

PAGE_MAX_MB = 8
PAGE_TIMEOUT_S = 2.0
LIMITS = f"[sync]\npage_max_mb = {PAGE_MAX_MB}\npage_timeout_s = {PAGE_TIMEOUT_S}\n"
#: what each fault's feed must say
REASONS = {
    "slow": "no whole answer within 2 s",
    "endless": "no whole answer within 2 s",
    "huge": f"larger than {PAGE_MAX_MB * 1024 * 1024} bytes",
    "badjson": "not",  # T/CEC: "body is not JSON"; OCPI: "the body is not an OCPI envelope"
    "tls": "SSL",
}
#: the sync of them all, retries included, ends within this (each fault costs 4 tries at most)
BOUND_S = 60.0
#: the process's peak memory may grow by less than this over the run (one page is 100 MB)
RSS_BOUND_MB = 60


def _secrets(s: Secrets) -> str:
    return (
        f'operator_secret = "{s.operator_secret}"\ndata_secret = "{s.data_secret}"\n'
        f'data_secret_iv = "{s.data_secret_iv}"\nsig_secret = "{s.sig_secret}"\n'
    )


def _peak_rss_reset() -> None:
    """Start measuring the peak afresh (Linux: VmHWM reset by clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/self/status")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@contextmanager
def _measured() -> Iterator[list[float]]:
    """Yields [growth of the peak RSS in MB, seconds], filled when the block ends."""
    result: list[float] = []
    before = _rss_mb()
    _peak_rss_reset()
    started = time.monotonic()
    yield result
    result += [_peak_rss_mb() - before, time.monotonic() - started]


def _assert_survived(
    store: Store,
    results: list[FeedResult],
    healthy: str,
    faults: dict[str, str],
    measured: tuple[float, float],
) -> None:
    """The healthy feed synced its 3 stations, each faulty one is marked with its reason, and
    the run stayed within its time and memory bounds."""
    assert {r.operator_id for r in results if r.ok} == {healthy}
    health = store.feed_health()
    assert health[healthy].state == "ok"
    assert health[healthy].listed == 3
    assert len(store.station_ids(healthy)) == 3
    _assert_marked(health, faults)
    grown_mb, seconds = measured
    assert seconds < BOUND_S
    assert grown_mb < RSS_BOUND_MB, f"peak RSS grew by {grown_mb:.0f} MB"


def _assert_marked(health: dict[str, FeedHealth], faults: dict[str, str]) -> None:
    for operator_id, fault in faults.items():
        feed = health[operator_id]
        assert feed.state == "failed", (operator_id, feed)
        assert feed.last_error is not None
        assert REASONS[fault] in feed.last_error, (fault, feed.last_error)


# --------------------------------------------------------------------------- T/CEC

TCEC_FAULTS = {
    "FAULTSLOW": "slow",
    "FAULTHUGE": "huge",
    "FAULTJSON": "badjson",
    "FAULTENDS": "endless",
    "FAULTTLS1": "tls",
}


def _tcec_operator(operator_id: str) -> TcecOperatorServer:
    network = OperatorNetwork([station(n) for n in range(3)], changed_at=T0)
    return TcecOperatorServer(operator_id, "cec", network, {PLATFORM_ID: PLATFORM_SECRETS})


def _tcec_toml(operator_id: str, url: str) -> str:
    return (
        f'[[operators]]\nid = "{operator_id}"\nprotocol = "tcec"\nurl = "{url}"\n'
        f'dialect = "cec"\n[operators.outbound]\n{_secrets(PLATFORM_SECRETS)}'
        f"[operators.inbound]\n{_secrets(PUSH_SECRETS)}\n"
    )


def test_tcec_operators_that_misbehave_are_marked_and_the_others_synced(store: Store) -> None:
    with ExitStack() as servers:
        healthy = _tcec_operator(OPERATOR_ID)
        healthy_url = servers.enter_context(LoopbackServer(healthy.app)).url
        text = f'[tcec]\noperator_id = "{PLATFORM_ID}"\n{LIMITS}'
        text += _tcec_toml(OPERATOR_ID, healthy.base_url(healthy_url))
        for operator_id, fault in TCEC_FAULTS.items():
            operator = _tcec_operator(operator_id)
            if fault == "tls":  # https spoken to a plain HTTP port: the handshake fails
                url = operator.base_url(servers.enter_context(LoopbackServer(operator.app)).url)
                url = url.replace("http://", "https://")
            else:  # its token is issued, its station pages misbehave
                app = faulty(operator.app, fault, "stations_info")
                url = operator.base_url(servers.enter_context(LoopbackServer(app)).url)
            text += _tcec_toml(operator_id, url)
        config = parse_config(text)
        relay = OutboxRelay(store, EventBus())
        # the healthy feed alone first: what a first sync loads once (the county table for the
        # coverage snapshot, the codecs) is not what the faults may cost
        asyncio.run(sync_all(config, store, relay, ocpi=None, operators=[OPERATOR_ID]))
        with _measured() as (measured):
            results = asyncio.run(sync_all(config, store, relay, ocpi=None, merge=False))
    _assert_survived(store, results, OPERATOR_ID, TCEC_FAULTS, measured)


# --------------------------------------------------------------------------- OCPI

OCPI_FAULTS = {
    "CN-SLW": "slow",
    "CN-HUG": "huge",
    "CN-BAD": "badjson",
    "CN-END": "endless",
    "CN-TLS": "tls",
}


def _ocpi_toml(operator_id: str, url: str) -> str:
    return f'[[operators]]\nid = "{operator_id}"\nprotocol = "ocpi"\nurl = "{url}"\n' + (
        f'token_a = "{TOKEN_A}"\n'
    )


@pytest.fixture
def ocpi_country(store: Store) -> Iterator[tuple[Config, LoopbackServer, OcpiSide, str]]:
    """A healthy CPO and one per fault (its locations misbehave), our platform served, and an
    operations key to read its feeds."""
    with ExitStack() as stack:
        port = free_port()
        text = (
            f'[server]\npublic_url = "http://127.0.0.1:{port}"\n{LIMITS}'
            f'[ocpi]\ncountry_code = "{EMSP_PARTY[0]}"\nparty_id = "{EMSP_PARTY[1]}"\n'
            "allow_loopback = true\n"
        )
        healthy = OcpiCpoServer(CpoNetwork(*CPO_PARTY, locations=locations(3)), token_a=TOKEN_A)
        cpos: dict[str, tuple[OcpiCpoServer, ASGIApp]] = {
            "-".join(CPO_PARTY): (healthy, healthy.app)
        }
        for party, fault in OCPI_FAULTS.items():
            cpo = OcpiCpoServer(CpoNetwork(*party.split("-")), token_a=TOKEN_A)
            cpos[party] = (cpo, faulty(cpo.app, fault, "/locations"))
        for party, (cpo, app) in cpos.items():
            server = stack.enter_context(LoopbackServer(app))
            cpo.set_base_url(server.url)
            stack.callback(server.call, cpo.close())
            url = f"{server.url}/ocpi/versions"
            if OCPI_FAULTS.get(party) == "tls":  # https to a plain port: registration fails
                url = url.replace("http://", "https://")
            text += _ocpi_toml(party, url)
        config = parse_config(text)
        for op in config.operators:  # the registry knows them, as after a start
            store.upsert_operator(op.to_operator())
        platform = assemble(store, ocpi=OcpiSettings.from_config(config))
        platform.ocpi_connections.retries = 1  # a failing page is tried twice, then the pull stops
        platform.ocpi_connections.backoff_s = 0.01
        ours = stack.enter_context(LoopbackServer(platform.app(), port=port))
        side = OcpiSide(platform.ocpi_connections, platform.ocpi_locations, platform.ocpi_objects)
        _, key = platform.ops_keys.create("night shift")
        yield config, ours, side, key


def test_ocpi_cpos_that_misbehave_are_marked_and_the_others_synced(
    store: Store, ocpi_country: tuple[Config, LoopbackServer, OcpiSide, str]
) -> None:
    config, ours, side, key = ocpi_country
    relay = OutboxRelay(store, EventBus())
    healthy = "-".join(CPO_PARTY)
    ours.call(sync_all(config, store, relay, ocpi=side, operators=[healthy]))  # loads what it needs
    with _measured() as (measured):
        results = ours.call(sync_all(config, store, relay, ocpi=side, merge=False))
    _assert_survived(store, results, healthy, OCPI_FAULTS, measured)
    # and the operations team sees it: each faulty feed failing, with its reason
    answer = httpx.get(
        f"{ours.url}/api/v1/ops/feeds", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    feeds = {o["id"]: o["feed"] for o in answer.json()}
    for party, fault in OCPI_FAULTS.items():
        assert feeds[party]["state"] == "failing", (party, feeds[party])
        assert REASONS[fault] in feeds[party]["last_error"], (party, feeds[party])
