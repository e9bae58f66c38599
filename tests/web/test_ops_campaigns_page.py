"""The operations page (``/ops``) in a real browser: firmware campaigns watched and run by an
operations team, against a real platform.

The platform runs in-process (``assemble`` with a CSMS over an SQLite store, on loopback) with
its leader running the campaigns; twelve chargers are registered through the ops API and have
booted on 1.0.0, an image of 2.0.0 is uploaded and a campaign made through the API, in waves of
4 and 8. No charger is connected: the chargers' side of a campaign (UpdateFirmware, the firmware
statuses, the boot with the new version and the soak) is covered by the end-to-end tests. Here the
updates are moved forward through the store's public ``change_update``, as the campaign runner
does on the chargers' reports, so that the page has real progress to show.

The page must refuse a wrong key with a message, keep the right one in the tab only, list the
campaign, show one bar per wave whose accessible text has the API's counts, the failures by
reason and the chargers that failed, follow the campaign as it moves (it loads again every 2 s),
and pause, resume and cancel it (after a confirmation) with the API agreeing. Debian's Chromium
at phone width (tests/web/conftest.py); a screenshot is kept at ``artifacts/ops-campaign.png``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from chargemesh.bootstrap import Platform, assemble
from chargemesh.config import CsmsConfig
from chargemesh.domain.firmware import UpdateState
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.services.firmware.signing import make_signing_key
from chargemesh.store import Store, open_store
from tests.drivers import signed_up
from tests.helpers import free_port
from tests.web.servers import ARTIFACTS

PHONE: ViewportSize = {"width": 390, "height": 844}
KEY = "chargemesh.ops_key"  # where the page keeps the key (ops.js)
CHARGERS = [f"OPS-{n:02d}" for n in range(12)]
PASSWORD = "s3cret-charger-pass-0001"
#: the page loads a live campaign every 2 s: a change shows within that and a margin
REFRESHED_MS = 6_000


@dataclass
class Ops:
    url: str
    http: httpx.Client
    auth: dict[str, str]
    key: str
    platform: Platform
    store: Store
    campaign: str  # its id


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[Ops]:
    """The platform with twelve chargers on 1.0.0 and a campaign of 2.0.0 to them, running."""
    store = open_store(f"sqlite:///{tmp_path / 'chargemesh.db'}")
    key, cert = make_signing_key(tmp_path / "keys", "chargemesh test firmware")
    config = CsmsConfig(port=free_port(), firmware_signing_key=key, firmware_signing_cert=cert)
    platform = assemble(store, csms=config)
    _, secret = platform.ops_keys.create("ops page test")
    auth = {"Authorization": f"Bearer {secret}"}
    try:
        with (
            LoopbackServer(platform.app()) as server,
            httpx.Client(base_url=server.url, timeout=20) as http,
        ):
            for n, charger in enumerate(CHARGERS):
                made = http.post("/api/v1/ops/chargers", headers=auth, json={
                    "id": charger, "password": PASSWORD, "kind": "supercharger",
                    "name": f"Hub {n}", "lat": 39.9, "lon": 116.4, "site": f"SITE-{n}",
                    "connectors": [{"standard": "gbt_dc", "max_power_kw": 600}],
                })  # fmt: skip
                assert made.status_code == 201, made.text
                store.charger_booted(charger, at=datetime.now(UTC), vendor="Ymir",
                                     model="LC-600", serial=None, firmware="1.0.0",
                                     ocpp_version="1.6")  # fmt: skip
            image = http.post("/api/v1/ops/firmware", headers=auth,
                              files={"file": ("fw.bin", b"CMXFW1 ops page\n" + bytes(4096))},
                              data={"version": "2.0.0", "models": "LC-600"})  # fmt: skip
            assert image.status_code == 201, image.text
            made = http.post("/api/v1/ops/campaigns", headers=auth, json={
                "firmware": image.json()["id"], "waves": [4, 8], "error_threshold": 0.5,
                "success_threshold": 0.7, "target": {"chargers": CHARGERS},
            })  # fmt: skip
            assert made.status_code == 201, made.text
            o = Ops(server.url, http, auth, secret, platform, store, made.json()["id"])
            until(o, lambda c: c["state"] == "running", "the leader starts the campaign")
            yield o
    finally:
        store.close()


def detail(o: Ops) -> dict[str, Any]:
    answer = o.http.get(f"/api/v1/ops/campaigns/{o.campaign}", headers=o.auth)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def until(
    o: Ops, done: Callable[[dict[str, Any]], bool], what: str, timeout_s: float = 15.0
) -> dict[str, Any]:
    """The campaign as the API shows it once ``done(campaign)``."""
    deadline = time.monotonic() + timeout_s
    while not done(c := detail(o)):
        assert time.monotonic() < deadline, f"{what}: {c['state']}, wave {c['wave']}"
        time.sleep(0.1)
    return c


def move(o: Ops, charger: str, state: UpdateState, reason: str | None, event: str) -> None:
    """The charger's update moved on, as the campaign runner moves it on the charger's report."""
    (u,) = [u for u in o.store.campaign_updates(o.campaign) if u.charger_id == charger]
    now = datetime.now(UTC)
    after = replace(u, state=state, reason=reason, updated_at=now, attempts=1,
                    sent_at=u.sent_at or now, request_id=u.request_id or 1)  # fmt: skip
    assert o.store.change_update(after, u.state, event)


def progress(o: Ops) -> None:
    """Wave 1 passes (3 updated, 1 failed) and opens wave 2, which gets under way: 2 updated,
    2 failed, 3 in flight, 1 still pending."""
    failed = UpdateState.FAILED
    for charger in CHARGERS[:3]:
        move(o, charger, UpdateState.UPDATED, None, "updated")
    move(o, CHARGERS[3], failed, "InstallationFailed", "InstallationFailed")
    until(o, lambda c: c["wave"] == 2, "wave 1 passes")
    for charger in CHARGERS[4:6]:
        move(o, charger, UpdateState.UPDATED, None, "updated")
    move(o, CHARGERS[6], failed, "InstallationFailed", "InstallationFailed")
    move(o, CHARGERS[7], failed, "booted with 1.0.0 instead of 2.0.0", "booted with 1.0.0")
    move(o, CHARGERS[8], UpdateState.DOWNLOADING, None, "Downloading")
    move(o, CHARGERS[9], UpdateState.INSTALLING, None, "Installing")
    move(o, CHARGERS[10], UpdateState.SENT, None, "update sent (attempt 1)")


def wave_label(w: dict[str, Any]) -> str:
    """A wave's bar's accessible text, from the API's counts (as ops.js writes it)."""
    parts = [f"{w['updated']} updated", f"{w['failed']} failed", f"{w['in_flight']} in flight",
             f"{w['pending']} pending"]  # fmt: skip
    if w["skipped"]:
        parts.append(f"{w['skipped']} skipped")
    return f"wave {w['wave']}: {', '.join(parts)} of {w['size']}"


@dataclass
class Opened:
    page: Page
    errors: list[str]  # uncaught page errors
    foreign: list[str]  # requests that left the platform: none allowed


@contextlib.contextmanager
def ops_page(browser: Browser, o: Ops) -> Iterator[Opened]:
    """``/ops`` at phone size in a fresh context; no page error and no request off the
    platform allowed, nothing kept in localStorage."""
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    opened = Opened(page, [], [])
    page.on("pageerror", lambda exc: opened.errors.append(str(exc)))
    page.on("request", lambda r: None if r.url.startswith((o.url + "/", "data:"))
            else opened.foreign.append(r.url))  # fmt: skip
    page.goto(f"{o.url}/ops")
    try:
        yield opened
        assert page.evaluate("() => localStorage.length") == 0
    finally:
        context.close()
    assert not opened.errors, opened.errors
    assert not opened.foreign, opened.foreign


def enter_key(page: Page, key: str) -> None:
    page.get_by_label("Operations key", exact=True).fill(key)
    page.get_by_role("button", name="Use this key").click()


def fits(page: Page, what: str) -> None:
    """Nothing wider than the phone: no sideways scrolling of the page nor of a table."""
    widths = page.evaluate(
        """() => ({page: document.documentElement.scrollWidth,
                   tables: [...document.querySelectorAll('.table-wrap')].map(
                     (w) => w.scrollWidth - w.clientWidth)})"""
    )
    assert widths["page"] <= PHONE["width"], (what, widths)
    assert all(over <= 0 for over in widths["tables"]), (what, widths)


def shown_state(page: Page, state: str) -> None:
    expect(page.locator("#campaign-state")).to_have_text(state, timeout=REFRESHED_MS)


def test_a_wrong_key_is_refused_and_the_right_one_is_kept_in_the_tab_only(
    browser: Browser, ops: Ops
) -> None:
    driver = signed_up(ops.http)
    with ops_page(browser, ops) as opened:
        page = opened.page
        error = page.locator("#key-error")
        enter_key(page, "cm_000000000000_not-a-key")
        expect(error).to_contain_text("Not a valid operations key")
        expect(error).to_contain_text("unknown or revoked")
        enter_key(page, driver.access_token)  # a driver's token is no ops key (403)
        expect(error).to_contain_text("Drivers cannot use operations routes")
        assert page.evaluate(f"() => sessionStorage.getItem('{KEY}')") is None

        enter_key(page, ops.key)
        row = page.locator(f'#campaigns tr[data-campaign-id="{ops.campaign}"]')
        expect(row).to_be_visible()
        expect(row.locator(".chip")).to_have_text("running")
        expect(row.locator("td").nth(0)).to_have_text("2.0.0")
        expect(row.locator("td").nth(2)).to_have_text(str(len(CHARGERS)))
        expect(page.locator("#firmware tbody tr")).to_have_count(1)
        expect(page.locator("#firmware tbody tr")).to_contain_text("LC-600")
        assert page.evaluate(f"() => sessionStorage.getItem('{KEY}')") == ops.key
        assert ops.key not in page.url
        expect(page.get_by_label("Operations key", exact=True)).to_have_value("")
        fits(page, "the list")

        # the key in the tab survives a reload; forgotten, it is asked for again
        page.reload()
        expect(row).to_be_visible()
        page.get_by_role("button", name="Forget key").click()
        expect(page.get_by_label("Operations key", exact=True)).to_be_visible()
        assert page.evaluate(f"() => sessionStorage.getItem('{KEY}')") is None

        # a key revoked while the page is open: the next load says so and asks again
        enter_key(page, ops.key)
        expect(row).to_be_visible()
        assert ops.platform.ops_keys.revoke("ops page test") == 1
        expect(error).to_contain_text("Not a valid operations key", timeout=REFRESHED_MS)
        expect(page.get_by_label("Operations key", exact=True)).to_be_visible()
        expect(page.locator("#list-view")).to_be_hidden()
        assert page.evaluate(f"() => sessionStorage.getItem('{KEY}')") is None


def test_a_campaign_shows_its_waves_and_is_paused_resumed_and_cancelled(
    browser: Browser, ops: Ops
) -> None:
    progress(ops)
    with ops_page(browser, ops) as opened:
        page = opened.page
        enter_key(page, ops.key)
        page.get_by_role("link", name=ops.campaign).click()
        heading = f"Campaign {ops.campaign}: firmware 2.0.0"
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        shown_state(page, "running")

        # one bar per wave, its accessible text the API's counts
        c = detail(ops)
        counts = [(w["updated"], w["failed"], w["in_flight"], w["pending"]) for w in c["waves"]]
        assert counts == [(3, 1, 0, 0), (2, 2, 3, 1)]
        expect(page.locator(".waves .bar")).to_have_count(2)
        for w in c["waves"]:
            expect(page.get_by_role("img", name=wave_label(w), exact=True)).to_be_visible()
        assert (
            wave_label(c["waves"][1]) == "wave 2: 2 updated, 2 failed, 3 in flight, 1 pending of 8"
        )

        # failures by reason, summed over the waves; the chargers that failed with theirs
        sums: dict[str, int] = {}
        for w in c["waves"]:
            for reason, n in w["failures"].items():
                sums[reason] = sums.get(reason, 0) + n
        assert sums == {"InstallationFailed": 2, "booted with 1.0.0 instead of 2.0.0": 1}
        shown = page.locator("#failures-by-reason tbody tr").evaluate_all(
            "rows => rows.map(r => [r.cells[0].innerText, Number(r.cells[1].innerText)])"
        )
        assert dict(shown) == sums
        assert shown[0] == ["InstallationFailed", 2]  # the most frequent first
        failed = {u["charger_id"]: u["reason"] for u in c["updates"] if u["state"] == "failed"}
        assert len(failed) == 3
        for charger, reason in failed.items():
            expect(
                page.locator(f'#failed-chargers tr[data-charger-id="{charger}"]')
            ).to_contain_text(reason)
        expect(page.locator("#campaign-history")).to_contain_text("wave 1 passed: wave 2 open")
        fits(page, "the campaign")

        # the page follows the campaign: a charger that comes back updated shows without a reload
        move(ops, CHARGERS[8], UpdateState.UPDATED, None, "updated")
        wave = detail(ops)["waves"][1]
        assert (wave["updated"], wave["in_flight"]) == (3, 2)
        expect(page.get_by_role("img", name=wave_label(wave), exact=True)).to_be_visible(
            timeout=REFRESHED_MS
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ops-campaign.png"), full_page=True)

        # pause, and resume: the state shown and the API's agree; only the allowed buttons
        expect(page.get_by_role("button", name="Resume")).to_have_count(0)
        page.get_by_role("button", name="Pause").click()
        shown_state(page, "paused")
        assert detail(ops)["state"] == "paused"
        expect(page.get_by_role("button", name="Pause")).to_have_count(0)
        page.get_by_role("button", name="Resume").click()
        shown_state(page, "running")
        assert detail(ops)["state"] == "running"

        # cancel asks first: kept, nothing changes; confirmed, the campaign is cancelled
        page.get_by_role("button", name="Cancel campaign").click()
        dialog = page.get_by_role("dialog", name=f"Cancel campaign {ops.campaign}?")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Keep the campaign").click()
        expect(dialog).to_be_hidden()
        assert detail(ops)["state"] == "running"
        shown_state(page, "running")
        page.get_by_role("button", name="Cancel campaign").click()
        dialog.get_by_role("button", name="Yes, cancel it").click()
        shown_state(page, "cancelled")
        c = detail(ops)
        assert c["state"] == "cancelled"
        expect(page.locator("#campaign-reason")).to_have_text("cancelled by operations")
        expect(page.locator("#campaign-actions button")).to_have_count(0)
        # the charger still pending is skipped: its wave's bar says so
        assert c["waves"][1]["skipped"] == 1
        expect(page.get_by_role("img", name=wave_label(c["waves"][1]), exact=True)).to_be_visible()
        expect(page.locator("#campaign-history")).to_contain_text("cancelled by operations")
        page.get_by_role("link", name="All campaigns").click()
        row = page.locator(f'#campaigns tr[data-campaign-id="{ops.campaign}"]')
        expect(row.locator(".chip")).to_have_text("cancelled")
