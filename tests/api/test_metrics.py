"""``GET /metrics`` (issue 19, operations): after a nearby request, an own charger's connection
and a driver's session, and an operator's T/CEC pushes and feed, the Prometheus text shows them
with the right labels and counts — read with prometheus_client's own parser, over loopback
against the real servers. The counters are per process, so the tests compare before and after."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chargemesh.protocols.tcec.codec import Ret
from chargemesh.store import FeedHealth, Store
from tests.api import test_firmware_api as firmware_api
from tests.drivers import signed_up
from tests.helpers import wait_for
from tests.peers import test_csms_end_to_end as csms_e2e
from tests.peers import test_ocpi_end_to_end as ocpi_e2e
from tests.peers import test_tcec_end_to_end as tcec_e2e
from tests.peers.ocpi_samples import location_json
from tests.peers.tcec_samples import OPERATOR_ID, connector_id

country = tcec_e2e.country  # our platform and the simulator's T/CEC operator, over loopback
ops = firmware_api.ops  # the platform with its CSMS, firmware signing and 4 own chargers
peers = ocpi_e2e.peers  # our platform and the simulator's OCPI CPO, over loopback

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(http: httpx.Client, headers: dict[str, str]) -> Samples:
    answer = http.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def w(store: Store) -> Iterator[csms_e2e.World]:
    yield from csms_e2e.own_world(store)


def test_metrics_need_an_ops_key_and_show_no_secret(w: csms_e2e.World) -> None:
    assert w.http.get("/metrics").status_code == 401
    driver = signed_up(w.http)
    assert w.http.get("/metrics", headers=driver.auth).status_code == 403
    text = w.http.get("/metrics", headers=w.ops).text
    assert w.ops["Authorization"].split()[1] not in text
    assert driver.access_token not in text


def test_nearby_an_own_charger_and_a_session_show_in_the_metrics(w: csms_e2e.World) -> None:
    nearby = "chargemesh_http_request_duration_seconds_count"
    route = {"route": "/api/v1/stations/nearby", "method": "GET", "status": "2xx"}
    before = scrape(w.http, w.ops)
    answer = w.http.get("/api/v1/stations/nearby", params={"lat": 39.9, "lon": 116.4})
    assert answer.status_code == 200
    w.http.get("/api/v1/stations/nowhere")  # 404: by its template, not its raw path
    after = scrape(w.http, w.ops)
    assert value(after, nearby, **route) == value(before, nearby, **route) + 1
    station = {"route": "/api/v1/stations/{station_id}", "method": "GET", "status": "4xx"}
    assert value(after, nearby, **station) == value(before, nearby, **station) + 1
    assert not any("nowhere" in dict(labels).get("route", "") for _, labels in after)

    cid = "SC-METRICS-1"
    w.register(csms_e2e.supercharger(cid, "1.6"))
    point = w.connect(csms_e2e.supercharger(cid, "1.6"))
    wait_for(lambda: w.connector_status(cid) == "available")
    online = scrape(w.http, w.ops)
    assert (
        value(online, "chargemesh_ocpp_connections")
        == value(before, "chargemesh_ocpp_connections") + 1
    )
    boots = "chargemesh_ocpp_messages_total"
    assert (
        value(online, boots, action="BootNotification")
        >= value(before, boots, action="BootNotification") + 1
    )
    assert value(online, boots, action="StatusNotification") > value(
        before, boots, action="StatusNotification"
    )

    driver = signed_up(w.http)
    csms_e2e.plug(w, point, 1, csms_e2e.car(1))
    connector = f"{csms_e2e.OPERATOR}:{cid}:1:1"
    started = w.http.post("/api/v1/sessions", json={"connector_id": connector}, headers=driver.auth)
    assert started.status_code == 201, started.text
    sid = started.json()["id"]
    wait_for(lambda: w.session(driver, sid)["state"] == "charging", timeout_s=20)
    charging = scrape(w.http, w.ops)
    assert value(charging, "chargemesh_sessions", state="charging") == 1
    assert not any(sid in str(labels) or driver.account_id in str(labels) for _, labels in charging)


def test_tcec_pushes_and_a_feeds_lag_show_in_the_metrics(country: tcec_e2e.Country) -> None:
    tcec_e2e.sync(country)
    _, key = country.platform.ops_keys.create("metrics")
    ops = {"Authorization": f"Bearer {key}"}
    base = country.platform_url.removesuffix("/tcec/v1/")
    pushes = "chargemesh_pushes_total"
    ok = {"protocol": "tcec", "operator": OPERATOR_ID, "message": "notification_stationStatus"}
    with httpx.Client(base_url=base, timeout=10) as http:
        before = scrape(http, ops)
        token = tcec_e2e.fresh_token(country)
        cid = connector_id(2, 1, 1)
        sent = [tcec_e2e.signed_push(cid, 3, seq=seq) for seq in ("0001", "0002")]
        for envelope in sent:
            assert tcec_e2e.post_raw(country, envelope, token)["Ret"] == Ret.OK
        # the very envelope again (rebuilt, its TimeStamp could fall in the next second)
        assert tcec_e2e.post_raw(country, sent[1], token)["Ret"] != Ret.OK
        finished = datetime.now(UTC) - timedelta(seconds=90)
        country.store.save_feed_health(
            FeedHealth(OPERATOR_ID, state="ok", last_finished=finished, last_success=finished)
        )
        after = scrape(http, ops)
    assert value(after, pushes, **ok, outcome="ok") == value(before, pushes, **ok, outcome="ok") + 2
    refused = [
        (dict(labels), v - value(before, name, **dict(labels)))
        for (name, labels), v in after.items()
        if name == pushes and dict(labels).get("operator") == OPERATOR_ID
        and dict(labels)["outcome"] not in ("ok",)
    ]  # fmt: skip
    assert [d for labels, d in refused if d] == [1]  # the replay, under its fixed reason
    assert value(after, "chargemesh_feed_lag_seconds", operator=OPERATOR_ID) == pytest.approx(
        90, abs=30
    )
    assert value(after, "chargemesh_feed_state", operator=OPERATOR_ID, state="ok") == 1
    assert ("chargemesh_feed_stale_connectors", frozenset({("operator", OPERATOR_ID)})) in after


def test_a_live_campaigns_updates_by_state_show_in_the_metrics(ops: firmware_api.Ops) -> None:
    fw = firmware_api.upload(ops).json()["id"]
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = ops.http.post("/api/v1/ops/campaigns", headers=ops.auth, json={
        "firmware": fw, "waves": [1, 1], "target": {"chargers": ["FW-2", "FW-0", "FW-1"]},
        "start_at": start,
    })  # fmt: skip
    assert made.status_code == 201, made.text
    campaign = made.json()["id"]
    samples = scrape(ops.http, ops.auth)
    updates = "chargemesh_campaign_updates"
    assert value(samples, updates, campaign=campaign, state="pending") == 3
    cancelled = ops.http.post(f"/api/v1/ops/campaigns/{campaign}/cancel", headers=ops.auth)
    assert cancelled.status_code == 200, cancelled.text
    after = scrape(ops.http, ops.auth)  # a finished campaign is no longer reported
    assert not [labels for name, labels in after if name == updates]


def test_an_ocpi_partys_location_pushes_show_in_the_metrics(peers: ocpi_e2e.Peers) -> None:
    peers.register()
    token = peers.our_token()
    _, key = peers.platform.ops_keys.create("metrics")
    ops = {"Authorization": f"Bearer {key}"}
    loc = location_json(1)
    path = f"/2.2.1/locations/{loc['country_code']}/{loc['party_id']}/{loc['id']}"
    labels = {"protocol": "ocpi", "operator": ocpi_e2e.PARTY, "message": "locations"}
    pushes = "chargemesh_pushes_total"
    with httpx.Client(base_url=peers.emsp.url, timeout=10) as http:
        before = scrape(http, ops)
        assert ocpi_e2e.ocpi(peers, "PUT", path, token, json=loc).status_code in (200, 201)
        assert ocpi_e2e.ocpi(peers, "PUT", path, token, json=loc).status_code == 200  # again
        after = scrape(http, ops)
    ok = value(after, pushes, **labels, outcome="ok") - value(
        before, pushes, **labels, outcome="ok"
    )
    assert ok == 2
    template = "/ocpi/2.2.1/locations/{cc}/{pid}/{lid}"
    latency = "chargemesh_http_request_duration_seconds_count"
    put = {"route": template, "method": "PUT", "status": "2xx"}
    assert value(after, latency, **put) - value(before, latency, **put) == 2
