"""The manifest: a config the platform loads as it is, secrets shared with the servers, and the
ground truth beside it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chargemesh.config import load_config
from chargemesh.protocols.tcec.codec import Secrets
from chargemesh.sim.charging import CompatibilityMatrix
from chargemesh.sim.country import Country, ground_truth
from chargemesh.sim.manifest import (
    PLATFORM_OPERATOR_ID,
    SECRET_FIELDS,
    manifest_text,
    operator_secrets,
    operator_url,
    token_a,
    truth_path,
    write_manifest,
)
from chargemesh.sim.operators import ROSTER, operator_by_id
from chargemesh.sim.peers.tcec.network import OperatorNetwork
from chargemesh.sim.peers.tcec.server import TcecOperatorServer

from .countries import small_country

CHARGEMESH = str(Path(sys.executable).parent / "chargemesh")


@pytest.fixture
def small() -> Country:
    return small_country()


def ports(base: int = 9100) -> dict[str, int]:
    return {op.id: base + k for k, op in enumerate(ROSTER)}


def test_manifest_loads_and_names_every_operator(small: Country, tmp_path: Path) -> None:
    path = tmp_path / "sim" / "country.toml"
    write_manifest(
        small, path, ports=ports(), platform_url="http://127.0.0.1:8123", store_url="sqlite:///x.db"
    )
    config = load_config(path)
    assert config.store.url == "sqlite:///x.db"
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8123)
    assert config.server.base_url == "http://127.0.0.1:8123"
    assert config.tcec.operator_id == PLATFORM_OPERATOR_ID
    assert [op.id for op in config.operators] == [op.id for op in ROSTER]
    for k, entry in enumerate(config.operators):
        op = operator_by_id(entry.id)
        assert entry.name == op.name
        assert entry.protocol == op.protocol
        assert tuple(entry.capabilities) == op.capabilities
        port = 9100 + k
        if op.protocol == "ocpi":
            assert entry.url == f"http://127.0.0.1:{port}/ocpi/versions"
            assert entry.token_a is not None
            assert entry.token_a.get_secret_value() == token_a(small.seed, op)
        else:
            assert entry.dialect == op.dialect
            suffix = "/evcs/v1/" if op.dialect == "cec" else "/"
            assert entry.url == f"http://127.0.0.1:{port}{suffix}"
            outbound, inbound = operator_secrets(small.seed, op)
            assert entry.outbound is not None
            assert entry.inbound is not None
            for name in SECRET_FIELDS:
                assert getattr(entry.outbound, name).get_secret_value() == outbound[name]
                assert getattr(entry.inbound, name).get_secret_value() == inbound[name]


def test_truth_beside_the_manifest(small: Country, tmp_path: Path) -> None:
    path = tmp_path / "country.toml"
    write_manifest(small, path, ports=ports(), platform_url="http://127.0.0.1:8000")
    assert truth_path(path) == tmp_path / "country.truth.json"
    truth = json.loads(truth_path(path).read_text(encoding="utf-8"))
    compatibility = truth.pop("compatibility")
    assert truth == json.loads(json.dumps(ground_truth(small)))
    assert set(truth["operators"]) == {op.id for op in ROSTER}
    assert compatibility == CompatibilityMatrix.generate(small.seed).truth()
    assert compatibility["target"] == 0.99
    assert len(compatibility["bad_slices"]) >= 4


def test_config_check_accepts_the_manifest(small: Country, tmp_path: Path) -> None:
    path = tmp_path / "country.toml"
    write_manifest(small, path, ports=ports(), platform_url="http://127.0.0.1:8000")
    run = subprocess.run(
        [CHARGEMESH, "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "ok" in run.stdout


def test_secrets_are_derived_per_seed_and_operator() -> None:
    a, b = ROSTER[0], ROSTER[1]
    out, inb = operator_secrets(7, a)
    assert operator_secrets(7, a) == (out, inb) == operator_secrets(7, a.id)
    assert out != inb
    assert operator_secrets(7, b)[0] != out
    assert operator_secrets(8, a)[0] != out
    for secrets in (out, inb):
        assert set(secrets) == set(SECRET_FIELDS)
        assert len(secrets["data_secret"].encode()) == 16
        assert len(secrets["data_secret_iv"].encode()) == 16
        Secrets(**secrets)  # what the servers build
    assert token_a(7, "CN-LHA") == token_a(7, operator_by_id("CN-LHA")) != token_a(8, "CN-LHA")


@pytest.mark.parametrize("dialect", ["cec", "xiaoju"])
def test_urls_match_the_operator_server(dialect: str) -> None:
    op = next(o for o in ROSTER if o.dialect == dialect)
    outbound, _ = operator_secrets(7, op)
    server = TcecOperatorServer(
        op.id, op.dialect or "cec", OperatorNetwork(), {PLATFORM_OPERATOR_ID: Secrets(**outbound)}
    )
    origin = "http://127.0.0.1:9155"
    assert operator_url(op, origin) == server.base_url(origin)
    assert operator_url(op, 9155) == server.base_url(origin)
    assert operator_url(op, "http://10.0.0.5:80/custom/") == "http://10.0.0.5:80/custom/"


def test_every_operator_needs_an_endpoint(small: Country) -> None:
    partial = ports()
    partial.pop(ROSTER[5].id)
    with pytest.raises(KeyError, match=ROSTER[5].id):
        manifest_text(small, ports=partial, platform_url="http://127.0.0.1:8000")
    with pytest.raises(ValueError, match="platform_url"):
        manifest_text(small, ports=ports(), platform_url="127.0.0.1:8000")
