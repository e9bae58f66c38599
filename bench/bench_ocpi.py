"""OCPI 2.2.1 eMSP throughput: a full Locations pull from a simulated CPO, then EVSE status
PATCH pushes from a load generator in a separate process.

1. Pull: the simulator's CPO (``OcpiCpoServer``, a synthetic network of ``--locations`` sites
   with 2-8 EVSEs each, spread over China) on one loopback uvicorn server, our platform on
   another, both in this process (one GIL). We register with the CPO (the real credentials
   handshake), then time one full ``sync_ocpi_operator``: pages of ``--max-limit`` locations
   over HTTP, parsing, mapping (county lookup included), the store, and the tariffs.
2. Pushes: ``--pushes`` EVSE status PATCHes (``{status, last_updated}``, ``last_updated``
   strictly increasing per EVSE) against the platform, from a child process running an asyncio
   httpx client with ``--concurrency`` requests in flight over keep-alive connections; then the
   final statuses of a sample of the pushed EVSEs are checked in the store (both the OCPI object
   we keep and the registry's connectors).

Both servers share this process, so the CPO's ~100k models sit in the platform's heap; they are
frozen out of the garbage collector (``gc.freeze``) after they are built, as they would be in
another process in production. ``--no-gc-freeze`` leaves them in (full collections then walk
them: slower pull, p99 push latency over a second). CPU seconds and time in the GC are printed
per phase.

    python bench/bench_ocpi.py [--locations 20000] [--max-limit 1000] [--pushes 20000]
        [--concurrency 64] [--store sqlite|postgres|both] [--no-gc-freeze]

Run by hand; it prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import re
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchlib import free_port, store_url
from chargemesh.domain import Capability, Operator, OperatorProtocol
from chargemesh.protocols.ocpi.mapping import connector_status as from_ocpi

if TYPE_CHECKING:
    from chargemesh.sim.peers.ocpi.data import CpoNetwork

CC, PID = "CN", "LTC"
PARTY = f"{CC}-{PID}"
EMSP = ("CN", "CMS")
TOKEN_A = "bench-cpo-registration-token-a"  # noqa: S105 - a test fixture, not a secret
SEED = 20260101
T0 = datetime(2026, 1, 1, tzinfo=UTC)  # location n was last updated at T0 + n s
OPERATOR = Operator(
    PARTY,
    "Lanting Charging",
    OperatorProtocol.OCPI,
    frozenset({Capability.REALTIME, Capability.SCAN}),
)
DEFAULT_PG = os.environ.get("CHARGEMESH_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")

# (city, district, WGS-84 latitude, longitude, postal code): sites are scattered around these.
CITIES = (
    ("北京市", "朝阳区", 39.9219, 116.4436, "100020"),
    ("上海市", "浦东新区", 31.2213, 121.5447, "200120"),
    ("广州市", "天河区", 23.1247, 113.3612, "510620"),
    ("深圳市", "南山区", 22.5333, 113.9304, "518052"),
    ("杭州市", "西湖区", 30.2592, 120.1300, "310013"),
    ("成都市", "武侯区", 30.6425, 104.0430, "610041"),
    ("重庆市", "渝北区", 29.7183, 106.6313, "401120"),
    ("武汉市", "洪山区", 30.5050, 114.3431, "430070"),
    ("西安市", "雁塔区", 34.2139, 108.9475, "710061"),
    ("南京市", "玄武区", 32.0486, 118.7975, "210018"),
    ("天津市", "河西区", 39.1098, 117.2234, "300202"),
    ("苏州市", "姑苏区", 31.3118, 120.6178, "215031"),
    ("郑州市", "金水区", 34.8003, 113.6605, "450003"),
    ("长沙市", "岳麓区", 28.2354, 112.9313, "410006"),
    ("沈阳市", "和平区", 41.7888, 123.4016, "110001"),
    ("青岛市", "市南区", 36.0672, 120.3826, "266001"),
    ("合肥市", "蜀山区", 31.8515, 117.2605, "230031"),
    ("昆明市", "五华区", 25.0433, 102.7046, "650031"),
    ("哈尔滨市", "南岗区", 45.7596, 126.6686, "150001"),
    ("乌鲁木齐市", "天山区", 43.7930, 87.6311, "830002"),
    ("兰州市", "城关区", 36.0573, 103.8413, "730030"),
    ("南宁市", "青秀区", 22.8170, 108.3665, "530022"),
    ("贵阳市", "云岩区", 26.5830, 106.7135, "550001"),
    ("拉萨市", "城关区", 29.6525, 91.1721, "850000"),
)
EVSE_STATUSES = ("AVAILABLE",) * 14 + ("CHARGING",) * 4 + ("OUTOFORDER", "INOPERATIVE")
# What round r of the pushes sends to every pushed EVSE: each round a change.
PUSH_CYCLE = ("CHARGING", "AVAILABLE", "OUTOFORDER", "RESERVED", "BLOCKED", "INOPERATIVE")


def cpu_s() -> float:
    """CPU seconds of this process (all its threads), children not included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class GcClock:
    """Seconds this process spent in the cyclic garbage collector (all threads)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0  # generation-2 collections
        self._started = 0.0
        gc.callbacks.append(self._event)

    def _event(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.full += info["generation"] == 2


GC = GcClock()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --------------------------------------------------------------------------- the CPO's network


def location_id(n: int) -> str:
    return f"LOC{n:06d}"


def location_json(n: int) -> dict[str, Any]:
    """Location ``n`` (1-based), the same for any ``--locations``: 2-8 EVSEs, each a GB/T DC
    charger with one or two cables (60-240 kW) or a 7 kW GB/T AC socket."""
    rng = random.Random(SEED * 1_000_003 + n)
    city, district, lat, lng, postal = CITIES[rng.randrange(len(CITIES))]
    lat += rng.uniform(-0.15, 0.15)
    lng += rng.uniform(-0.15, 0.15)
    stamp = (T0 + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lid = location_id(n)
    evses = []
    for e in range(1, rng.randint(2, 8) + 1):
        if rng.random() < 0.6:
            power = rng.choice((60_000, 120_000, 160_000, 240_000))
            connectors = [
                {
                    "id": str(gun),
                    "standard": "GBT_DC",
                    "format": "CABLE",
                    "power_type": "DC",
                    "max_voltage": 750,
                    "max_amperage": power // 750 + 1,
                    "max_electric_power": power,
                    "tariff_ids": ["TOU-DC"],
                    "last_updated": stamp,
                }
                for gun in range(1, rng.randint(1, 2) + 1)
            ]
        else:
            connectors = [
                {
                    "id": "1",
                    "standard": "GBT_AC",
                    "format": "SOCKET",
                    "power_type": "AC_1_PHASE",
                    "max_voltage": 220,
                    "max_amperage": 32,
                    "max_electric_power": 7000,
                    "tariff_ids": ["TOU-AC"],
                    "last_updated": stamp,
                }
            ]
        evses.append(
            {
                "uid": f"{lid}-{e}",
                "evse_id": f"CN*LTC*E{n:06d}{e}",
                "status": rng.choice(EVSE_STATUSES),
                "capabilities": ["REMOTE_START_STOP_CAPABLE", "RFID_READER"],
                "connectors": connectors,
                "physical_reference": f"{e:02d}",
                "last_updated": stamp,
            }
        )
    return {
        "country_code": CC,
        "party_id": PID,
        "id": lid,
        "publish": True,
        "name": f"兰亭充电 {city}{district}{n}号站",
        "address": f"{district}示范路{n % 997 + 1}号",
        "city": city,
        "postal_code": postal,
        "country": "CHN",
        "coordinates": {"latitude": f"{lat:.6f}", "longitude": f"{lng:.6f}"},
        "parking_type": rng.choice(("PARKING_LOT", "UNDERGROUND_GARAGE", "ON_STREET")),
        "evses": evses,
        "operator": {"name": "兰亭充电 Lanting Charging"},
        "opening_times": {"twentyfourseven": True},
        "time_zone": "Asia/Shanghai",
        "last_updated": stamp,
    }


def tariff_json(tariff_id: str, price: float) -> dict[str, Any]:
    return {
        "country_code": CC,
        "party_id": PID,
        "id": tariff_id,
        "currency": "CNY",
        "elements": [{"price_components": [{"type": "ENERGY", "price": price, "step_size": 1}]}],
        "last_updated": T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# --------------------------------------------------------------------------- the push plan


@dataclass(frozen=True, slots=True)
class Push:
    location: str
    evse: str
    status: str
    last_updated: str


def push_plan(evses: list[tuple[str, str]], count: int, per_evse: int) -> list[Push]:
    """``count`` pushes over ``ceil(count / per_evse)`` EVSEs picked at random (seeded), round
    robin: push k goes to target ``k % T`` with the status of round ``k // T``, at
    ``base + k`` ms. Pushes to one EVSE are ``T`` requests apart, so with fewer than ``T`` in
    flight they arrive in order; ``last_updated`` grows with k, so it is strictly increasing per
    EVSE, and later than anything the pull brought (``base`` is a minute before now, minus the
    run's span)."""
    from chargemesh.protocols.ocpi.transport import format_datetime

    if count <= 0:
        return []
    targets = random.Random(SEED).sample(evses, min(len(evses), math.ceil(count / per_evse)))
    base = datetime.now(UTC) - timedelta(seconds=60 + count / 1000)
    plan = []
    for k in range(count):
        location, evse = targets[k % len(targets)]
        status = PUSH_CYCLE[(k // len(targets)) % len(PUSH_CYCLE)]
        plan.append(Push(location, evse, status, format_datetime(base + timedelta(milliseconds=k))))
    return plan


# --------------------------------------------------------------------------- the load generator


def push_worker(job_path: str, out_path: str) -> None:
    """The child process: fire the job's PATCHes, write what happened as JSON."""
    # httpcore tries ``import sniffio`` on every request; sniffio is not installed here (httpx
    # 0.28 no longer needs it) and a failed import is not cached, so each request walks
    # sys.path (a quarter of a millisecond of CPU here). A None entry makes it fail at once.
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]
    import httpx
    import orjson

    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency
        pass

    job = json.loads(Path(job_path).read_text())
    requests: list[list[str]] = job["requests"]  # [path, body]
    concurrency = int(job["concurrency"])

    async def fire() -> dict[str, Any]:
        headers = {"Authorization": job["authorization"], "Content-Type": "application/json"}
        latencies = [0.0] * len(requests)
        http_status: Counter[int] = Counter()
        ocpi_status: Counter[int] = Counter()
        samples: list[str] = []
        ignored = 0
        todo = iter(enumerate(requests))

        # One client with one keep-alive connection per slot: httpcore's pool scans all its
        # connections and waiting requests on every event (O(n^2) at 64 in flight), which made
        # a single shared pool cost ~5 ms of CPU per request here.
        tls = ssl.create_default_context()  # one for all (plain HTTP here; each costs ~40 ms)
        clients = [
            httpx.AsyncClient(
                base_url=job["base"], headers=headers, timeout=120, verify=tls,
                trust_env=False, limits=httpx.Limits(max_connections=1),
            )
            for _ in range(concurrency)
        ]  # fmt: skip
        try:

            async def worker(http: httpx.AsyncClient) -> None:
                nonlocal ignored
                for k, (path, body) in todo:  # one shared iterator: each request once
                    started = time.perf_counter()
                    try:
                        answer = await http.patch(path, content=body)
                    except httpx.HTTPError as exc:
                        latencies[k] = time.perf_counter() - started
                        http_status[0] += 1
                        if len(samples) < 5:
                            samples.append(f"{path}: {type(exc).__name__}: {exc}")
                        continue
                    latencies[k] = time.perf_counter() - started
                    http_status[answer.status_code] += 1
                    try:
                        envelope = orjson.loads(answer.content)
                        code = int(envelope.get("status_code", 0))
                        ignored += "ignored" in (envelope.get("status_message") or "")
                    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                        code = 0
                    ocpi_status[code] += 1
                    if (answer.status_code != 200 or code != 1000) and len(samples) < 5:
                        samples.append(f"{path}: HTTP {answer.status_code} {answer.text[:300]}")

            cpu0 = time.process_time()
            started = time.perf_counter()
            await asyncio.gather(*(worker(http) for http in clients))
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu0
        finally:
            for http in clients:
                await http.aclose()
        return {
            "elapsed_s": elapsed,
            "cpu_s": cpu,
            "latencies": latencies,
            "http_status": http_status,
            "ocpi_status": ocpi_status,
            "ignored": ignored,
            "samples": samples,
        }

    Path(out_path).write_text(json.dumps(asyncio.run(fire())))


def run_generator(
    base: str, token: str, plan: list[Push], concurrency: int, tmp: Path
) -> dict[str, Any]:
    from chargemesh.protocols.ocpi.transport import encode_token

    job = {
        "base": base,
        "authorization": encode_token(token),
        "concurrency": concurrency,
        "requests": [
            [
                f"/ocpi/2.2.1/locations/{CC}/{PID}/{p.location}/{p.evse}",
                json.dumps({"status": p.status, "last_updated": p.last_updated}),
            ]
            for p in plan
        ],
    }
    job_path, out_path = tmp / "push-job.json", tmp / "push-result.json"
    job_path.write_text(json.dumps(job))
    subprocess.run(
        [sys.executable, __file__, "--push-worker", str(job_path), str(out_path)], check=True
    )
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result


WRK_LUA = r"""
local reqs, n, i = {}, 0, 0
local headers = {}
init = function(args)
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    n = n + 1
    reqs[n] = {line:sub(1, tab - 1), line:sub(tab + 1)}
  end
  headers["Authorization"] = args[2]
  headers["Content-Type"] = "application/json"
end
request = function()
  i = i + 1
  if i > n then i = 1 end  -- the plan is sized so that this does not happen
  return wrk.format("PATCH", reqs[i][1], headers, reqs[i][2])
end
"""


def run_wrk(
    base: str, token: str, plan: list[Push], connections: int, seconds: int, tmp: Path
) -> dict[str, Any]:
    """wrk (Debian ``wrk``, one thread: one core for it, one for the platform) replaying the
    plan's PATCHes in order for ``seconds``; requests/s, latency and non-2xx from its report."""
    from chargemesh.protocols.ocpi.transport import encode_token

    lines = tmp / "pushes.tsv"
    lines.write_text(
        "".join(
            f"/ocpi/2.2.1/locations/{CC}/{PID}/{p.location}/{p.evse}\t"
            + json.dumps({"status": p.status, "last_updated": p.last_updated})
            + "\n"
            for p in plan
        )
    )
    script = tmp / "pushes.lua"
    script.write_text(WRK_LUA)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
               str(script), base, "--", str(lines), encode_token(token)]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout

    def figure(pattern: str) -> str:
        found = re.search(pattern, out)
        return found.group(1) if found else "?"

    sent = int(figure(r"(\d+) requests in"))
    return {
        "sent": sent,
        "rate": float(figure(r"Requests/sec:\s+([\d.]+)")),
        "p50": figure(r"50%\s+(\S+)"),
        "p99": figure(r"99%\s+(\S+)"),
        "non_2xx": int(figure(r"Non-2xx or 3xx responses: (\d+)")) if "Non-2xx" in out else 0,
        "errors": figure(r"(Socket errors:.*)") if "Socket errors" in out else "none",
    }


# --------------------------------------------------------------------------- the stores


def verify(url: str, plan: list[Push], sample: int) -> tuple[int, list[str]]:
    """Open the store afresh and compare the last status sent to each of ``sample`` pushed EVSEs
    with what is held: the EVSE in the OCPI object and every connector in the registry."""
    from chargemesh.protocols.ocpi import mapping
    from chargemesh.protocols.ocpi.transport import parse_datetime
    from chargemesh.store import open_store

    last: dict[tuple[str, str], Push] = {}
    for p in plan:
        last[(p.location, p.evse)] = p
    keys = sorted(last)
    picked = random.Random(SEED + 1).sample(keys, min(sample, len(keys)))
    wrong: list[str] = []
    with open_store(url) as store:
        for lid, uid in picked:
            sent = last[(lid, uid)]
            held = store.get_ocpi_object("locations", CC, PID, lid)
            evses = (held.payload.get("evses") or []) if held else []
            raw = next((e for e in evses if e["uid"] == uid), None)
            got = (raw["status"], parse_datetime(raw["last_updated"])) if raw else None
            if got != (sent.status, parse_datetime(sent.last_updated)):
                wrong.append(
                    f"{uid}: OCPI object holds {got}, last sent {sent.status} {sent.last_updated}"
                )
                continue
            station = store.get_station(mapping.location_key(PARTY, lid))
            wanted = mapping.evse_key(PARTY, lid, uid)
            evse = next((e for e in station.evses if e.id == wanted), None) if station else None
            statuses = {c.status for c in evse.connectors} if evse else set()
            if statuses != {from_ocpi(sent.status)}:
                wrong.append(f"{uid}: registry holds {statuses}, last sent {sent.status}")
    return len(picked), wrong


# --------------------------------------------------------------------------- one run


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def run(
    kind: str, network: CpoNetwork, evses: list[tuple[str, str]], args: argparse.Namespace
) -> None:
    from chargemesh.bootstrap import OcpiSettings, assemble
    from chargemesh.protocols.address_guard import AddressPolicy
    from chargemesh.protocols.http_server import LoopbackServer
    from chargemesh.services.feeds.ocpi_sync import sync_ocpi_operator
    from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
    from chargemesh.store import open_store

    print(f"\n== store: {kind}")
    with (
        tempfile.TemporaryDirectory() as tmp_dir,
        store_url(kind, Path(tmp_dir), args.postgres_url, "ocpi") as url,
    ):
        tmp = Path(tmp_dir)
        store = open_store(url)
        port = free_port()
        settings = OcpiSettings(
            public_url=f"http://127.0.0.1:{port}",
            country_code=EMSP[0],
            party_id=EMSP[1],
            operators={PARTY: OPERATOR},
            fetch_policy=AddressPolicy.of(allow_loopback=True),  # the CPO listens on loopback
        )
        platform = assemble(store, ocpi=settings)
        cpo = OcpiCpoServer(network, token_a=TOKEN_A, max_limit=args.max_limit)
        try:
            with (
                LoopbackServer(platform.app(), port=port) as emsp,
                LoopbackServer(cpo.app) as cpo_server,
            ):
                try:
                    cpo.set_base_url(cpo_server.url)
                    started = time.perf_counter()
                    emsp.call(
                        platform.ocpi_connections.register_with(
                            PARTY, f"{cpo_server.url}/ocpi/versions", TOKEN_A
                        )
                    )
                    register_s = time.perf_counter() - started

                    # 1. the pull
                    started, cpu0, gc0 = time.perf_counter(), cpu_s(), (GC.seconds, GC.full)
                    report = emsp.call(
                        sync_ocpi_operator(
                            platform.ocpi_connections,
                            platform.ocpi_locations,
                            platform.ocpi_objects,
                            PARTY,
                            limit=args.max_limit,
                        ),
                        timeout_s=3600,
                    )
                    pull_s, pull_cpu = time.perf_counter() - started, cpu_s() - cpu0
                    pull_gc = (GC.seconds - gc0[0], GC.full - gc0[1])
                    counts = store.counts()
                    print(
                        f"registration handshake: {register_s * 1000:.0f} ms\n"
                        f"locations pull: {report.locations:,} locations, {report.evses:,} EVSEs, "
                        f"{report.pages} pages of <= {args.max_limit}, {report.tariffs} tariffs in "
                        f"{pull_s:.1f} s = {report.evses / pull_s:,.0f} EVSEs/s, "
                        f"{report.locations / pull_s:,.0f} locations/s\n"
                        f"  this process (CPO and platform): {pull_cpu:.1f} s CPU "
                        f"= {pull_cpu / pull_s:.0%} of one core; in the GC {pull_gc[0]:.1f} s "
                        f"({pull_gc[1]} full collections)\n"
                        f"  registry now: {counts.stations:,} stations, {counts.evses:,} EVSEs, "
                        f"{counts.connectors:,} connectors; rejected {report.rejected}, "
                        f"stale {report.stale}\n"
                        f"  peak RSS of this process so far: {peak_rss_mib():,.0f} MiB"
                    )

                    # 2. the pushes
                    token = cpo.peer_token
                    if token is None:
                        sys.exit("the CPO holds no token for us: registration failed")
                    if args.generator == "wrk":
                        # sized so that wrk never wraps around within --seconds
                        plan = push_plan(evses, max(args.pushes, args.seconds * 10_000),
                                         args.per_evse)  # fmt: skip
                        batches0, cpu0 = platform.writer.batches, cpu_s()
                        started = time.perf_counter()
                        figures = run_wrk(
                            emsp.url, token, plan, args.concurrency, args.seconds, tmp
                        )
                        wall, cpu = time.perf_counter() - started, cpu_s() - cpu0
                        batches = platform.writer.batches - batches0
                        print(
                            f"EVSE status PATCH pushes (wrk, 1 thread, {args.concurrency} "
                            f"connections, {args.seconds} s): {figures['sent']:,} sent, "
                            f"{figures['rate']:,.0f} pushes/s\n"
                            f"  latency p50 {figures['p50']}, p99 {figures['p99']}; "
                            f"non-2xx answers: {figures['non_2xx']}; socket errors: "
                            f"{figures['errors']}\n"
                            f"  status group commits: {batches:,} (avg "
                            f"{figures['sent'] / max(1, batches):.1f} pushes per commit)\n"
                            f"  platform process: {cpu:.1f} s CPU in {wall:.1f} s "
                            f"= {cpu / wall:.0%} of one core\n"
                            f"  (final statuses are verified with --generator python)"
                        )
                        return
                    plan = push_plan(evses, args.pushes, args.per_evse)
                    if not plan:
                        return
                    batches0, cpu0, started = platform.writer.batches, cpu_s(), time.perf_counter()
                    gc0 = (GC.seconds, GC.full)
                    result = run_generator(emsp.url, token, plan, args.concurrency, tmp)
                    batches, push_cpu = platform.writer.batches - batches0, cpu_s() - cpu0
                    push_wall = time.perf_counter() - started
                    push_gc = (GC.seconds - gc0[0], GC.full - gc0[1])
                finally:
                    cpo_server.call(cpo.close())
        finally:
            store.close()

        ordered = sorted(result["latencies"])
        http_status = {int(k): v for k, v in result["http_status"].items()}
        ocpi_status = {int(k): v for k, v in result["ocpi_status"].items()}
        non_200 = sum(v for k, v in http_status.items() if k != 200)
        not_1000 = sum(v for k, v in ocpi_status.items() if k != 1000)
        elapsed = result["elapsed_s"]
        targets = len({(p.location, p.evse) for p in plan})
        print(
            f"EVSE status PATCH pushes: {len(plan):,} to {targets:,} EVSEs "
            f"(~{len(plan) / targets:.1f} each), {args.concurrency} in flight, "
            f"in {elapsed:.1f} s = {len(plan) / elapsed:,.0f} pushes/s\n"
            f"  latency p50 {percentile(ordered, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(ordered, 0.99) * 1000:.1f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms\n"
            f"  non-200 answers: {non_200}; OCPI status_code != 1000: {not_1000}; "
            f"ignored as stale: {result['ignored']}\n"
            f"  status group commits: {batches:,} (avg {len(plan) / max(1, batches):.1f} "
            f"pushes per commit)\n"
            f"  platform process: {push_cpu:.1f} s CPU in {push_wall:.1f} s "
            f"= {push_cpu / push_wall:.0%} of one core (the generator's start-up included); "
            f"in the GC {push_gc[0]:.1f} s ({push_gc[1]} full collections)\n"
            f"  load generator: its own process, {result['cpu_s']:.1f} s CPU in {elapsed:.1f} s "
            f"= {result['cpu_s'] / elapsed:.0%} of one core"
        )
        for sample in result["samples"]:
            print(f"  error sample: {sample}")
        checked, wrong = verify(url, plan, args.verify)
        if wrong:
            print(f"  MISMATCH in {len(wrong)} of {checked} EVSEs checked, e.g.:")
            for line in wrong[:5]:
                print(f"    {line}")
        else:
            print(
                f"  verified {checked} EVSEs: the store holds the last status sent "
                f"(OCPI object and registry connectors)"
            )
        print(f"  peak RSS of this process so far: {peak_rss_mib():,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--locations", type=int, default=20_000)
    parser.add_argument("--max-limit", type=int, default=1000, help="the CPO's page size")
    parser.add_argument("--pushes", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64, help="PATCHes in flight")
    parser.add_argument(
        "--per-evse", type=int, default=4, help="pushes per pushed EVSE (round robin)"
    )
    parser.add_argument(
        "--generator",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator for the pushes: wrk (Debian package; throughput) or python "
        "(httpx in a child process; slower, but verifies the final statuses)",
    )
    parser.add_argument("--seconds", type=int, default=10, help="wrk: how long to push")
    parser.add_argument("--verify", type=int, default=500, help="pushed EVSEs checked after")
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="leave the simulated CPO's objects to the GC (by default they are frozen out)",
    )
    parser.add_argument("--push-worker", nargs=2, metavar=("JOB", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.push_worker:
        push_worker(*args.push_worker)
        return
    if args.locations < 1 or args.max_limit < 1 or args.concurrency < 1 or args.per_evse < 1:
        parser.error("--locations, --max-limit, --concurrency and --per-evse must be >= 1")

    from chargemesh.geo.counties import county_table
    from chargemesh.protocols.ocpi.models import Location, Tariff, parse
    from chargemesh.sim.peers.ocpi.data import CpoNetwork

    started = time.perf_counter()
    locations = [parse(Location, location_json(n)) for n in range(1, args.locations + 1)]
    tariffs = [
        parse(Tariff, tariff_json("TOU-DC", 1.45)),
        parse(Tariff, tariff_json("TOU-AC", 1.1)),
    ]
    network = CpoNetwork(CC, PID, locations=locations, tariffs=tariffs)
    evses = [(loc.id, e.uid) for loc in locations for e in loc.evses or []]
    del locations
    if not args.no_gc_freeze:
        # The CPO's ~100k models would live in another process in production; here they would
        # make every full collection of the platform's garbage walk them too.
        gc.collect()
        gc.freeze()
    print(
        f"CPO network: {args.locations:,} locations, {len(evses):,} EVSEs, built in "
        f"{time.perf_counter() - started:.1f} s; peak RSS {peak_rss_mib():,.0f} MiB\n"
        f"note: the CPO and the platform are two uvicorn servers on threads of this one process "
        f"(one GIL), on a {os.cpu_count()}-core machine; the push load generator is a separate "
        f"process on the same machine; the CPO's objects are "
        f"{'left to' if args.no_gc_freeze else 'frozen out of (gc.freeze)'} the GC"
    )
    started = time.perf_counter()
    county_table().prepare_lookup()  # once per process: not part of any pull below
    print(f"county index (point -> adcode) built in {time.perf_counter() - started:.1f} s")
    for kind in ("sqlite", "postgres") if args.store == "both" else (args.store,):
        run(kind, network, evses, args)


if __name__ == "__main__":
    main()
