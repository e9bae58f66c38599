"""Firmware campaigns end to end: the platform with its CSMS on loopback ports (PostgreSQL, the
store a cluster runs on; the campaign tables are tested on both stores by the API tests), the
simulator's charge points (OCPP 1.6 core, 1.6 with the security extension, 2.0.1) downloading
the image over HTTP from the platform, checking its sha256 and signature, installing, rebooting
and booting with the new version — or failing as configured per model and version.

Shown: a three-wave campaign completes with every charger on the new version; a tampered image
is refused by the chargers (``InvalidSignature``) and the campaign halts in its canary; a wave
crossing the error gate halts and no charger after it is sent an update; a boot with the old
version and ``Installed`` followed by silence are failures; a charger charging is updated only
after its charge ends; the window is respected (time injected); the platform restarted
mid-campaign resumes; a charger offline at its turn is updated when it returns."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chargemesh.services.firmware.signing import make_signing_key
from chargemesh.sim.country.own import OwnCharger
from chargemesh.sim.firmware import build_image
from chargemesh.sim.peers.ocpp.charge_point import SimChargePoint
from chargemesh.store import open_store
from tests.drivers import signed_up
from tests.helpers import wait_for
from tests.peers.test_csms_end_to_end import (
    OPERATOR,
    World,
    car,
    own_world,
    plug,
    start_platform,
    supercharger,
)

OLD, NEW = "3.1.0", "3.2.0"
MODELS = "LC-600,LC-600X"
IMAGE = build_image(NEW, MODELS.split(","), size=300_000)
FAST: dict[str, Any] = {"install_s": 0.3}


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    key, cert = make_signing_key(tmp_path / "keys", "chargemesh test firmware signing")
    return {"firmware_signing_key": key, "firmware_signing_cert": cert}


@pytest.fixture
def fw(postgres_url: str, keys: dict[str, Path]) -> Iterator[World]:
    store = open_store(postgres_url)
    try:
        yield from own_world(store, **keys)
    finally:
        store.close()


def charger(cid: str, kind: str, **change: Any) -> OwnCharger:
    """``kind``: "1.6" (core), "1.6s" (with the security extension) or "2.0.1"."""
    base = supercharger(cid, "2.0.1" if kind == "2.0.1" else "1.6", connectors=1)
    return replace(base, security_extension=kind == "1.6s", **change)


def online(w: World, chargers: list[OwnCharger], **kw: Any) -> list[SimChargePoint]:
    points = []
    for c in chargers:
        w.register(c)
        points.append(w.connect(c, **{**FAST, **kw}))
    return points


def upload(w: World, image: bytes = IMAGE, version: str = NEW) -> str:
    made = w.http.post("/api/v1/ops/firmware", headers=w.ops, files={"file": ("fw.bin", image)},
                       data={"version": version, "models": MODELS})  # fmt: skip
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def start(w: World, firmware: str, chargers: list[OwnCharger], **rules: Any) -> str:
    body = {"firmware": firmware, "target": {"chargers": [c.id for c in chargers]},
            "soak_s": 1, "timeout_s": 60, **rules}  # fmt: skip
    made = w.http.post("/api/v1/ops/campaigns", headers=w.ops, json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def campaign(w: World, cid: str) -> dict[str, Any]:
    answer = w.http.get(f"/api/v1/ops/campaigns/{cid}", headers=w.ops)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def until(w: World, cid: str, ok: Callable[[dict[str, Any]], bool], timeout_s: float = 60) -> Any:
    """The campaign once ``ok`` says so."""

    def seen() -> dict[str, Any] | None:
        c = campaign(w, cid)
        return c if ok(c) else None

    try:
        return wait_for(seen, timeout_s=timeout_s, poll_s=0.25)
    except AssertionError:  # say where it stands
        c = campaign(w, cid)
        where = [(u["charger_id"], u["state"], u["reason"], u["attempts"]) for u in c["updates"]]
        raise AssertionError(f"{c['state']} {c['reason']}: {where} {c['history'][-8:]}") from None


def updates(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["charger_id"]: u for u in c["updates"]}


def firmware_of(w: World, charger_id: str) -> str | None:
    chargers = w.http.get("/api/v1/ops/chargers", headers=w.ops).json()
    return next(c["firmware"] for c in chargers if c["id"] == charger_id)


def sent_at(c: dict[str, Any], charger_id: str) -> datetime:
    sent = [e for e in c["history"]
            if e["charger_id"] == charger_id and e["event"].startswith("update sent")]  # fmt: skip
    return datetime.fromisoformat(sent[0]["at"])


def test_a_three_wave_campaign_updates_every_charger(fw: World) -> None:
    kinds = ["2.0.1", "1.6", "1.6s", "2.0.1", "1.6", "1.6s"]
    chargers = [charger(f"W-{n}", kind) for n, kind in enumerate(kinds)]
    points = online(fw, chargers)
    cid = start(fw, upload(fw), chargers, waves=[1, 2, 3])
    done = until(fw, cid, lambda c: c["state"] in ("completed", "halted"))
    assert (done["state"], done["reason"]) == ("completed", None), done["history"][-5:]
    assert [(w["size"], w["updated"], w["state"]) for w in done["waves"]] == [
        (1, 1, "passed"), (2, 2, "passed"), (3, 3, "open"),
    ]  # fmt: skip
    assert {u["state"] for u in done["updates"]} == {"updated"}
    for c, point in zip(chargers, points, strict=True):
        assert point.firmware == NEW  # what the charger runs
        assert firmware_of(fw, c.id) == NEW  # what it said at its boot
    # each over its own dialect: 1.6 core took the plain update, the others the signed one
    assert "SignatureVerified" not in points[1].firmware_log
    assert "SignatureVerified" in points[2].firmware_log
    assert "SignatureVerified" in points[0].firmware_log
    # a wave opens only once the one before it passed
    opened = {e["event"]: datetime.fromisoformat(e["at"]) for e in done["history"]}
    assert sent_at(done, "W-1") >= opened["wave 1 passed: wave 2 open"]
    assert sent_at(done, "W-3") >= opened["wave 2 passed: wave 3 open"]


@pytest.mark.parametrize("kind", ["2.0.1", "1.6s"])
def test_a_tampered_image_is_refused_and_halts_the_canary(fw: World, kind: str) -> None:
    chargers = [charger(f"T-{n}", kind) for n in range(3)]
    points = online(fw, chargers)
    firmware = upload(fw)
    sha = fw.store.firmware(firmware).sha256  # type: ignore[union-attr]
    # the bytes changed at rest after signing (what an attacker with the storage would do)
    tampered = IMAGE[:-1] + bytes([IMAGE[-1] ^ 0xFF])
    with fw.store._lock, fw.store._transaction() as cur:  # type: ignore[attr-defined]
        cur.execute(fw.store._sql("UPDATE firmware_blobs SET content = ? WHERE sha256 = ?"),  # type: ignore[attr-defined]
                    (tampered, sha))  # fmt: skip
    cid = start(fw, firmware, chargers, waves=[1, 2])
    halted = until(fw, cid, lambda c: c["state"] == "halted")
    assert "InvalidSignature" in halted["reason"]
    assert halted["waves"][0]["state"] == "halted"
    mine = updates(halted)
    assert (mine["T-0"]["state"], mine["T-0"]["reason"]) == ("failed", "InvalidSignature")
    time.sleep(2)  # ticks go on: nothing more is sent
    after = updates(campaign(fw, cid))
    for later, point in zip(chargers[1:], points[1:], strict=True):
        assert (after[later.id]["state"], after[later.id]["attempts"]) == ("pending", 0)
        assert point.firmware_log == []
    assert points[0].firmware == OLD


def test_a_wave_crossing_the_error_gate_halts_before_the_next(fw: World) -> None:
    bad = {("LC-600", NEW): "installation_failed"}
    canary = [charger("G-0", "2.0.1")]
    wave2 = [charger("G-1", "1.6"), charger("G-2", "2.0.1"), charger("G-3", "1.6s")]
    wave3 = [charger(f"G-{n}", "2.0.1") for n in (4, 5, 6)]
    online(fw, canary + wave2, firmware_faults=bad)
    later = online(fw, wave3)
    cid = start(fw, upload(fw), canary + wave2 + wave3, waves=[1, 3, 3], error_threshold=0.3,
                min_finished=3)  # fmt: skip
    halted = until(fw, cid, lambda c: c["state"] == "halted")
    assert halted["reason"] == "wave 2: 2 of 3 finished chargers failed (more than 30%)"
    assert halted["waves"][1]["failures"] == {"InstallationFailed": 2}
    time.sleep(2)
    after = updates(campaign(fw, cid))
    for c, point in zip(wave3, later, strict=True):  # never sent an update
        assert (after[c.id]["state"], after[c.id]["attempts"]) == ("pending", 0)
        assert point.firmware_log == []
        assert point.firmware == OLD


def test_a_boot_with_the_old_version_or_silence_after_installed_is_a_failure(fw: World) -> None:
    faults = {("LC-600", NEW): "boot_loop", ("LC-600X", NEW): "silent"}
    looping, silent = charger("F-LOOP", "1.6s"), charger("F-SILENT", "2.0.1")
    points = online(fw, [looping, silent], firmware_faults=faults)
    cid = start(fw, upload(fw), [looping, silent], waves=[2], error_threshold=1.0,
                success_threshold=0.0, timeout_s=12)  # fmt: skip
    done = until(fw, cid, lambda c: c["state"] == "completed", timeout_s=40)
    mine = updates(done)
    assert mine["F-LOOP"]["state"] == "failed"
    assert mine["F-LOOP"]["reason"] == f"booted with {OLD} instead of {NEW}"
    assert mine["F-SILENT"]["state"] == "failed"
    assert mine["F-SILENT"]["reason"] == "installed, then never came back with the new version"
    assert "Installed" in points[1].firmware_log  # it said so: not a success without a boot
    assert firmware_of(fw, "F-LOOP") == OLD


def test_a_charger_charging_is_updated_after_its_charge_ends(fw: World) -> None:
    c = charger("C-BUSY", "1.6")
    point = online(fw, [c])[0]
    driver = signed_up(fw.http)
    plug(fw, point, 1, car(7))
    sid = fw.http.post("/api/v1/sessions", json={"connector_id": f"{OPERATOR}:{c.id}:1:1"},
                       headers=driver.auth).json()["id"]  # fmt: skip
    wait_for(lambda: fw.session(driver, sid)["state"] == "charging", timeout_s=20)
    cid = start(fw, upload(fw), [c], waves=[1])
    time.sleep(3)  # three ticks: it is charging
    waiting = updates(campaign(fw, cid))[c.id]
    assert (waiting["state"], waiting["attempts"]) == ("pending", 0)
    assert point.firmware_log == []
    stopped_at = datetime.now(UTC)
    fw.http.post(f"/api/v1/sessions/{sid}/stop", headers=driver.auth)
    wait_for(lambda: fw.session(driver, sid)["state"] == "completed", timeout_s=20)
    done = until(fw, cid, lambda c: c["state"] == "completed")
    assert sent_at(done, c.id) > stopped_at
    assert point.firmware == NEW


def test_updates_start_only_inside_the_window(fw: World) -> None:
    c = charger("N-1", "2.0.1")
    point = online(fw, [c])[0]
    campaigns = fw.platform.csms.campaigns  # type: ignore[union-attr]
    assert campaigns is not None
    # 14:00 in Shanghai: outside a 01:00-05:00 window
    afternoon = datetime(2026, 12, 7, 6, 0, tzinfo=UTC) - datetime.now(UTC)
    campaigns.clock = lambda: datetime.now(UTC) + afternoon
    cid = start(fw, upload(fw), [c], waves=[1],
                window={"start": "01:00", "end": "05:00", "tz": "Asia/Shanghai"})  # fmt: skip
    time.sleep(3)
    assert updates(campaign(fw, cid))[c.id]["attempts"] == 0
    assert point.firmware_log == []
    night = datetime(2026, 12, 7, 18, 30, tzinfo=UTC) - datetime.now(UTC)  # 02:30 there
    campaigns.clock = lambda: datetime.now(UTC) + night
    until(fw, cid, lambda c: c["state"] == "completed")
    assert point.firmware == NEW


def test_the_platform_restarted_mid_campaign_resumes(fw: World, keys: dict[str, Path]) -> None:
    chargers = [charger(f"R-{n}", kind) for n, kind in enumerate(["1.6", "2.0.1", "1.6s"])]
    points = online(fw, chargers)
    cid = start(fw, upload(fw), chargers, waves=[1, 2])
    until(fw, cid, lambda c: c["wave"] == 2)  # the canary is updated: wave 2 opens
    port = fw.server.port
    csms_port = int(fw.csms_url.rsplit(":", 1)[1].split("/")[0])
    fw.server.stop()
    time.sleep(0.5)
    fw.platform, fw.server = start_platform(fw.store, port, csms_port, **keys)
    done = until(fw, cid, lambda c: c["state"] == "completed", timeout_s=90)
    assert {u["state"] for u in done["updates"]} == {"updated"}
    assert all(p.firmware == NEW for p in points)
    # each sent once: the stored state said what was sent already
    assert [u["attempts"] for u in done["updates"]] == [1, 1, 1]


def test_a_charger_offline_at_its_turn_is_updated_when_it_returns(fw: World) -> None:
    chargers = [charger(f"O-{n}", "2.0.1") for n in range(3)]
    points = online(fw, chargers)
    away = points[2]
    fw.chargers.call(lambda: away.drop(offline_s=3600))
    wait_for(lambda: fw.platform.csms.links.get("O-2") is None)  # type: ignore[union-attr]
    cid = start(fw, upload(fw), chargers, waves=[1, 2])
    waiting = until(fw, cid, lambda c: updates(c)["O-1"]["state"] == "updated")
    assert (updates(waiting)["O-2"]["state"], waiting["state"]) == ("pending", "running")
    fw.chargers.call(away.power_cycle)  # back: it is sent the update now
    done = until(fw, cid, lambda c: c["state"] == "completed")
    assert updates(done)["O-2"]["state"] == "updated"
    assert away.firmware == NEW


def test_a_site_never_has_more_than_max_per_site_updating(fw: World) -> None:
    site = [charger(f"S-{n}", "2.0.1", site="SITE-7") for n in range(3)]
    online(fw, site)
    cid = start(fw, upload(fw), site, waves=[3], max_per_site=1)
    done = until(fw, cid, lambda c: c["state"] == "completed")
    # one at a time: each was sent the update only after the one before it was updated
    events = [(datetime.fromisoformat(e["at"]), e["charger_id"], e["event"])
              for e in done["history"] if e["charger_id"]]  # fmt: skip
    sent = sorted((at, who) for at, who, e in events if e.startswith("update sent"))
    updated = {who: at for at, who, e in events if e == "updated"}
    assert len(sent) == 3
    for (_, before), (at, _) in itertools.pairwise(sent):
        assert at >= updated[before]


def test_only_ops_keys_start_campaigns(fw: World) -> None:
    driver = signed_up(fw.http)
    answer = fw.http.post("/api/v1/ops/campaigns", headers=driver.auth,
                          json={"firmware": "x", "waves": [1]})  # fmt: skip
    assert answer.status_code == 403
    assert fw.http.get("/api/v1/ops/campaigns").status_code == 401
