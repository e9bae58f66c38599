"""Driver sessions on an OCPI network, end to end over loopback HTTP: the driver's API
(``/api/v1/sessions``) on the real platform, the simulated CPO (``OcpiCpoServer`` with its
charging engine) behind it. QR start with live updates, stop and the CDR as the bill;
plug-and-charge with no app action; a pile that cannot be started remotely; a duplicated start;
an operator that never answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from chargemesh.protocols.ocpi import mapping
from chargemesh.protocols.ocpi.models import Tariff
from chargemesh.services.charging.sessions import MONEY_TOLERANCE, MONEY_TOLERANCE_SHARE
from chargemesh.store import Store
from tests.drivers import bearer
from tests.helpers import shown_price
from tests.peers.ocpi_samples import CPO_PARTY
from tests.peers.test_ocpi_cpo_sessions import (  # the CPO + platform fixture, shared
    AC,
    CAR,
    LOC,
    PARTY,
    Peers,
    peers,  # noqa: F401 - the fixture ``p``
    peers_on,
    sim_car,
    sync,
    wait_for,
    with_evse,
)

CHINA = timezone(timedelta(hours=8))

EVSE_CODE = "CN*LTC*E00021"  # the DC EVSE of location 2, as printed on it


def api(p: Peers, method: str, path: str, account: str = "alice", **kw: Any) -> httpx.Response:
    headers = {**bearer(p.platform, account), **kw.pop("headers", {})}
    return httpx.request(method, f"{p.emsp.url}{path}", headers=headers, timeout=10, **kw)


def session(p: Peers, sid: str) -> dict[str, Any]:
    answer = api(p, "GET", f"/api/v1/sessions/{sid}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_qr_start_charges_with_live_updates_stops_and_is_billed(p: Peers) -> None:
    sync(p)
    assert p.plug_in() is None  # the car is plugged in, waiting for the app
    preview = api(p, "POST", "/api/v1/sessions/preview", json={"qr": EVSE_CODE}).json()
    assert preview["startable"] is True
    assert preview["operator_id"] == PARTY
    assert preview["status"] == "available"
    started = api(p, "POST", "/api/v1/sessions", json={"qr": EVSE_CODE},
                  headers={"Idempotency-Key": "tap-1"})  # fmt: skip
    assert started.status_code == 201, started.text
    sid = started.json()["id"]
    assert started.json()["state"] in ("requested", "starting")
    assert started.json()["method"] == "qr_scan"

    events: list[dict[str, Any]] = []
    stream = threading.Thread(target=_read_session_events, args=(p, sid, events), daemon=True)
    stream.start()
    live = wait_for(lambda: (s := session(p, sid))["state"] == "charging" and s["kwh"] > 0 and s)
    assert live["kw"] > 0
    assert live["soc"] > CAR.soc
    assert live["cost"] is not None
    assert live["elapsed_s"] >= 0
    wait_for(lambda: any(e["state"] == "charging" and e["kwh"] > 0 for e in events))

    # the same tap again: the same session, no second START_SESSION
    again = api(p, "POST", "/api/v1/sessions", json={"qr": EVSE_CODE},
                headers={"Idempotency-Key": "tap-1"})  # fmt: skip
    assert again.status_code == 200
    assert again.json()["id"] == sid
    starts = [c for c in p.cpo.received_commands if str(c.command) == "START_SESSION"]
    assert len(starts) == 1

    stopped = api(p, "POST", f"/api/v1/sessions/{sid}/stop")
    assert stopped.status_code == 200
    assert stopped.json()["state"] in ("stopping", "completed")
    done = wait_for(lambda: (s := session(p, sid))["state"] == "completed" and s)
    assert done["bill"]["kwh"] > 0
    assert float(done["bill"]["total"]) > 0
    assert done["bill"]["currency"] == "CNY"
    assert done["dispute"] is None  # the CDR agrees with the live readings
    assert done["stop_reason"] == "stopped by the driver"
    [attempt] = p.store.list_attempts()
    assert (attempt.outcome, attempt.operator_id, attempt.session_id) == ("success", PARTY, sid)
    assert attempt.connector_standard == "gbt_dc"


def published_tariff(tariff_id: str, peak: float, valley: float) -> Tariff:
    """A time-of-use Tariff of the CPO: per kWh excl. VAT (13 %), peak 08:00-22:00, and a
    parking fee the registry can only keep as text."""
    windows = (("08:00", "22:00", peak), ("22:00", "08:00", valley))
    return Tariff.model_validate(
        {
            "country_code": CPO_PARTY[0], "party_id": CPO_PARTY[1], "id": tariff_id,
            "currency": "CNY",
            "elements": [
                *({"price_components": [{"type": "ENERGY", "price": price, "vat": 13.0,
                                         "step_size": 1}],
                   "restrictions": {"start_time": start, "end_time": end}}
                  for start, end, price in windows),
                {"price_components": [{"type": "PARKING_TIME", "price": 5.0, "step_size": 60}]},
            ],
            "last_updated": datetime.now(UTC),
        }
    )  # fmt: skip


@pytest.fixture(name="both")
def peers_on_both_stores(store: Store) -> Iterator[Peers]:
    yield from peers_on(store)


def test_the_price_shown_before_a_charge_is_the_price_billed(both: Peers) -> None:
    p = both
    p.network.put_tariff(published_tariff("TOU-DC", peak=1.2, valley=0.6))
    p.network.put_tariff(published_tariff("TOU-AC", peak=0.9, valley=0.5))
    sync(p)  # Locations and Tariffs
    station = api(p, "GET", f"/api/v1/stations/{mapping.location_key(PARTY, LOC)}").json()
    shown = station["tariff"]
    assert shown["currency"] == "CNY"
    assert [(x["start"], x["end"], x["price_per_kwh"]) for x in shown["periods"]] == [
        ("08:00", "22:00", 1.356), ("22:00", "08:00", 0.678)  # VAT included, as drivers pay
    ]  # fmt: skip
    assert shown["parking_fee"] == "5.00 CNY/h"
    now = datetime.now(CHINA).time()
    assert Decimal(str(shown["price_now"])) == shown_price(shown, now)
    preview = api(p, "POST", "/api/v1/sessions/preview", json={"qr": EVSE_CODE}).json()
    assert preview["tariff"] == shown  # the DC connector's tariff is the station's
    assert preview["price_now"] == shown["price_now"]
    assert preview["currency"] == "CNY"
    ac = api(p, "POST", "/api/v1/sessions/preview", json={"qr": "CN*LTC*E00022"}).json()
    assert [x["price_per_kwh"] for x in ac["tariff"]["periods"]] == [1.017, 0.565]  # its own

    assert p.plug_in() is None
    started = api(p, "POST", "/api/v1/sessions", json={"qr": EVSE_CODE})
    sid = started.json()["id"]
    wait_for(lambda: (s := session(p, sid))["state"] == "charging" and s["kwh"] > 1.0)
    api(p, "POST", f"/api/v1/sessions/{sid}/stop")
    done = wait_for(lambda: (s := session(p, sid))["state"] == "completed" and s)
    held = p.store.get_session(sid)
    assert held is not None
    cdr = p.cdr(held.remote_id or "")
    assert cdr is not None
    assert [t["id"] for t in cdr["tariffs"]] == ["TOU-DC"]  # the CPO billed by what it published
    # the bill: every charging period's energy at the price shown for its time of day
    expected, kwh = Decimal(0), 0.0
    for period in cdr["charging_periods"]:
        energy = next(d["volume"] for d in period["dimensions"] if d["type"] == "ENERGY")
        local = datetime.fromisoformat(period["start_date_time"].replace("Z", "+00:00"))
        expected += Decimal(str(energy)) * shown_price(shown, local.astimezone(CHINA).time())
        kwh += energy
    first = datetime.fromisoformat(cdr["start_date_time"].replace("Z", "+00:00"))
    assert shown_price(shown, first.astimezone(CHINA).time()) == Decimal(str(preview["price_now"]))
    assert done["bill"]["kwh"] == pytest.approx(kwh, abs=0.01)
    total = Decimal(done["bill"]["total"])
    assert abs(total - expected) <= max(MONEY_TOLERANCE, expected * MONEY_TOLERANCE_SHARE)
    assert done["dispute"] is None


def _read_session_events(p: Peers, sid: str, into: list[dict[str, Any]]) -> None:
    try:
        with httpx.stream("GET", f"{p.emsp.url}/api/v1/events?session={sid}",
                          headers=bearer(p.platform),
                          timeout=httpx.Timeout(10, read=30)) as response:  # fmt: skip
            assert response.status_code == 200
            kind = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "session":
                    into.append(json.loads(line[6:]))
    except httpx.HTTPError:
        return  # the server stopping ends the stream


def test_plug_and_charge_starts_with_no_app_action(p: Peers) -> None:
    sync(p)
    vehicle = {"vin": "LSJA24U69MG123456", "model": "yc-aster", "emaid": "CNCMSC000000421"}
    car = api(p, "POST", "/api/v1/vehicles", json=vehicle)
    assert car.status_code == 201, car.text
    vid = car.json()["id"]
    enabled = api(p, "PUT", f"/api/v1/vehicles/{vid}/plug-and-charge/{PARTY}")
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["plug_and_charge_networks"] == [PARTY]
    p.cpo.charging.plug_and_charge = True
    pnc_car = sim_car(7, "yc-aster", soc=30, target_soc=90, emaid="CNCMSC000000421")
    p.plug_in(pnc_car)  # the car plugs in; nobody touches the app
    mine = wait_for(lambda: [s for s in api(p, "GET", "/api/v1/sessions").json()
                             if s["state"] == "charging" and s["kwh"] > 0])  # fmt: skip
    assert mine[0]["method"] == "plug_and_charge"
    assert mine[0]["vehicle_id"] == vid
    assert api(p, "GET", "/api/v1/sessions", account="bob").json() == []


def test_a_pile_that_cannot_be_started_remotely_is_refused_with_advice(p: Peers) -> None:
    location = p.network.location(LOC)
    assert location is not None
    p.network.put_location(with_evse(location, AC, capabilities=[]))  # no remote start
    sync(p)
    code = "CN*LTC*E00022"
    preview = api(p, "POST", "/api/v1/sessions/preview", json={"qr": code}).json()
    assert preview["startable"] is False
    assert preview["code"] == "not_startable"
    assert "cannot be started from the app" in preview["reason"]
    assert preview["advice"] == "plug in: your car starts by itself"  # the network has PnC
    refused = api(p, "POST", "/api/v1/sessions", json={"qr": code})
    assert refused.status_code == 409
    assert refused.json()["detail"]["code"] == "not_startable"
    assert p.cpo.received_commands == []  # nothing was sent
    assert api(p, "GET", "/api/v1/sessions").json() == []
    unknown = api(p, "POST", "/api/v1/sessions", json={"qr": "CN*LTC*E99999"})
    assert unknown.status_code == 422
    assert "no charger" in unknown.json()["detail"]["reason"]


def test_an_operator_that_never_answers_fails_the_session_and_leaves_nothing_charging(
    p: Peers,
) -> None:
    sync(p)
    p.plug_in()
    p.cpo.silent_commands = True
    p.platform.sessions.start_timeout_s = 1.5
    started = api(p, "POST", "/api/v1/sessions", json={"qr": EVSE_CODE})
    sid = started.json()["id"]
    failed = wait_for(lambda: (s := session(p, sid))["state"] == "failed" and s, timeout_s=15)
    assert failed["failure_reason"] == "the operator did not confirm the start within 2 s"
    assert p.cpo.charging.active_sessions() == []
    [attempt] = p.store.list_attempts()
    assert attempt.outcome == "failure"
    assert attempt.failure_reason == failed["failure_reason"]


def test_an_unreachable_operator_fails_the_start_without_showing_its_address(p: Peers) -> None:
    """The driver is told what kind of failure it was; the operator's URL stays in the log."""
    sync(p)
    cpo_url = p.cpo_server.url
    p.cpo_server.stop()  # the CPO's system goes down after the sync
    started = api(p, "POST", "/api/v1/sessions", json={"qr": EVSE_CODE})
    assert started.status_code == 201, started.text
    sid = started.json()["id"]
    failed = wait_for(lambda: (s := session(p, sid))["state"] == "failed" and s)
    reason = failed["failure_reason"]
    assert reason.startswith("the operator could not be reached: its system")
    for internal in (cpo_url, "127.0.0.1", "http", "/ocpi/"):
        assert internal not in reason, reason
