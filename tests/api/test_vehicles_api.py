"""A driver's cars over HTTP: the VIN's check digit and the EMAID's check character verified
at registration (422 with the reason a driver can act on, nothing written), ids kept in one
normal form, and plug-and-charge switched per car on the networks that can know it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from chargemesh.bootstrap import assemble
from chargemesh.domain import Capability, Operator, OperatorProtocol
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.store import Store
from tests.drivers import Driver, signed_up
from tests.factories import valid_emaid, valid_vin


@pytest.fixture
def http(store: Store) -> Iterator[httpx.Client]:
    pnc = frozenset({Capability.REALTIME, Capability.PLUG_AND_CHARGE})
    store.upsert_operator(Operator("MA59PNC01", "Plugin Power", OperatorProtocol.TCEC, pnc))
    store.upsert_operator(Operator("CN-PNC", "Contract Charge", OperatorProtocol.OCPI, pnc))
    store.upsert_operator(
        Operator("MA59VIEW1", "Look Only", OperatorProtocol.TCEC, frozenset({Capability.SCAN}))
    )
    with (
        LoopbackServer(assemble(store).app()) as server,
        httpx.Client(base_url=server.url, timeout=20) as client,
    ):
        yield client


def _add(http: httpx.Client, driver: Driver, **car: str) -> httpx.Response:
    return http.post("/api/v1/vehicles", json={"model": "yc-aster", **car}, headers=driver.auth)


def test_a_mistyped_vin_or_emaid_is_refused_with_what_to_check(
    http: httpx.Client, store: Store
) -> None:
    driver = signed_up(http)
    vin = valid_vin(7)
    wrong_digit = vin[:8] + ("1" if vin[8] != "1" else "2") + vin[9:]
    answer = _add(http, driver, vin=wrong_digit)
    assert answer.status_code == 422
    assert "check digit" in answer.json()["detail"]["reason"]
    assert "VIN" in _add(http, driver, vin=vin[:16]).json()["detail"]["reason"]
    assert _add(http, driver, vin=vin[:10] + "O" + vin[11:]).status_code == 422  # no O in a VIN
    emaid = valid_emaid(7)
    lacking = _add(http, driver, vin=vin, emaid=emaid[:-1])
    assert lacking.status_code == 422
    assert "check character" in lacking.json()["detail"]["reason"]
    swapped = emaid[:-1] + ("A" if emaid[-1] != "A" else "B")
    assert (
        "check character" in _add(http, driver, vin=vin, emaid=swapped).json()["detail"]["reason"]
    )
    assert store.vehicle_by_vin(vin) is None  # nothing written by any of them
    assert http.get("/api/v1/vehicles", headers=driver.auth).json() == []


def test_ids_are_kept_in_one_form_and_plug_and_charge_is_switched_per_car(
    http: httpx.Client, store: Store
) -> None:
    driver = signed_up(http)
    emaid = valid_emaid(8)
    typed = f"{emaid[:2].lower()}-{emaid[2:5]}-{emaid[5:14]}-{emaid[14]}"
    made = _add(http, driver, vin=f" {valid_vin(8).lower()} ", emaid=typed)
    assert made.status_code == 201, made.text
    car = made.json()
    assert (car["vin"], car["emaid"]) == (valid_vin(8), emaid)
    on = http.put(f"/api/v1/vehicles/{car['id']}/plug-and-charge", headers=driver.auth)
    assert on.json()["plug_and_charge_networks"] == ["CN-PNC", "MA59PNC01"]
    token = store.get_token(emaid)
    assert token is not None
    assert token.valid  # the OCPI networks authorize the car by it
    vin_only = _add(http, driver, vin=valid_vin(9)).json()  # no EMAID: not on OCPI networks
    on = http.put(f"/api/v1/vehicles/{vin_only['id']}/plug-and-charge", headers=driver.auth)
    assert on.json()["plug_and_charge_networks"] == ["MA59PNC01"]
    off = http.delete(f"/api/v1/vehicles/{car['id']}/plug-and-charge", headers=driver.auth)
    assert off.json()["plug_and_charge_networks"] == []
    token = store.get_token(emaid)
    assert token is not None
    assert not token.valid  # an OCPI network asking about it now is told it is not valid
    mine = {v["id"]: v for v in http.get("/api/v1/vehicles", headers=driver.auth).json()}
    assert mine[car["id"]]["plug_and_charge_networks"] == []
    assert mine[vin_only["id"]]["plug_and_charge_networks"] == ["MA59PNC01"]
