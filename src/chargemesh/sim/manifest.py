"""The manifest of a running simulated country: a config file (docs/configuration.md, the format of
PRODUCT.md) that ``chargemesh serve`` and ``sync`` accept as it is, and the ground truth beside it.

Secrets are derived from the country's seed and the operator's id (SHA-256), so the simulator's
servers and the manifest agree without passing secrets around: :func:`operator_secrets` gives
both directions of a T/CEC link as the platform sees them —

* ``outbound``: the secrets the operator issued to the platform, which the platform uses for its
  calls to the operator (the operator's server checks them);
* ``inbound``: the secrets the platform issued to the operator, which the operator uses to push to
  the platform (``notification_*``);

— and :func:`token_a` the OCPI registration token a simulated CPO hands out.

With ``csms_port`` the manifest also has a ``[csms]`` section: the platform's own chargers (the
simulator's :mod:`~.peers.ocpp` fleet, listed in the truth as ``own_chargers``) connect to
``ws://127.0.0.1:<port>/ocpp/<id>``, where ``serve`` runs the CSMS.

The ground truth is :func:`~.country.ground_truth` plus ``compatibility``: the vehicle × charger
compatibility matrix the simulated operators start cars with (``target`` success rate,
``bad_slices`` …, :meth:`~.charging.CompatibilityMatrix.truth`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from chargemesh.sim.charging import CompatibilityMatrix
from chargemesh.sim.country import Country, ground_truth
from chargemesh.sim.country.own import NETWORK_NAME, OPERATOR_ID
from chargemesh.sim.operators import SimOperator

__all__ = [
    "PLATFORM_OPERATOR_ID",
    "PLATFORM_PARTY",
    "SECRET_FIELDS",
    "csms_url",
    "manifest_text",
    "manifest_truth",
    "operator_secrets",
    "operator_url",
    "token_a",
    "truth_path",
    "write_manifest",
]

#: The platform's own T/CEC OperatorID and OCPI party in the manifest (the config's defaults).
PLATFORM_OPERATOR_ID: Final = "MA01H3BQ2"
PLATFORM_PARTY: Final = ("CN", "CMH")
#: The four T/CEC secrets of one direction, as in the config and ``codec.Secrets``.
SECRET_FIELDS: Final = ("operator_secret", "data_secret", "data_secret_iv", "sig_secret")
_LENGTHS: Final = {"operator_secret": 24, "data_secret": 16, "data_secret_iv": 16, "sig_secret": 24}


def _derive(seed: int, operator_id: str, purpose: str) -> str:
    text = f"chargemesh-sim/{seed}/{operator_id.upper()}/{purpose}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _op_id(operator: SimOperator | str) -> str:
    return operator if isinstance(operator, str) else operator.id


def operator_secrets(
    country_seed: int, operator: SimOperator | str
) -> tuple[dict[str, str], dict[str, str]]:
    """(outbound, inbound) T/CEC secrets of the link to ``operator``, as dicts with the keys of
    ``chargemesh.protocols.tcec.codec.Secrets`` (``Secrets(**outbound)`` works);
    ``data_secret`` and ``data_secret_iv`` are 16 ASCII characters."""
    op_id = _op_id(operator)
    out: list[dict[str, str]] = []
    for direction in ("outbound", "inbound"):
        out.append(
            {
                name: _derive(country_seed, op_id, f"{direction}/{name}")[: _LENGTHS[name]]
                for name in SECRET_FIELDS
            }
        )
    return out[0], out[1]


def token_a(seed: int, operator: SimOperator | str) -> str:
    """The OCPI registration token (``token_a``) a simulated CPO issues to the platform."""
    return "sim-a-" + _derive(seed, _op_id(operator), "token_a")[:32]


def operator_url(operator: SimOperator, endpoint: int | str) -> str:
    """The URL the platform configures for ``operator`` served at ``endpoint``: a loopback port,
    an origin (``http://127.0.0.1:9101``) or a full URL (used as it is). T/CEC ``cec``:
    ``<origin>/evcs/v1/``; ``xiaoju`` (absolute interface paths): ``<origin>/``; OCPI:
    ``<origin>/ocpi/versions``."""
    if isinstance(endpoint, int):
        origin = f"http://127.0.0.1:{endpoint}"
    else:
        if urlsplit(endpoint).path not in ("", "/"):
            return endpoint
        origin = endpoint.rstrip("/")
    if operator.protocol == "ocpi":
        return f"{origin}/ocpi/versions"
    if operator.dialect == "xiaoju":
        return f"{origin}/"
    return f"{origin}/evcs/v1/"


def csms_url(port: int, host: str = "127.0.0.1") -> str:
    """The ``[csms] public_url`` own chargers are configured with (``{url}/{charger id}``)."""
    return f"ws://{host}:{port}/ocpp"


def _csms_lines(port: int) -> list[str]:
    return [
        "",
        "[csms]  # the platform's own chargers (OCPP 1.6J / 2.0.1) connect here",
        'host = "127.0.0.1"',
        f"port = {port}",
        f"public_url = {_s(csms_url(port))}",
        f"network_name = {_s(NETWORK_NAME)}",
        f"operator_id = {_s(OPERATOR_ID)}",
    ]


def truth_path(path: Path) -> Path:
    """Where the ground truth goes for the manifest at ``path``: ``<stem>.truth.json`` beside it."""
    return path.with_name(f"{path.stem}.truth.json")


def _s(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def manifest_text(
    country: Country,
    *,
    ports: Mapping[str, int] | Mapping[str, str],
    platform_url: str,
    store_url: str = "sqlite:///chargemesh.db",
    platform_operator_id: str = PLATFORM_OPERATOR_ID,
    platform_party: tuple[str, str] = PLATFORM_PARTY,
    csms_port: int | None = None,
) -> str:
    """The config TOML for ``country``'s operators served at ``ports`` (operator id → port,
    origin or URL; every operator needs one), and the ``[csms]`` on ``csms_port`` if given."""
    missing = [op.id for op in country.operators if op.id not in ports]
    if missing:
        raise KeyError(f"no port or URL for operator(s) {', '.join(missing)}")
    parts = urlsplit(platform_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"platform_url must be an http(s) URL, not {platform_url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    lines = [
        f"# The simulated country: scale {country.scale:g}, seed {country.seed}, "
        f"{len(country.operators)} operators.",
        "# Written by chargemesh.sim.manifest; ground truth in "
        "<this file's stem>.truth.json beside it.",
        "",
        "[store]",
        f"url = {_s(store_url)}",
        "",
        "[server]",
        f"host = {_s(parts.hostname)}",
        f"port = {port}",
        f"public_url = {_s(platform_url.rstrip('/'))}",
        "",
        "[tcec]",
        f"operator_id = {_s(platform_operator_id)}",
        "",
        "[ocpi]",
        f"country_code = {_s(platform_party[0])}",
        f"party_id = {_s(platform_party[1])}",
        "allow_loopback = true  # the simulated CPOs listen on this machine",
        "",
        "[merge]  # the aggregator lists other networks' stations: never the canonical one",
        "resellers = ["
        + ", ".join(_s(o.id) for o in country.operators if o.kind == "aggregator")
        + "]",
    ]
    if csms_port is not None:
        lines += _csms_lines(csms_port)
    for op in country.operators:
        lines += [
            "",
            "[[operators]]",
            f"id = {_s(op.id)}",
            f"name = {_s(op.name)}",
            f"protocol = {_s(op.protocol)}",
            f"url = {_s(operator_url(op, ports[op.id]))}",
            f"capabilities = [{', '.join(_s(c) for c in op.capabilities)}]",
        ]
        if op.protocol == "tcec":
            outbound, inbound = operator_secrets(country.seed, op)
            lines.append(f"dialect = {_s(op.dialect or 'cec')}")
            for table, secrets in (("outbound", outbound), ("inbound", inbound)):
                lines.append(f"[operators.{table}]")
                lines += [f"{name} = {_s(secrets[name])}" for name in SECRET_FIELDS]
        else:
            lines.append(f"token_a = {_s(token_a(country.seed, op))}")
    return "\n".join(lines) + "\n"


def manifest_truth(
    country: Country, compatibility: CompatibilityMatrix | None = None
) -> dict[str, Any]:
    """The ground truth written beside the manifest: ``ground_truth(country)`` and the
    ``compatibility`` matrix (default: the one generated from the country's seed, as the
    simulator uses)."""
    matrix = compatibility or CompatibilityMatrix.generate(country.seed)
    return {**ground_truth(country), "compatibility": matrix.truth()}


def write_manifest(
    country: Country,
    path: Path,
    *,
    ports: Mapping[str, int] | Mapping[str, str],
    platform_url: str,
    store_url: str = "sqlite:///chargemesh.db",
    platform_operator_id: str = PLATFORM_OPERATOR_ID,
    platform_party: tuple[str, str] = PLATFORM_PARTY,
    compatibility: CompatibilityMatrix | None = None,
    csms_port: int | None = None,
) -> None:
    """Write the config file at ``path`` and :func:`manifest_truth` at :func:`truth_path`."""
    text = manifest_text(
        country,
        ports=ports,
        platform_url=platform_url,
        store_url=store_url,
        platform_operator_id=platform_operator_id,
        platform_party=platform_party,
        csms_port=csms_port,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    truth = json.dumps(manifest_truth(country, compatibility), ensure_ascii=False, indent=1)
    truth_path(path).write_text(truth + "\n", encoding="utf-8")
