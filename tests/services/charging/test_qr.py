"""Scanned codes → (operator, connector), against both stores; anything unclear is refused with
a message, never guessed."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chargemesh.domain import ConnectorStatus, Station
from chargemesh.services.charging.qr import QrError, resolve
from chargemesh.store import StatusUpdate, Store
from tests.factories import make_operator, make_station

TCEC, OTHER, OCPI = "313744932", "MA7QYEV02", "CN-TLN"


def _with_evse_codes(station: Station, prefix: str) -> Station:
    evses = tuple(
        replace(e, evse_code=f"{prefix}{i}") for i, e in enumerate(station.evses, start=1)
    )
    return replace(station, evses=evses)


@pytest.fixture
def stations(store: Store) -> dict[str, Station]:
    for op in (TCEC, OTHER, OCPI):
        store.upsert_operator(make_operator(op))
    made = {
        "tcec": make_station(TCEC, "S1"),
        "other": make_station(OTHER, "S9"),
        "twin": make_station(OTHER, "S1"),  # the same ConnectorIDs as TCEC's S1
        "ocpi": _with_evse_codes(make_station(OCPI, "L1"), "CN*TLN*E100"),
    }
    store.upsert_stations(made.values(), at=datetime.now(UTC))
    return made


def test_the_tcec_interconnection_format(store: Store, stations: dict[str, Station]) -> None:
    gun = stations["tcec"].evses[0].connectors[1]
    found = resolve(store, f"hlht://{gun.source_id}.{TCEC}/")
    assert (found.connector.id, found.connector.operator_id, found.format) == (
        gun.id, TCEC, "tcec"
    )  # fmt: skip
    # the same ConnectorID at another operator is told apart by the OperatorID
    twin = stations["twin"].evses[0].connectors[1]
    assert resolve(store, f"hlht://{twin.source_id}.{OTHER}").connector.id == twin.id


def test_urls_carrying_a_connector_id(store: Store, stations: dict[str, Station]) -> None:
    gun = stations["other"].evses[1].connectors[0]
    url = f"https://qr.example.cn/charge?connectorId={gun.source_id}"
    assert resolve(store, url).connector.id == gun.id
    tcec = stations["tcec"].evses[0].connectors[0]
    with_op = f"https://x.example/app?ConnectorID={tcec.source_id}&operatorId={TCEC}"
    assert resolve(store, with_op).connector.id == tcec.id
    with pytest.raises(QrError, match="2 networks"):  # without the operator it is ambiguous
        resolve(store, f"https://x.example/app?connector_id={tcec.source_id}")


def test_a_bare_connector_id_only_if_one_operator_has_it(
    store: Store, stations: dict[str, Station]
) -> None:
    gun = stations["other"].evses[0].connectors[0]
    assert resolve(store, gun.source_id).format == "tcec_bare"
    shared = stations["tcec"].evses[0].connectors[0].source_id
    with pytest.raises(QrError, match="scan the full code"):
        resolve(store, shared)


def test_ocpi_evse_ids_bare_or_in_urls(store: Store, stations: dict[str, Station]) -> None:
    evse = stations["ocpi"].evses[1]
    codes = (
        "CN*TLN*E1002",
        "cn*tln*e1002",
        "CNTLNE1002",
        "https://ev.example/evse/CN*TLN*E1002",
        "https://ev.example/s?evse_id=CN*TLN*E1002",
    )
    for code in codes:
        found = resolve(store, code)
        assert found.connector.evse_id == evse.id, code
        assert found.format == "ocpi_evse"


def test_an_evse_resolves_to_its_free_connector(store: Store, stations: dict[str, Station]) -> None:
    first, second = stations["ocpi"].evses[0].connectors
    now = datetime.now(UTC)
    store.apply_status_updates(
        [
            StatusUpdate(first.id, ConnectorStatus.CHARGING, now, "t"),
            StatusUpdate(second.id, ConnectorStatus.AVAILABLE, now, "t"),
        ]
    )
    assert resolve(store, "CN*TLN*E1001").connector.id == second.id


def test_our_own_codes(store: Store, stations: dict[str, Station]) -> None:
    gun = stations["tcec"].evses[1].connectors[1]
    assert resolve(store, f"chargemesh://c/{gun.id}").connector.id == gun.id
    assert resolve(store, f"https://chargemesh.example/c/{gun.id}").format == "chargemesh"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("hlht://NOPE12345.313744932/", "no charger"),
        ("hlht://justone/", "hlht://{ConnectorID}.{OperatorID}/"),
        ("CN*TLN*E9999", "no charger"),
        ("https://example.com/about", "names no charger"),
        ("WIFI:S:cafe;T:WPA;P:secret;;", "not a charger code"),
        ("x" * 600, "too long"),
        ("ZZZZZZZZ", "no charger"),
    ],
)
def test_unknown_or_foreign_codes_are_refused_clearly(
    store: Store, stations: dict[str, Station], code: str, message: str
) -> None:
    with pytest.raises(QrError, match=re.escape(message)):
        resolve(store, code)
