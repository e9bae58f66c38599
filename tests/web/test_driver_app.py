"""The driver app in a real browser at phone size, against a real simulated country and platform.

A driver signs up, adds a car, opens a station, presses Start, watches the kWh grow, stops and
gets the bill, which the history then lists; and the phone's camera (Chromium's fake camera
playing a video of a charger's QR code, drawn by the test from the code the platform publishes)
scans a charger and the charge starts. The servers and the browser are the fixtures of
tests/web/conftest.py (charges run at ``--time-scale 60``); screenshots go to ``artifacts/``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import segno
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, expect

from chargemesh.services.accounts.ops_keys import OpsKeys
from chargemesh.store import open_store
from tests.drivers import PASSWORD, Driver, sign_in, signed_up
from tests.factories import valid_vin
from tests.web.servers import ARTIFACTS, CHROMIUM_ARGS, Country, need_chromium

PHONE: ViewportSize = {"width": 390, "height": 844}
REFRESH_KEY = "chargemesh.refresh_token"  # where the app keeps the refresh token (api.js)
#: the simulator reports a charge's readings every 15 s (real time): two readings and a margin
GROWTH_TIMEOUT_MS = 45_000
#: The simulated compatibility lab fails a start now and then on any pair of car and pile (0.1 to
#: 0.5 %, keyed by the random StartChargeSeq): the app then says so, and the driver tries another
#: connector, as the tests do, up to this many times.
STARTS = 3
#: what the API answers a driver call without a valid access token (docs/accounts.md)
EXPIRED: dict[str, Any] = {
    "detail": {"code": "not_signed_in", "reason": "sign in first", "advice": None, "errors": []}
}
REFRESH = re.compile(r"/api/v1/auth/refresh$")
VEHICLES = re.compile(r"/api/v1/vehicles$")
SESSIONS = re.compile(r"/api/v1/sessions$")


@dataclass(frozen=True)
class Target:
    """A connector the app can start now, as the platform describes it."""

    station: dict[str, Any]  # GET /api/v1/stations/{id}
    connector: dict[str, Any]  # one of its connectors
    preview: dict[str, Any]  # POST /api/v1/sessions/preview for it


def api(country: Country) -> httpx.Client:
    return httpx.Client(base_url=country.base_url, timeout=30)


def startable(country: Country, driver: Driver) -> Iterator[Target]:
    """The available connectors of T/CEC networks that the preview says the app can start,
    on piles whose model the simulator's compatibility lab does not know to fail."""
    bad = {(s["manufacturer"], s["model"]) for s in country.truth["compatibility"]["bad_slices"]}
    tcec = {o["id"] for o in country.operators if o["protocol"] == "tcec"}
    with api(country) as http:
        nearby = http.get(
            "/api/v1/stations/nearby",
            params={"lon": 116.40, "lat": 39.90, "radius_km": 500, "limit": 100},
        ).json()["stations"]
        for found in nearby:
            if found["operator_id"] not in tcec or "app_start" not in found["access_methods"]:
                continue
            station = http.get(f"/api/v1/stations/{found['id']}").json()
            for evse in station["evses"]:
                if (evse.get("manufacturer"), evse.get("model")) in bad:
                    continue
                for c in evse["connectors"]:
                    if c["status"] != "available":
                        continue
                    preview = http.post(
                        "/api/v1/sessions/preview",
                        json={"connector_id": c["id"]},
                        headers=driver.auth,
                    )
                    assert preview.status_code == 200, preview.text
                    if preview.json()["startable"]:
                        yield Target(station, c, preview.json())


@dataclass
class Opened:
    page: Page
    errors: list[str]  # uncaught page errors


@contextlib.contextmanager
def phone_page(
    browser: Browser, country: Country, init_script: str | None = None, camera: bool = False
) -> Iterator[Opened]:
    """The map at ``/`` at phone size in a fresh context; no uncaught page error allowed."""
    context = browser.new_context(viewport=PHONE)
    if camera:
        context.grant_permissions(["camera"], origin=country.base_url)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    opened = Opened(page, [])
    page.on("pageerror", lambda exc: opened.errors.append(str(exc)))
    page.goto(f"{country.base_url}/")
    page.wait_for_function("window.chargemesh && window.chargemesh.ready", timeout=30_000)
    try:
        yield opened
    finally:
        context.close()
    assert not opened.errors, opened.errors


def fits(page: Page, what: str) -> None:
    """Nothing wider than the phone: no sideways scrolling of the page or the driver sheet."""
    widths = page.evaluate(
        """() => { const body = document.getElementById('driver-body');
             return {page: document.documentElement.scrollWidth,
                     sheet: body && !document.getElementById('driver').hidden
                       ? body.scrollWidth - body.clientWidth : 0}; }"""
    )
    assert widths["page"] <= PHONE["width"], (what, widths)
    assert widths["sheet"] <= 0, (what, widths)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"driver-{name}.png"))


def row(page: Page, connector_id: str) -> Any:
    return page.locator(f'#panel [data-connector-id="{connector_id}"]')


def money(value: Any, currency: str) -> str:
    """As the app writes an amount (ui.js money)."""
    amount = f"{float(value):.2f}"
    return f"¥{amount}" if currency == "CNY" else f"{amount} {currency}"


def clock(seconds: float) -> str:
    """As the app writes elapsed time (ui.js duration)."""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def shown_agrees(page: Page) -> dict[str, Any]:
    """The live charge on screen is the last session the page was given, number for number:
    kWh, kW, state of charge, elapsed time (the session's elapsed_s) and cost with currency.
    Both are read in one go (an update arriving between two reads would differ), and a number
    agrees when it is the session's rounded to what the screen shows (JavaScript rounds 30.125
    up to 30.13 where Python's format gives 30.12)."""
    both: dict[str, Any] = page.evaluate(
        """() => ({session: window.chargemesh.driver.charge.session,
                   text: Object.fromEntries(['kwh', 'kw', 'soc', 'elapsed', 'cost'].map(
                     (k) => [k, document.getElementById(`charge-${k}`).innerText]))})"""
    )
    session: dict[str, Any] = both["session"]
    text: dict[str, str] = both["text"]

    def near(shown: str, unit: str, value: float, step: float) -> None:
        assert shown.endswith(unit), (shown, unit)
        assert abs(float(shown.removesuffix(unit).strip()) - value) <= step / 2 + 1e-9, (
            shown,
            value,
        )

    near(text["kwh"], "kWh", float(session["kwh"]), 0.01)
    if session["state"] == "charging" and session["kw"] is not None:
        near(text["kw"], "kW", float(session["kw"]), 0.1)
    if session["soc"] is not None:
        near(text["soc"], "%", float(session["soc"]), 1.0)
    if session["elapsed_s"] is not None:
        assert text["elapsed"] == clock(session["elapsed_s"])
    if session["cost"] is not None:
        assert text["cost"] == money(session["cost"], session["currency"])
    return session


def charged(page: Page) -> str | None:
    """The session the live charge view shows once it charges; None if its start failed (the
    view then says why)."""
    charge = page.locator("#charge")
    expect(charge).to_have_attribute(
        "data-state", re.compile("^(charging|failed)$"), timeout=60_000
    )
    if charge.get_attribute("data-state") == "failed":
        expect(page.locator("#charge-state")).to_contain_text("did not start")
        return None
    return charge.get_attribute("data-session-id")


def test_sign_up_add_a_car_start_watch_stop_and_see_the_bill(
    browser: Browser, country: Country
) -> None:
    with api(country) as http:
        scout = signed_up(http)  # looks for a connector the app can start
    targets = startable(country, scout)
    target = next(targets)
    station, connector = target.station, target.connector
    email = "phone.driver@example.com"

    with phone_page(browser, country) as opened:
        page = opened.page
        fits(page, "the map")
        # signed out, the station's connectors ask the driver to sign in
        page.evaluate("id => window.chargemesh.openStation(id)", station["id"])
        sign_in_button = row(page, connector["id"]).get_by_role("button", name="Sign in to charge")
        expect(sign_in_button).to_be_visible()
        connectors = [c for e in station["evses"] for c in e["connectors"]]
        assert page.locator("#panel .start[data-startable='signed-out']").count() == len(connectors)
        shot(page, "1-signed-out-station")

        # sign up: a weak password is refused with the API's reason
        sign_in_button.click()
        expect(page.locator("#driver .notice")).to_contain_text("Sign in to start a charge")
        page.get_by_role("button", name="Create an account").click()
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password", exact=True).fill("chargers")  # letters only
        page.get_by_role("button", name="Create account").click()
        refusal = page.locator("#signup-form .form-error")
        expect(refusal).not_to_be_empty()
        with api(country) as http:  # what the API says of that password, word for word
            said = http.post("/api/v1/accounts", json={"email": email, "password": "chargers"})
        assert said.status_code == 422
        assert said.json()["detail"]["reason"].rstrip(".").lower() in refusal.inner_text().lower()
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        # signed in, back on the station it came from
        expect(page.locator("#driver")).to_be_hidden()
        expect(row(page, connector["id"]).locator(".start")).not_to_have_attribute(
            "data-startable", "signed-out"
        )
        page.get_by_role("button", name="Account").click()
        expect(page.locator("#account-email")).to_have_text(email)
        fits(page, "signed in")
        shot(page, "2-signed-up")

        # my cars (the access token found expired on the way: refreshed once, then the call
        # again): a VIN with a wrong check digit is refused with the reason, a right one added
        calls: list[str] = []
        page.on("request", lambda r: calls.append(urlsplit(r.url).path))
        page.route(VEHICLES, lambda route: route.fulfill(status=401, json=EXPIRED), times=1)
        vin = valid_vin(424242)
        wrong = vin[:8] + ("0" if vin[8] != "0" else "1") + vin[9:]
        page.locator("#driver-tabs").get_by_role("button", name="My cars").click()
        expect(page.locator("#cars")).to_contain_text("No car yet")
        asked = [c for c in calls if c in ("/api/v1/vehicles", "/api/v1/auth/refresh")]
        assert asked == ["/api/v1/vehicles", "/api/v1/auth/refresh", "/api/v1/vehicles"]
        page.get_by_label("Car model").fill("yc-aster")
        page.get_by_label("VIN", exact=True).fill(wrong)
        page.get_by_role("button", name="Add car").click()
        expect(page.locator("#car-form .form-error")).to_contain_text("check digit")
        page.get_by_label("VIN", exact=True).fill(vin)
        page.get_by_role("button", name="Add car").click()
        car = page.locator("#cars li.car")
        expect(car).to_have_count(1)
        expect(car).to_contain_text(vin)
        car.get_by_role("button", name=re.compile("^Switch on plug and charge")).click()
        expect(car.locator(".pnc.on")).to_be_visible()
        fits(page, "my cars")
        shot(page, "3-my-car")

        # a charge card: a UID with a digit lost is refused with the reason, the right one listed
        page.get_by_label("Card UID").fill("04:A2:5B:1C:9D:3E:8")
        page.get_by_role("button", name="Register card").click()
        expect(page.locator("#card-form .form-error")).to_contain_text("13 digits")
        page.get_by_label("Card UID").fill("04:a2:5b:1c:9d:3e:80")
        page.get_by_label("Name (optional)").fill("key fob")
        page.get_by_role("button", name="Register card").click()
        card = page.locator("#cards li.card")
        expect(card).to_have_count(1)
        expect(card).to_contain_text("04A25B1C9D3E80")
        expect(card).to_contain_text("key fob")

        # a home charger of the own network, registered by operations for this driver: under
        # My chargers, for them alone
        home = next(c for c in country.truth["own_chargers"] if c["kind"] == "home")
        body = {k: home[k] for k in ("id", "password", "name", "lat", "lon", "connectors")}
        with open_store(country.config.store.url) as store:
            _, key = OpsKeys(store).create("web test")
        with api(country) as http:
            made = http.post("/api/v1/ops/chargers", headers={"Authorization": f"Bearer {key}"},
                             json={**body, "kind": "home", "owner": email})  # fmt: skip
        assert made.status_code == 201, made.text
        page.locator("#driver-tabs").get_by_role("button", name="History").click()
        page.locator("#driver-tabs").get_by_role("button", name="My cars").click()
        expect(page.locator("#my-chargers")).to_contain_text(home["name"])
        expect(page.locator("#my-chargers .my-connector")).to_have_count(len(home["connectors"]))
        shot(page, "3b-my-home-charger")

        # no camera in this browser: the scan view says so, and a typed unknown code is refused
        # in plain words
        page.get_by_role("button", name="Scan to charge").click()
        expect(page.locator("#scan-status")).to_contain_text("type the code")
        page.get_by_label("Charger code").fill("NOT-A-CHARGER-42")
        page.get_by_role("button", name="Start with this code").click()
        expect(page.locator("#scan-error")).to_contain_text("Unknown code")
        expect(page.locator("#scan-error")).to_contain_text("NOT-A-CHARGER-42")
        fits(page, "unknown code")
        shot(page, "4-unknown-code")
        assert page.evaluate("window.chargemesh.driver.charge.session") is None

        # back to the station: Start with the price where the app can start, the honest
        # reason and advice where it cannot
        page.get_by_role("button", name="Close the driver app").click()
        start = row(page, connector["id"]).get_by_role("button", name=re.compile("^Start charging"))
        expect(start).to_be_visible()
        price = target.preview["price_now"]
        if price is not None:
            expect(row(page, connector["id"]).locator(".price-tag")).to_contain_text(
                f"{float(price):g}"
            )
        with api(country) as http:
            for c in connectors:
                slot = row(page, c["id"]).locator(".start")
                expect(slot).to_have_attribute("data-startable", re.compile("^(true|false)$"))
                if slot.get_attribute("data-startable") == "false":
                    said = http.post(
                        "/api/v1/sessions/preview",
                        json={"connector_id": c["id"]},
                        headers=scout.auth,
                    ).json()
                    assert said["startable"] is False
                    assert said["reason"][:30].lower() in slot.inner_text().lower()
                    assert slot.get_by_role("button").count() == 0
        fits(page, "station signed in")
        shot(page, "5-station")

        # Start: the live charge, its kWh growing, every number the session's own
        session_id = None
        for attempt in range(STARTS):
            if attempt:  # the last start failed, and the app said why: another connector
                target = next(targets)
                connector = target.connector
                page.get_by_role("button", name="Close the driver app").click()
                page.evaluate("id => window.chargemesh.openStation(id)", target.station["id"])
                start = row(page, connector["id"]).get_by_role(
                    "button", name=re.compile("^Start charging")
                )
            start.click()
            session_id = charged(page)
            if session_id is not None:
                break
        assert session_id is not None, f"{STARTS} starts failed"
        station = target.station
        page.wait_for_function(
            "Number(document.querySelector('#charge-kwh').dataset.value) > 0",
            timeout=GROWTH_TIMEOUT_MS,
        )
        first = shown_agrees(page)
        page.wait_for_function(
            "k => Number(document.querySelector('#charge-kwh').dataset.value) > k",
            arg=first["kwh"],
            timeout=GROWTH_TIMEOUT_MS,
        )
        second = shown_agrees(page)
        assert second["kwh"] > first["kwh"]
        assert second["elapsed_s"] > first["elapsed_s"]
        assert second["connector_id"] == connector["id"]
        assert page.evaluate("window.chargemesh.driver.charge.mode") == "stream"
        expect(page.locator("#charge-pill")).to_be_visible()
        fits(page, "live charge")
        shot(page, "6-charging")

        # Stop: the bill, as the API has it
        page.get_by_role("button", name="Stop charging").click()
        bill = page.locator("#charge .bill")
        expect(bill).to_be_visible(timeout=60_000)
        with api(country) as http:
            grant = sign_in(http, email).json()
            mine = http.get(
                "/api/v1/sessions", headers={"Authorization": f"Bearer {grant['access_token']}"}
            ).json()
        assert mine[-1]["id"] == session_id
        assert [s["state"] for s in mine[:-1]] == ["failed"] * (len(mine) - 1)
        billed = mine[-1]["bill"]
        assert billed is not None
        expect(page.locator("#bill-total")).to_have_text(money(billed["total"], billed["currency"]))
        if billed["reference"]:
            expect(bill).to_contain_text(billed["reference"])
        expect(page.locator("#charge-state")).to_contain_text("Charge complete")
        expect(page.locator("#charge-pill")).to_be_hidden()
        fits(page, "bill")
        shot(page, "7-bill")

        # the history lists the charge with its bill
        page.locator("#driver-tabs").get_by_role("button", name="History").click()
        item = page.locator(f'#history li[data-session-id="{session_id}"]')
        expect(item).to_be_visible()
        expect(item).to_contain_text(money(billed["total"], billed["currency"]))
        expect(item).to_contain_text(station["name"])
        if billed["reference"]:
            expect(item).to_contain_text(billed["reference"])
        fits(page, "history")
        shot(page, "8-history")

        # the sign-in ends (the access token refused, and the refresh token too): sign in again
        page.route(REFRESH, lambda route: route.fulfill(status=401, json=EXPIRED))
        page.route(SESSIONS, lambda route: route.fulfill(status=401, json=EXPIRED), times=1)
        page.locator("#driver-tabs").get_by_role("button", name="History").click()
        expect(page.locator("#signin-form")).to_be_visible()
        expect(page.locator("#driver .notice")).to_contain_text("expired")
        assert page.evaluate(f"localStorage.getItem({REFRESH_KEY!r})") is None


def qr_video(path: Path, text: str, width: int = 640, height: int = 480, frames: int = 5) -> None:
    """A Y4M video (YUV4MPEG2, 4:2:0) of ``text``'s QR code, large and centred on white, for
    Chromium's fake camera (``--use-file-for-fake-video-capture``)."""
    matrix = [list(r) for r in segno.make(text, error="m").matrix_iter(scale=1, border=4)]
    module = min(width, height) * 3 // 4 // len(matrix)
    size = module * len(matrix)
    left, top = (width - size) // 2, (height - size) // 2
    luma = bytearray(b"\xff" * (width * height))
    for r, line in enumerate(matrix):
        for c, dark in enumerate(line):
            if not dark:
                continue
            for y in range(top + r * module, top + (r + 1) * module):
                x = y * width + left + c * module
                luma[x : x + module] = b"\x00" * module
    chroma = b"\x80" * ((width // 2) * (height // 2))  # no colour
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + bytes(luma) + chroma + chroma)


def scan_to_charge(playwright: Playwright, country: Country, email: str, target: Target,
                   video: Path) -> str | None:  # fmt: skip
    """A phone whose camera sees ``target``'s QR code: the driver, signed in before (the page
    signs in again with the refresh token it kept), taps Scan, and the charge starts; then the
    live stream drops, the driver stops, and polling brings the bill. The session; None if the
    start failed."""
    code = target.connector["qr"]
    assert code
    qr_video(video, code)
    with api(country) as http:
        grant = sign_in(http, email).json()
    remember = f"localStorage.setItem({REFRESH_KEY!r}, {grant['refresh_token']!r});"
    camera = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    # a browser of its own: the fake camera and its video are launch options
    browser = playwright.chromium.launch(
        executable_path=need_chromium(), args=[*CHROMIUM_ARGS, *camera]
    )
    try:
        with phone_page(browser, country, init_script=remember, camera=True) as opened:
            page = opened.page
            page.wait_for_function("window.chargemesh.driver.account() !== null", timeout=10_000)
            page.get_by_role("button", name="Scan to charge").click()
            expect(page.locator("#charge")).to_be_visible(timeout=20_000)
            assert page.evaluate("window.chargemesh.driver.scan.frames") >= 1
            assert page.evaluate("window.chargemesh.driver.scan.running") is False  # camera off
            session_id = charged(page)
            if session_id is None:
                return None
            shown = page.evaluate("window.chargemesh.driver.charge.session")
            assert (shown["id"], shown["connector_id"]) == (session_id, target.connector["id"])
            fits(page, "scanned")
            shot(page, "9-scanned")
            # the live stream drops and cannot be opened again: polling brings the stop and the
            # bill all the same
            stream = re.compile(r"/api/v1/events\?session=")
            page.route(stream, lambda route: route.abort())
            page.evaluate("window.chargemesh.driver.dropStream()")
            expect(page.locator("#charge-mode")).to_contain_text("checking every few seconds")
            page.get_by_role("button", name="Stop charging").click()
            expect(page.locator("#charge .bill")).to_be_visible(timeout=60_000)
            live = page.evaluate("window.chargemesh.driver.charge")
            assert live["drops"] >= 1
            assert live["session"]["state"] == "completed"
            shown_agrees(page)
            shot(page, "10-scanned-bill")
            return session_id
    finally:
        browser.close()


def test_the_camera_scans_a_chargers_qr_code_and_the_charge_starts(
    playwright: Playwright, country: Country, tmp_path: Path
) -> None:
    with api(country) as http:
        driver = signed_up(http)
    session_id, targets = None, startable(country, driver)
    for attempt in range(STARTS):
        target = next(targets)
        session_id = scan_to_charge(
            playwright, country, driver.email, target, tmp_path / f"charger-qr-{attempt}.y4m"
        )
        if session_id is not None:
            break
    assert session_id is not None, f"{STARTS} starts failed"
    with api(country) as http:
        mine = http.get("/api/v1/sessions", headers=driver.auth).json()
    assert mine[-1]["id"] == session_id
    assert mine[-1]["method"] == "qr_scan"
    assert mine[-1]["connector_id"] == target.connector["id"]
