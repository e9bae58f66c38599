"""Firmware images and campaigns over the ops API, and the download links chargers get: ops
keys only, bad input refused with the reason, links that name one charger and expire, Range
requests answered with the part asked for. Both stores, over loopback HTTP."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from chargemesh.bootstrap import Platform, assemble
from chargemesh.config import CsmsConfig
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.services.firmware.signing import make_signing_key, verify
from chargemesh.store import Store
from tests.drivers import signed_up
from tests.helpers import free_port

IMAGE = b"CMXFW1 test\n" + bytes(range(256)) * 300
PASSWORD = "s3cret-charger-pass-0001"


@dataclass
class Ops:
    http: httpx.Client
    auth: dict[str, str]
    platform: Platform
    store: Store


@pytest.fixture
def ops(store: Store, tmp_path: Path) -> Iterator[Ops]:
    key, cert = make_signing_key(tmp_path / "keys", "chargemesh test firmware")
    config = CsmsConfig(port=free_port(), firmware_signing_key=key, firmware_signing_cert=cert)
    platform = assemble(store, csms=config)
    _, secret = platform.ops_keys.create("firmware test")
    with (
        LoopbackServer(platform.app()) as server,
        httpx.Client(base_url=server.url, timeout=20) as http,
    ):
        o = Ops(http, {"Authorization": f"Bearer {secret}"}, platform, store)
        for n, model in enumerate(["LC-600", "LC-600", "LC-600", "H7"]):
            made = http.post("/api/v1/ops/chargers", headers=o.auth, json={
                "id": f"FW-{n}", "password": PASSWORD, "kind": "supercharger", "name": f"S{n}",
                "lat": 39.9, "lon": 116.4, "connectors": [{"standard": "gbt_dc",
                                                           "max_power_kw": 600}],
                "site": "SITE-A" if n < 2 else None,
            })  # fmt: skip
            assert made.status_code == 201, made.text
            store.charger_booted(f"FW-{n}", at=datetime.now(UTC), vendor="Ymir", model=model,
                                 serial=None, firmware="1.0.0", ocpp_version="1.6")  # fmt: skip
        yield o


def upload(o: Ops, content: bytes = IMAGE, version: str = "2.0.0",
           models: str = "LC-600") -> httpx.Response:  # fmt: skip
    return o.http.post("/api/v1/ops/firmware", headers=o.auth,
                       files={"file": ("fw.bin", content)},
                       data={"version": version, "models": models})  # fmt: skip


def test_an_image_is_kept_by_content_and_signed(ops: Ops) -> None:
    assert ops.http.post("/api/v1/ops/firmware", files={"file": ("x", b"x")},
                         data={"version": "1", "models": "m"}).status_code == 401  # fmt: skip
    driver = signed_up(ops.http)
    assert ops.http.get("/api/v1/ops/firmware", headers=driver.auth).status_code == 403
    made = upload(ops)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["sha256"] == hashlib.sha256(IMAGE).hexdigest()
    assert (body["size"], body["signed"], body["models"]) == (len(IMAGE), True, ["LC-600"])
    image = ops.store.firmware(body["id"])
    assert image is not None
    assert image.signature is not None
    assert image.signing_certificate is not None
    assert verify(IMAGE, image.signature, image.signing_certificate)
    assert not verify(IMAGE + b"!", image.signature, image.signing_certificate)
    again = upload(ops, version="2.0.1")
    assert again.status_code == 409
    assert body["id"] in again.text
    for bad in ({"version": "two point oh!"}, {"models": " , "}, {"content": b""}):
        answer = upload(ops, **bad)  # type: ignore[arg-type]
        assert answer.status_code == 422, bad
    assert [i["id"] for i in ops.http.get("/api/v1/ops/firmware", headers=ops.auth).json()] == [
        body["id"]
    ]


def test_download_links_name_one_charger_expire_and_serve_ranges(ops: Ops) -> None:
    sha = upload(ops).json()["sha256"]
    campaigns = ops.platform.csms.campaigns  # type: ignore[union-attr]
    assert campaigns is not None
    link = campaigns.downloads.link(sha, "FW-0", datetime.now(UTC) + timedelta(minutes=5))
    path = link.split("//", 1)[1].split("/", 1)[1]
    whole = ops.http.get("/" + path)
    assert (whole.status_code, whole.content) == (200, IMAGE)
    part = ops.http.get("/" + path, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == IMAGE[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(IMAGE)}"
    tail = ops.http.get("/" + path, headers={"Range": f"bytes={len(IMAGE) - 10}-"})
    assert tail.content == IMAGE[-10:]
    assert ops.http.get("/" + path, headers={"Range": "bytes=99999999-"}).status_code == 416
    # another charger's name in the link, or an expired link: refused
    assert ops.http.get("/" + path.replace("FW-0", "FW-1")).status_code == 403
    old = campaigns.downloads.link(sha, "FW-0", datetime.now(UTC) - timedelta(seconds=1))
    assert ops.http.get("/" + old.split("//", 1)[1].split("/", 1)[1]).status_code == 403


def test_a_campaign_is_planned_in_waves_and_run_by_operations(ops: Ops) -> None:
    fw = upload(ops).json()["id"]
    refused = ops.http.post("/api/v1/ops/campaigns", headers=ops.auth,
                            json={"firmware": "fw-nope", "waves": [1]})  # fmt: skip
    assert refused.status_code == 422
    campaigns = "/api/v1/ops/campaigns"
    nobody = ops.http.post(campaigns, headers=ops.auth, json={
        "firmware": fw, "waves": [1], "target": {"kind": "home"},
    })  # fmt: skip
    assert nobody.status_code == 422
    assert "no charger matches" in nobody.text
    misfit = ops.http.post(campaigns, headers=ops.auth, json={
        "firmware": fw, "waves": [1], "target": {"chargers": ["FW-3"]},
    })  # fmt: skip
    assert misfit.status_code == 422
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = ops.http.post("/api/v1/ops/campaigns", headers=ops.auth, json={
        "firmware": fw, "waves": [1, 1], "target": {"chargers": ["FW-2", "FW-0", "FW-1"]},
        "start_at": start,
    })  # fmt: skip
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["state"] == "scheduled"
    # waves take the chargers in the target's order; the model H7 is not in the image's models
    assert [(u["charger_id"], u["wave"]) for u in body["updates"]] == [
        ("FW-2", 1),
        ("FW-0", 2),
        ("FW-1", 2),
    ]
    assert [w["size"] for w in body["waves"]] == [1, 2]
    cid = body["id"]
    # a charger in a live campaign is not put in another
    busy = ops.http.post("/api/v1/ops/campaigns", headers=ops.auth,
                         json={"firmware": fw, "waves": [5]})  # fmt: skip
    assert busy.status_code == 409
    act = lambda what: ops.http.post(f"/api/v1/ops/campaigns/{cid}/{what}", headers=ops.auth)  # noqa: E731
    assert act("resume").status_code == 409  # not paused
    assert act("pause").json()["state"] == "paused"
    assert act("resume").json()["state"] == "running"
    cancelled = act("cancel").json()
    assert cancelled["state"] == "cancelled"
    assert {u["state"] for u in cancelled["updates"]} == {"skipped"}
    assert act("pause").status_code == 409
    assert (
        ops.http.post("/api/v1/ops/campaigns/cmp-nope/pause", headers=ops.auth).status_code == 404
    )
    listed = ops.http.get("/api/v1/ops/campaigns", headers=ops.auth).json()
    assert [(c["id"], c["state"], c["chargers"]) for c in listed] == [(cid, "cancelled", 3)]
    history = ops.http.get(f"/api/v1/ops/campaigns/{cid}", headers=ops.auth).json()["history"]
    assert [e["event"] for e in history][-3:] == [
        "paused by operations",
        "resumed by operations",
        "cancelled by operations",
    ]
