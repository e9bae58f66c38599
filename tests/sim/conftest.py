"""Fixtures of the simulator tests: one tiny country per session (generating it takes seconds),
and the real platform on loopback for the tests that need a peer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from chargemesh.bootstrap import OcpiSettings, Platform, assemble, tcec_clients, tcec_peers
from chargemesh.config import Config, load_config
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.sim.country import Country, generate
from chargemesh.sim.faults import FaultConfig
from chargemesh.sim.runner import Simulator
from chargemesh.store import Store, open_store
from tests.helpers import free_port

SCALE = 0.002
SEED = 7


@pytest.fixture(scope="session")
def country() -> Country:
    return generate(SCALE, SEED)


@dataclass
class World:
    """A running simulator, its manifest loaded as the platform's config, the platform serving
    at the manifest's ``server.public_url``."""

    sim: Simulator
    config: Config
    store: Store
    platform: Platform
    server: LoopbackServer


@contextmanager
def running_world(
    country: Country,
    tmp_path: Path,
    *,
    faults: float | FaultConfig = 0.0,
    store_url: str | None = None,
) -> Iterator[World]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with Simulator(country, platform_url=url, churn_rate=0, faults=faults) as sim:
        manifest = sim.write_manifest(tmp_path / "sim.toml")
        config = load_config(manifest)
        store = open_store(store_url or f"sqlite:///{tmp_path / 'registry.db'}")
        try:
            platform = assemble(
                store,
                tcec_peers(config),
                ocpi=OcpiSettings.from_config(config),
                tcec_clients=tcec_clients(config),  # as chargemesh serve: it asks operators
            )
            with LoopbackServer(platform.app(), port=port) as server:
                yield World(sim, config, store, platform, server)
        finally:
            store.close()


@pytest.fixture
def world(country: Country, tmp_path: Path) -> Iterator[World]:
    with running_world(country, tmp_path) as running:
        yield running
