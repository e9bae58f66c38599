"""Driver sessions on an OCPI network, end to end over loopback HTTP: the driver's API
(``/api/v1/sessions``) on the real platform, the simulated CPO (``OcpiCpoServer`` with its
charging engine) behind it. QR start with live updates, stop and the CDR as the bill;
plug-and-charge with no app action; a pile that cannot be started remotely; a duplicated start;
an operator that never answers."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from chargemesh.protocols.ocpi.cpo_sessions import Vehicle
from tests.peers.test_ocpi_cpo_sessions import (  # the CPO + platform fixture, shared
    AC,
    CAR,
    LOC,
    PARTY,
    Peers,
    peers,  # noqa: F401 - the fixture ``p``
    sync,
    wait_for,
    with_evse,
)

EVSE_CODE = "CN*LTC*E00021"  # the DC EVSE of location 2, as printed on it


def api(p: Peers, method: str, path: str, account: str = "alice", **kw: Any) -> httpx.Response:
    headers = {"X-Account-ID": account, **kw.pop("headers", {})}
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


def _read_session_events(p: Peers, sid: str, into: list[dict[str, Any]]) -> None:
    try:
        with httpx.stream("GET", f"{p.emsp.url}/api/v1/events?session={sid}",
                          timeout=httpx.Timeout(10, read=30)) as response:  # fmt: skip
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
    vehicle = {"vin": "LSJA24U62MG123456", "model": "yc-aster", "emaid": "CNCMSC000000427"}
    car = api(p, "POST", "/api/v1/vehicles", json=vehicle)
    assert car.status_code == 201, car.text
    vid = car.json()["id"]
    enabled = api(p, "PUT", f"/api/v1/vehicles/{vid}/plug-and-charge/{PARTY}")
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["plug_and_charge_networks"] == [PARTY]
    p.cpo.charging.plug_and_charge = True
    pnc_car = Vehicle("yc-aster", battery_kwh=96, max_kw=340, soc=30, target_soc=90,
                      emaid="CNCMSC000000427")  # fmt: skip
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
