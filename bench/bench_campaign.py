"""A firmware campaign over the own chargers (issue 17): how fast each wave is dispatched, how
long it takes, how fast a wave crossing the error gate halts the campaign, and whether the API
keeps answering meanwhile.

    python bench/bench_campaign.py [--chargers 10000] [--quick] [--soak-s 5] [--install-s 1]

Set-up: ``chargemesh serve`` in its own process (uvicorn on uvloop, the CSMS and the campaign
runner on the same loop) with a config written here: a fresh schema on PostgreSQL
(``--postgres``, dropped at the end), ``[csms]`` on a free loopback port and a firmware signing
key made with ``make_signing_key``. ``--chargers`` superchargers (default 10,000, ``--quick``
1,000) in sites of 4 around Beijing, each one of three models — CMX-SC600-L1 (OCPP 1.6 core),
CMX-SC600-L2 (1.6 with the security extension), CMX-SC600-X2 (2.0.1) — are registered straight
into the store with the registry's own rows (what ``POST /api/v1/ops/chargers`` writes, without
10,000 requests) and connected as simulated charge points in ONE other process
(``campaign_load.py``), which really downloads, checks, installs (``--install-s``) and reboots
into each image. An ops key is made in the store; the images go through
``POST /api/v1/ops/firmware`` and the campaigns through ``POST /api/v1/ops/campaigns``.

1. **Campaign 1** (version 9.0.0, every charger): waves of 1 %, 10 % and the rest, the
   per-site rule at its default (``max_per_site`` 1: a site of 4 is updated one charger at a
   time, in four rounds), ``--soak-s``. Per wave, from its opening (the history event): its
   first dispatching tick — the chargers it claimed (one per site: what the per-site rule lets
   start at once, the dispatch the target "every wave dispatched within 10 s of its start" is
   about), the claim's delay and the time until every one of them had the request (timed in
   the simulator) —, the wave's last "update sent" (paced by the per-site rule: four updates
   one after another) and its arrival, how many of the wave had finished when it passed, and
   how long it was open; the whole campaign's time. Per charger, the update's course from its
   claim in the CSMS's history and on the charger's own clock, and how far the history lags
   the charger's statuses; the runner's tick period; the boots the CSMS accepted and the
   connections the chargers lost.
2. **Campaign 2** (version 9.1.0, which fails to install on CMX-SC600-X2 — the simulator's
   ``firmware_faults``, ``--fault``): the canary holds no X2, so its second wave crosses the
   error gate (``min_finished`` small so that a failure report, not a soak, crosses it). The
   time from the failure that crossed the gate (its event) to the "halted" event (target
   <= 1 s), and the "update sent" events after the halt (must be 0), checked against what the
   chargers received.
3. **The API meanwhile**: ``GET /api/v1/stations/nearby`` around the superchargers in a loop
   from this process, before the campaigns and during each: count, p50 / p99 latency, errors;
   the serve process's CPU (cores) and RSS, the simulator's CPU and the whole machine's.

A campaign still live after ``--timeout-s`` (default 900 s) is cancelled through the API and
reported as far as it got; each campaign is reported as soon as it ends. The figures share the
machine with the simulator, PostgreSQL and whatever else runs: the load average is printed.
``--quick`` takes about 3 minutes. The full 10,000 took 21 minutes on 2 cores: 1 minute to boot
the fleet, campaign 1 cancelled at 900 s (the platform had not got through the last wave's first
per-site round by then), its cancel 2.5 minutes, campaign 2 1.5 minutes. Benchmarks print; they
assert nothing.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

import campaign_load
from benchlib import cpu_s, free_port, machine_s, status_mb, store_url
from chargemesh.domain.firmware import HALT_AT_ONCE, Campaign, CampaignState, Update, UpdateState
from chargemesh.sim.country.own import OWN_MODELS, OwnCharger, OwnConnector
from chargemesh.sim.firmware import FirmwareFault, build_image
from chargemesh.store import Store, open_store

POSTGRES_URL = "postgresql://127.0.0.1:5432/test"
BEIJING = (116.40, 39.90)
SITE_CHARGERS = 4
#: 1.6 core, 1.6 with the security extension, 2.0.1
MODELS = ("CMX-SC600-L1", "CMX-SC600-L2", "CMX-SC600-X2")
GOOD, BAD = "9.0.0", "9.1.0"  # campaign 1's version; campaign 2's, which fails on FAULTY
FAULTY = "CMX-SC600-X2"
HALT_WATCH_S = 15.0  # after the halt: time for any late "update sent" to show
POLL_S = 0.5
PROGRESS_S = 60.0
CANCEL_S = 900.0  # a cancel skips each pending charger in a transaction of its own
LIVE = {CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.PAUSED}


# --- set-up ------------------------------------------------------------------------------------


def fleet(n: int, seed: int = 17) -> list[OwnCharger]:
    """``n`` superchargers in sites of :data:`SITE_CHARGERS`, each of one of :data:`MODELS` on
    its model's newest firmware; ids sort by site."""
    rng = random.Random(seed)
    models = {m.model: m for m in OWN_MODELS if m.model in MODELS}
    run = secrets.token_hex(6)
    chargers = []
    lon, lat = BEIJING
    for k in range(n):
        site, slot = divmod(k, SITE_CHARGERS)
        if slot == 0:
            lon, lat = BEIJING[0] + rng.uniform(-0.4, 0.4), BEIJING[1] + rng.uniform(-0.3, 0.3)
        m = models[rng.choice(MODELS)]
        cid = f"CMX-B{site + 1:05d}-{slot + 1}"
        chargers.append(OwnCharger(
            id=cid, password=f"bench-{run}-{k:06d}", kind="supercharger",
            name=f"Bench site {site + 1} No. {slot + 1}", lat=lat, lon=lon + slot * 2e-4,
            connectors=tuple(OwnConnector(m.standard, m.power_kw) for _ in range(m.connectors)),
            owner=None, vendor=m.vendor, model=m.model, firmware=m.firmwares[-1], ocpp=m.ocpp,
            serial=f"BENCH{k:07d}", site=f"CMX-B{site + 1:05d}",
            security_extension=m.security_extension,
        ))  # fmt: skip
    return chargers


def register(store: Store, chargers: list[OwnCharger]) -> None:
    """The chargers and their stations in the registry, as ``POST /api/v1/ops/chargers``
    writes them."""
    from chargemesh.config import CsmsConfig
    from chargemesh.csms.network import OwnNetwork, hash_password
    from chargemesh.domain.own import ChargerKind
    from chargemesh.domain.own import OwnCharger as Registered

    network = OwnNetwork.from_config(CsmsConfig())
    now = datetime.now(UTC)
    store.upsert_operator(network.operator)
    store.upsert_tariffs([network.tariff])
    stations = []
    for c in chargers:
        kept = Registered(
            c.id, hash_password(c.password), ChargerKind.SUPERCHARGER, c.name,
            network.station_id(c.id), len(c.connectors), now, vendor=c.vendor, model=c.model,
            serial=c.serial, firmware=c.firmware, ocpp_version=c.ocpp, site=c.site,
        )  # fmt: skip
        store.add_own_charger(kept)
        standards = [(x.standard, x.max_power_kw) for x in c.connectors]
        stations.append(network.station(kept, c.lon, c.lat, standards, None, now))
    for k in range(0, len(stations), 1000):
        store.upsert_stations(stations[k : k + 1000], at=now)


@dataclass
class Platform:
    """``chargemesh serve`` in its own process."""

    process: subprocess.Popen[bytes]
    api_port: int
    csms_port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def csms(self) -> str:
        return f"ws://127.0.0.1:{self.csms_port}/ocpp"

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        waiting = [self.api_port, self.csms_port]
        while waiting and time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"chargemesh serve stopped at start:\n{self.log.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", waiting[0])) == 0:
                    waiting.pop(0)
                    continue
            time.sleep(0.2)
        if waiting:
            sys.exit(f"chargemesh serve did not listen within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_platform(tmp: Path, url: str, boots_per_s: float) -> Platform:
    from chargemesh.services.firmware.signing import make_signing_key

    key, cert = make_signing_key(tmp / "keys", "chargemesh bench firmware signing")
    api_port, csms_port = free_port(), free_port()
    config = tmp / "chargemesh.toml"
    config.write_text(
        f'[store]\nurl = "{url}"\n\n[server]\nhost = "127.0.0.1"\nport = {api_port}\n\n'
        f'[csms]\nhost = "127.0.0.1"\nport = {csms_port}\nboots_per_s = {boots_per_s}\n'
        f'firmware_signing_key = "{key}"\nfirmware_signing_cert = "{cert}"\n'
    )
    log = tmp / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chargemesh", "serve", "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Platform(process, api_port, csms_port, log)


class Simulator:
    """The simulated chargers' process (``campaign_load.serve``)."""

    def __init__(self, side: campaign_load.SimSide) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipe, theirs = ctx.Pipe()
        self.process = ctx.Process(target=campaign_load.serve, args=(theirs, side), daemon=True)
        self.process.start()

    def ask(self, command: str) -> Any:
        self.pipe.send(command)
        return self.pipe.recv()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def close(self) -> None:
        try:
            self.pipe.send("quit")
            if self.pipe.poll(30):
                self.pipe.recv()
        except (OSError, EOFError):
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


def wait_online(sim: Simulator, n: int, timeout_s: float) -> tuple[int, float]:
    t0 = time.monotonic()
    online = 0
    while time.monotonic() - t0 < timeout_s:
        online = sim.ask("online")
        if online >= n:
            break
        time.sleep(1.0)
    return online, time.monotonic() - t0


# --- the API and the processes while something runs ---------------------------------------------


@dataclass
class Phase:
    """The nearby loop's latencies and the processes' CPU and memory over one phase."""

    name: str
    seconds: float = 0.0
    took: list[float] = field(default_factory=list)
    errors: int = 0
    stations: int = 0  # stations the answers listed, in all
    serve_cpu: float = 0.0  # cores
    sim_cpu: float = 0.0
    machine_cpu: float = 0.0
    rss_start: float = 0.0
    rss_peak: float = 0.0
    rss_end: float = 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def nearby_loop(api: str, points: list[tuple[float, float]], stop: threading.Event,
                phase: Phase) -> None:  # fmt: skip
    """``GET /api/v1/stations/nearby`` around the sites, one after another, until ``stop``."""
    rng = random.Random(5)
    with httpx.Client(base_url=api, timeout=30) as http:
        while not stop.is_set():
            lon, lat = rng.choice(points)
            t = time.perf_counter()
            try:
                query = {"lat": lat, "lon": lon, "radius_km": 5, "limit": 20}
                r = http.get("/api/v1/stations/nearby", params=query)
            except httpx.HTTPError:
                phase.errors += 1
                continue
            if r.status_code != 200:
                phase.errors += 1
                continue
            phase.took.append(time.perf_counter() - t)
            phase.stations += int(r.json()["count"])


@contextmanager
def watched(name: str, platform: Platform, sim: Simulator,
            points: list[tuple[float, float]]) -> Iterator[Phase]:  # fmt: skip
    """The nearby loop in a thread and the serve process's RSS sampled while the block runs."""
    phase = Phase(name, rss_start=status_mb(platform.pid, "VmRSS") or 0.0)
    phase.rss_peak = phase.rss_start
    stop = threading.Event()
    loop = threading.Thread(target=nearby_loop, args=(platform.api, points, stop, phase))

    def sample() -> None:
        while not stop.wait(POLL_S):
            phase.rss_peak = max(phase.rss_peak, status_mb(platform.pid, "VmRSS") or 0.0)

    sampler = threading.Thread(target=sample)
    t0, serve0, sim0, all0 = time.monotonic(), cpu_s(platform.pid), cpu_s(sim.pid), machine_s()
    loop.start()
    sampler.start()
    try:
        yield phase
    finally:
        stop.set()
        loop.join()
        sampler.join()
        phase.seconds = time.monotonic() - t0
        phase.serve_cpu = ((cpu_s(platform.pid) or 0.0) - (serve0 or 0.0)) / phase.seconds
        phase.sim_cpu = ((cpu_s(sim.pid) or 0.0) - (sim0 or 0.0)) / phase.seconds
        phase.machine_cpu = (machine_s() - all0) / phase.seconds
        phase.rss_end = status_mb(platform.pid, "VmRSS") or 0.0


# --- the campaigns ---------------------------------------------------------------------------


def upload(http: httpx.Client, version: str) -> dict[str, Any]:
    image = build_image(version, MODELS)
    made = http.post("/api/v1/ops/firmware", files={"file": ("fw.bin", image)},
                     data={"version": version, "models": ",".join(MODELS)})  # fmt: skip
    if made.status_code != 201:
        sys.exit(f"upload refused: {made.status_code} {made.text}")
    body: dict[str, Any] = made.json()
    return body


def start_campaign(http: httpx.Client, body: dict[str, Any]) -> tuple[str, float]:
    """The campaign's id and the time it was asked for."""
    at = time.time()
    made = http.post("/api/v1/ops/campaigns", json=body, timeout=120)
    if made.status_code != 201:
        sys.exit(f"campaign refused: {made.status_code} {made.text[:2000]}")
    return str(made.json()["id"]), at


def progress(store: Store, campaign_id: str) -> str:
    """Each wave's chargers by state, e.g. ``w3 pending 6,675 / downloading 1,126``."""
    counted: dict[int, dict[str, int]] = {}
    for u in store.campaign_updates(campaign_id):
        wave = counted.setdefault(u.wave + 1, {})
        wave[str(u.state)] = wave.get(str(u.state), 0) + 1
    return " | ".join(f"w{w} " + " / ".join(f"{k} {v:,}" for k, v in sorted(states.items()))
                      for w, states in sorted(counted.items()))  # fmt: skip


def wait_done(store: Store, http: httpx.Client, campaign_id: str, timeout_s: float) -> Campaign:
    """The campaign once it is no longer live (completed, halted, cancelled); at the timeout
    the bench cancels it. Its progress every :data:`PROGRESS_S`."""
    began = time.monotonic()
    shown = began
    while True:
        c = store.campaign(campaign_id)
        assert c is not None
        if c.state not in LIVE:
            return c
        now = time.monotonic()
        if now - began > timeout_s:
            where = progress(store, campaign_id)
            print(f"  … not done after {timeout_s:.0f} s, cancelling: {where}", flush=True)
            t0 = time.monotonic()
            try:
                http.post(f"/api/v1/ops/campaigns/{campaign_id}/cancel", timeout=CANCEL_S)
            except httpx.TimeoutException:
                print(f"  … the cancel got no answer within {CANCEL_S:.0f} s", flush=True)
            else:
                print(f"  … the cancel answered after {time.monotonic() - t0:.0f} s", flush=True)
            timeout_s = float("inf")
            continue
        if now - shown >= PROGRESS_S:
            shown = now
            print(f"  {now - began:5.0f} s: {progress(store, campaign_id)}", flush=True)
        time.sleep(POLL_S)


Event = tuple[float, str | None, str]  # (time.time(), charger, event)


def history(store: Store, campaign_id: str) -> list[Event]:
    return [(at.timestamp(), who, e) for at, who, e in store.campaign_history(campaign_id, 10**7)]


def sends(events: list[Event]) -> dict[str, float]:
    """Each charger's first "update sent" event."""
    first: dict[str, float] = {}
    for at, who, e in events:
        if who is not None and e.startswith("update sent"):
            first.setdefault(who, at)
    return first


def first_receipts(receipts: list[campaign_load.Receipt], sha256: str) -> dict[str, float]:
    first: dict[str, float] = {}
    for who, image, at in sorted(receipts, key=lambda r: r[2]):
        if image == sha256:
            first.setdefault(who, at)
    return first


@dataclass
class Wave:
    number: int  # 1-based
    size: int
    sites: int
    opened: float | None
    closed: float | None
    ended: str  # passed, completed, halted, or open
    first_tick: int  # chargers claimed by the wave's first tick that sent (one claim time)
    first_tick_at: float | None  # s from the opening to that claim
    first_tick_got: float | None  # s from the opening until all of those had the request
    last_sent: float | None  # s from the opening to the wave's last first "update sent"
    last_got: float | None  # the same, as the chargers received the requests
    sent: int  # chargers sent the update
    got: int  # chargers that received it
    resends: int  # "update sent" events beyond each charger's first
    done_at_close: int  # updated or failed when the wave passed (or halted)

    @property
    def duration(self) -> float | None:
        if self.opened is None or self.closed is None:
            return None
        return self.closed - self.opened


def _after(opened: float | None, times: list[float]) -> float | None:
    return max(times) - opened if times and opened is not None else None


Closings = dict[int, tuple[float, str]]  # wave → (when, passed / completed / halted)


def openings(c: Campaign, events: list[Event]) -> tuple[dict[int, float], Closings]:
    """When each wave (0-based) opened, and when and how it ended."""
    last = len(c.rules.waves) - 1
    opened: dict[int, float] = {}
    closed: Closings = {}
    for at, _, e in events:
        if e.startswith("started: wave 1 open"):
            opened[0] = at
        elif m := re.match(r"wave (\d+) passed: wave (\d+) open", e):
            closed[int(m[1]) - 1] = (at, "passed")
            opened[int(m[2]) - 1] = at
        elif e.startswith("completed"):
            closed[last] = (at, "completed")
        elif m := re.match(r"halted: wave (\d+)", e):
            closed[int(m[1]) - 1] = (at, "halted")
        elif e.startswith("cancelled"):
            for wave in opened.keys() - closed.keys():
                closed[wave] = (at, "cancelled")
    return opened, closed


def waves(c: Campaign, updates: list[Update], events: list[Event],
          got: dict[str, float]) -> list[Wave]:  # fmt: skip
    """Each wave's dispatch and duration. The updates a tick claims share one time (the
    claim's), so the wave's earliest "update sent" time is its first dispatch."""
    opened, closed = openings(c, events)
    sent = sends(events)
    attempts = [who for _, who, e in events if who and e.startswith("update sent")]
    out = []
    for n in range(len(c.rules.waves)):
        mine = [u for u in updates if u.wave == n]
        ids = {u.charger_id for u in mine}
        s = {who: at for who, at in sent.items() if who in ids}
        g = {who: at for who, at in got.items() if who in ids}
        o = opened.get(n)
        first = min(s.values(), default=None)
        at_once = [who for who, at in s.items() if at == first]
        end, how = closed.get(n, (None, "open"))
        done = sum(1 for u in mine if u.state.final and u.state is not UpdateState.SKIPPED
                   and end is not None and u.updated_at.timestamp() <= end)  # fmt: skip
        out.append(Wave(
            n + 1, len(mine), len({u.site or u.charger_id for u in mine}), o, end, how,
            len(at_once), _after(o, [first] if first is not None else []),
            _after(o, [g[who] for who in at_once if who in g]),
            _after(o, list(s.values())), _after(o, list(g.values())), len(s), len(g),
            sum(who in ids for who in attempts) - len(s), done,
        ))  # fmt: skip
    return out


def ticks(events: list[Event]) -> list[float]:
    """Intervals between the runner's ticks that sent updates (their claims' times)."""
    times = sorted({at for at, who, e in events if who and e.startswith("update sent")})
    return [b - a for a, b in itertools.pairwise(times) if b - a < 5]


def stages(events: list[Event]) -> dict[str, list[float]]:
    """Per event of a charger's update (its firmware statuses, the boot, ``updated``): the
    seconds from the charger's first claim to that event's first time."""
    sent = sends(events)
    seen: dict[tuple[str, str], float] = {}
    for at, who, e in events:
        if who is None or who not in sent or e.startswith("update sent"):
            continue
        stage = "booted" if e.startswith("booted with") else e
        seen.setdefault((who, stage), at - sent[who])
    out: dict[str, list[float]] = {}
    for (_, stage), took in seen.items():
        out.setdefault(stage, []).append(took)
    return dict(sorted(out.items(), key=lambda kv: pct(kv[1], 0.5)))


def received(events: list[Event], got: dict[str, float]) -> list[float]:
    """Per charger: its first claim to the request's arrival."""
    sent = sends(events)
    return [got[who] - at for who, at in sent.items() if who in got]


def course(
    got: dict[str, float], statuses: list[campaign_load.Status], events: list[Event]
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per firmware status, on the charger's side: seconds from the request's arrival to the
    charger sending it (its first after the arrival); and from the charger sending it to the
    CSMS writing it into the campaign's history (the status's way through the CSMS)."""
    sent_at: dict[tuple[str, str], float] = {}
    for who, status, at in sorted(statuses, key=lambda x: x[2]):
        if who in got and at >= got[who]:
            sent_at.setdefault((who, status), at)
    logged: dict[tuple[str, str], float] = {}
    for when, charger, e in events:
        if charger is not None:
            logged.setdefault((charger, e), when)
    on_charger: dict[str, list[float]] = {}
    behind: dict[str, list[float]] = {}
    for (who, status), at in sent_at.items():
        on_charger.setdefault(status, []).append(at - got[who])
        if (who, status) in logged:
            behind.setdefault(status, []).append(logged[who, status] - at)
    order = sorted(on_charger, key=lambda k: pct(on_charger[k], 0.5))
    return {k: on_charger[k] for k in order}, {k: behind[k] for k in order if k in behind}


@dataclass
class Halt:
    wave: int
    reason: str
    halted_at: float
    crossed_by: Update | None  # the finish that crossed the gate
    crossed_at: float | None
    sent_after: int  # "update sent" events after the halt
    got_after: int  # requests received after the halt by chargers not sent one before it
    in_flight_at_halt: int


def crossing(updates: list[Update], c: Campaign, halted_at: float) -> Update | None:
    """The finish (updated or failed) that made the wave cross the error gate, replaying the
    wave's finishes before the halt in order."""
    done = sorted((u for u in updates if u.state in (UpdateState.UPDATED, UpdateState.FAILED)
                   and u.updated_at.timestamp() <= halted_at),
                  key=lambda u: u.updated_at)  # fmt: skip
    wanted = c.rules.min_finished_in(len(updates))
    failed = 0
    for k, u in enumerate(done, start=1):
        failed += u.state is UpdateState.FAILED
        if u.state is UpdateState.FAILED and u.reason in HALT_AT_ONCE:
            return u
        if k >= wanted and failed / k > c.rules.error_threshold:
            return u
    return None


def halt(c: Campaign, updates: list[Update], events: list[Event],
         got: dict[str, float]) -> Halt | None:  # fmt: skip
    halted = [(at, e) for at, _, e in events if e.startswith("halted: ")]
    if not halted:
        return None
    at, reason = halted[0]
    m = re.match(r"halted: wave (\d+)", reason)
    wave = int(m[1]) if m else 0
    crossed = crossing([u for u in updates if u.wave == wave - 1], c, at)
    sent = sends(events)
    sent_after = sum(1 for t, who, e in events if who and e.startswith("update sent") and t > at)
    before = {who for who, t in sent.items() if t <= at}
    finished_before = sum(
        1 for u in updates if u.state.final and u.updated_at.timestamp() <= at and u.attempts
    )
    return Halt(
        wave, reason.removeprefix("halted: "), at, crossed,
        crossed.updated_at.timestamp() if crossed else None, sent_after,
        sum(1 for who, t in got.items() if t > at and who not in before),
        len(before) - finished_before,
    )  # fmt: skip


def tally(updates: list[Update]) -> str:
    counted: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for u in updates:
        counted[str(u.state)] = counted.get(str(u.state), 0) + 1
        if u.state is UpdateState.FAILED:
            reasons[u.reason or "?"] = reasons.get(u.reason or "?", 0) + 1
    out = ", ".join(f"{k} {v:,}" for k, v in sorted(counted.items()))
    return out + (f" (failures: {reasons})" if reasons else "")


# --- the report ------------------------------------------------------------------------------


def s(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_waves(title: str, ws: list[Wave]) -> None:
    print(f"\n{title}")
    header = ("wave", "chargers", "sites", "first dispatch", "at, s", "all received, s",
              "last sent, s", "(received)", "sent/received", "resends", "finished at its end",
              "open for, s", "end")  # fmt: skip
    rows = [header] + [(
        str(w.number), f"{w.size:,}", f"{w.sites:,}", f"{w.first_tick:,}",
        s(w.first_tick_at, 2), s(w.first_tick_got, 2), s(w.last_sent, 1), s(w.last_got, 1),
        f"{w.sent:,}/{w.got:,}", str(w.resends), f"{w.done_at_close:,}", s(w.duration, 1), w.ended,
    ) for w in ws]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        print("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


def print_stages(title: str, stages: dict[str, list[float]]) -> None:
    """p50 / p99 seconds of each stage."""
    parts = [f"{k} {pct(v, 0.5):.2f} / {pct(v, 0.99):.2f}" for k, v in stages.items()]
    print(f"  {title}, p50 / p99 s: " + ", ".join(parts))


def print_ticks(intervals: list[float]) -> None:
    print(f"  runner ticks that sent: {len(intervals) + 1}, every p50 {pct(intervals, 0.5):.2f} "
          f"/ max {max(intervals, default=0):.2f} s (1 s sleep + the tick's own time)")  # fmt: skip


def print_phases(phases: list[Phase]) -> None:
    print("\nGET /api/v1/stations/nearby in a loop (one at a time), and the processes")
    header = ("phase", "s", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors",
              "stations/answer", "serve CPU", "sim CPU", "machine CPU",
              "serve RSS MB start/peak/end")  # fmt: skip
    rows = [header] + [(
        p.name, f"{p.seconds:.0f}", f"{len(p.took):,}", f"{len(p.took) / p.seconds:.0f}",
        f"{pct(p.took, 0.5) * 1e3:.1f}", f"{pct(p.took, 0.99) * 1e3:.1f}",
        f"{max(p.took, default=0) * 1e3:.0f}", str(p.errors),
        f"{p.stations / len(p.took):.1f}" if p.took else "-",
        f"{p.serve_cpu:.2f}", f"{p.sim_cpu:.2f}", f"{p.machine_cpu:.2f}",
        f"{p.rss_start:.0f}/{p.rss_peak:.0f}/{p.rss_end:.0f}",
    ) for p in phases]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        cells = enumerate(zip(r, widths, strict=True))
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in cells))


def print_halt(h: Halt | None, c: Campaign, updates: list[Update]) -> None:
    print(f"\nCampaign 2 ({BAD}, {FAULTY} fails): {c.state}; {tally(updates)}")
    if h is None:
        print("  NOT halted")
        return
    print(f"  halted: {h.reason}")
    if h.crossed_by is not None and h.crossed_at is not None:
        u = h.crossed_by
        print(f"  crossed by {u.charger_id} ({u.state}: {u.reason}); its event to the halt: "
              f"{h.halted_at - h.crossed_at:.3f} s (target <= 1 s)")  # fmt: skip
    else:
        print("  the finish that crossed the gate was not found")
    print(f"  in flight at the halt (still followed): {h.in_flight_at_halt}")
    print(
        f"  'update sent' events after the halt: {h.sent_after} (must be 0); requests the "
        f"chargers received after it without a send before it: {h.got_after}"
    )


# --- the run ---------------------------------------------------------------------------------


def campaign_body(firmware: str, args: argparse.Namespace, sizes: list[int],
                  **more: Any) -> dict[str, Any]:  # fmt: skip
    return {"firmware": firmware, "waves": sizes, "soak_s": args.soak_s, "timeout_s": 600,
            "max_per_site": args.max_per_site, "retries": 2, **more}  # fmt: skip


def canary_first(chargers: list[OwnCharger], canary: int, updated: set[str]) -> list[str]:
    """Charger ids with ``canary`` chargers not of :data:`FAULTY` first, then the rest by id:
    the canary passes and the second wave meets the fault. Chargers the first campaign updated
    come before those it did not reach (a campaign cancelled at the bench's timeout leaves some
    still updating)."""
    ordered = sorted(chargers, key=lambda c: (c.id not in updated, c.id))
    first = [c.id for c in ordered if c.model != FAULTY][:canary]
    taken = set(first)
    return first + [c.id for c in ordered if c.id not in taken]


def run(args: argparse.Namespace, tmp: Path, url: str) -> None:
    chargers = fleet(args.chargers)
    points = [(c.lon, c.lat) for c in chargers[::SITE_CHARGERS]]
    n = len(chargers)
    sizes = [max(1, n // 100), max(1, n // 10)]
    sizes.append(max(1, n - sum(sizes)))
    with open_store(url) as store:
        t = time.monotonic()
        register(store, chargers)
        print(f"registered {n:,} chargers ({n // SITE_CHARGERS:,} sites) in "
              f"{time.monotonic() - t:.1f} s")  # fmt: skip
        from chargemesh.services.accounts.ops_keys import OpsKeys

        _, key = OpsKeys(store).create("bench campaign")
        platform = start_platform(tmp, url, args.boots_per_s)
        sim: Simulator | None = None
        try:
            platform.wait_ready()
            spread = n / (0.8 * args.boots_per_s)
            faults: dict[tuple[str, str], FirmwareFault] = {(FAULTY, BAD): args.fault}
            sim = Simulator(campaign_load.SimSide(chargers, platform.csms, args.install_s,
                                                  args.reboot_s, faults, spread))  # fmt: skip
            online, took = wait_online(sim, n, spread + 180)
            print(f"{online:,} of {n:,} chargers booted in {took:.0f} s (first attempts spread "
                  f"over {spread:.0f} s)", flush=True)  # fmt: skip
            measure(args, store, platform, sim, chargers, points, sizes, key)
        finally:
            if sim is not None:
                sim.close()
            platform.stop()
            if args.keep_log:
                shutil.copyfile(platform.log, args.keep_log)


def measure(args: argparse.Namespace, store: Store, platform: Platform, sim: Simulator,
            chargers: list[OwnCharger], points: list[tuple[float, float]], sizes: list[int],
            key: str) -> None:  # fmt: skip
    """The campaigns, each reported as soon as it is done (a long run keeps what it found)."""
    http = httpx.Client(base_url=platform.api, headers={"Authorization": f"Bearer {key}"},
                        timeout=60)  # fmt: skip
    good, bad = upload(http, GOOD), upload(http, BAD)
    phases: list[Phase] = []
    with watched("before the campaigns", platform, sim, points) as p:
        time.sleep(args.baseline_s)
    phases.append(p)

    print(f"campaign 1: {GOOD} to {len(chargers):,} chargers, waves {sizes}", flush=True)
    boots: int = sim.ask("boots")
    with watched("campaign 1", platform, sim, points) as p:
        body = campaign_body(good["id"], args, sizes, target={"kind": "supercharger"})
        c1_id, asked1 = start_campaign(http, body)
        c1 = wait_done(store, http, c1_id, args.timeout_s)
    phases.append(p)
    print(f"  … {c1.state} after {time.time() - asked1:.0f} s", flush=True)
    seen = Seen(sim.ask("versions"), sim.ask("boots") - boots, sim.ask("lost"),
                sim.ask("receipts"), sim.ask("statuses"))  # fmt: skip
    print_header(args, good)
    print_first(store, c1_id, asked1, good, seen)

    updated = {u.charger_id for u in store.campaign_updates(c1_id)
               if u.state is UpdateState.UPDATED}  # fmt: skip
    min_finished = max(3, sizes[1] // 50)
    print(f"\ncampaign 2: {BAD} ({FAULTY}: {args.fault}), canary without {FAULTY}, "
          f"min_finished {min_finished}", flush=True)  # fmt: skip
    with watched("campaign 2 (to the halt + 15 s)", platform, sim, points) as p:
        order = canary_first(chargers, sizes[0], updated)
        body = campaign_body(bad["id"], args, sizes, target={"chargers": order},
                             min_finished=min_finished)  # fmt: skip
        c2_id, _ = start_campaign(http, body)
        wait_done(store, http, c2_id, args.timeout_s)
        time.sleep(HALT_WATCH_S)
    phases.append(p)
    http.close()
    print_second(store, c2_id, bad, sim.ask("receipts"))
    print_phases(phases)
    print("\n- 'first dispatch': the wave's chargers its first dispatching tick claimed (one "
          "per site with max_per_site 1, none on a site whose earlier-wave charger is still "
          "pending or in flight), 'at': that claim after the opening, 'all received': until "
          "every one of those had the request; "
          "'last sent': the wave's last charger, paced by the per-site rule; 'finished at its "
          "end': updated or failed when the wave passed")  # fmt: skip


@dataclass
class Seen:
    """What the simulator saw during campaign 1: the firmware its chargers run after it, the
    boots the CSMS accepted, the connections lost (heartbeats that found them closed, by
    reason), every update request's arrival and every firmware status sent."""

    versions: dict[str, int]
    boots: int
    lost: dict[str, int]
    receipts: list[campaign_load.Receipt]
    statuses: list[campaign_load.Status]


def print_header(args: argparse.Namespace, image: dict[str, Any]) -> None:
    print(f"\nbench_campaign: {args.chargers:,} superchargers in sites of {SITE_CHARGERS} "
          f"({', '.join(MODELS)}), {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; soak {args.soak_s:g} s, install {args.install_s:g} s, "
          f"reboot {args.reboot_s:g} s, max_per_site {args.max_per_site}, "
          f"[csms] boots_per_s {args.boots_per_s:g}; image {image['size'] // 1024} KiB, "
          "signed")  # fmt: skip


def print_first(store: Store, c1_id: str, asked: float, good: dict[str, Any],
                seen: Seen) -> None:  # fmt: skip
    c1 = store.campaign(c1_id)
    assert c1 is not None
    u1, e1 = store.campaign_updates(c1_id), history(store, c1_id)
    got1 = first_receipts(seen.receipts, good["sha256"])
    started = next((at for at, _, e in e1 if e.startswith("started")), None)
    ended = next(
        (at for at, _, e in e1 if e.startswith(("completed", "halted", "cancelled"))), None
    )
    print(f"\nCampaign 1 ({GOOD}): {c1.state}; {tally(u1)}; asked -> started "
          f"{s((started or asked) - asked, 2)} s, started -> {c1.state} "
          f"{s(ended - started if ended and started else None, 1)} s")  # fmt: skip
    installed = sum(1 for u in u1 if u.booted_at is not None)
    print(f"  simulator: firmware {seen.versions}; boots accepted {seen.boots:,} for "
          f"{installed:,} updates booted; connections lost {seen.lost}")  # fmt: skip
    on_charger, behind = course(got1, seen.statuses, e1)
    print_stages("per charger from its claim (the CSMS's history)",
                 {"received": received(e1, got1), **stages(e1)})  # fmt: skip
    print_stages("per charger from the request's arrival (the charger's own clock)", on_charger)
    print_stages("the CSMS's history behind the charger's status", behind)
    print_ticks(ticks(e1))
    print_waves("  per wave, from its opening event ('received': the update request arriving "
                "at the simulated charger)", waves(c1, u1, e1, got1))  # fmt: skip


def print_second(store: Store, c2_id: str, bad: dict[str, Any],
                 receipts: list[campaign_load.Receipt]) -> None:  # fmt: skip
    c2 = store.campaign(c2_id)
    assert c2 is not None
    u2, e2 = store.campaign_updates(c2_id), history(store, c2_id)
    got2 = first_receipts(receipts, bad["sha256"])
    print_halt(halt(c2, u2, e2, got2), c2, u2)
    print_waves("  per wave", waves(c2, u2, e2, got2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chargers", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 chargers")
    parser.add_argument("--soak-s", type=float, default=5.0)
    parser.add_argument("--install-s", type=float, default=1.0)
    parser.add_argument("--reboot-s", type=float, default=1.0)
    parser.add_argument("--max-per-site", type=int, default=1)
    parser.add_argument("--boots-per-s", type=float, default=200.0,
                        help="[csms] boots_per_s (the platform's default: 200)")  # fmt: skip
    parser.add_argument(
        "--fault",
        default="installation_failed",
        help="what campaign 2's version does on CMX-SC600-X2 (a FirmwareFault)",
    )
    parser.add_argument("--baseline-s", type=float, default=20.0)
    parser.add_argument("--keep-log", type=Path, help="copy the serve process's log here")
    parser.add_argument("--timeout-s", type=float, default=900.0,
                        help="per campaign: then the bench cancels it and reports what "
                        "it did")  # fmt: skip
    parser.add_argument("--postgres", default=os.environ.get("CHARGEMESH_TEST_POSTGRES_URL",
                                                             POSTGRES_URL))  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.chargers, args.baseline_s = min(args.chargers, 1000), 10.0
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    began = time.monotonic()
    print(f"bench_campaign: {args.chargers:,} chargers, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} before the run", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as name:
        tmp = Path(name)
        with store_url("postgres", tmp, args.postgres, "campaign") as url:
            run(args, tmp, url)
    print(f"- run took {time.monotonic() - began:.0f} s; load average now "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
