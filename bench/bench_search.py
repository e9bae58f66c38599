"""Search at national scale over HTTP: index build and memory, nearby with filters, viewport
clusters, and the same nearby queries answered by PostGIS for comparison (issue #6).

1. **Data.** The simulated country (``chargemesh.sim.country.generate(scale, seed)``: ≈ 267 k
   stations, 1.4 M EVSEs, 2.2 M connectors at ``--scale 1``) is turned into registry stations
   with the platform's own protocol mappings (``tcec_station`` → ``protocols.tcec.mapping.
   to_station``, ``ocpi_location`` → ``protocols.ocpi.mapping.to_station``) and written straight
   into a SQLite store (no sync: this is the bench of the search, not of the protocols). The
   aggregator's copies of partner stations are left out (the merge would fold them). Connector
   statuses are drawn from the simulator's steady-state mix (≈ 70 % idle). The file is cached
   under ``--cache-dir`` keyed by scale and seed (``--rebuild`` to regenerate). At each run a
   random 90 % of the connectors have their status confirmed with a fresh timestamp through
   ``store.apply_status_updates`` (the rest age past the operators' freshness limit and count as
   unknown), so ``available=true`` finds a realistic share.
2. **API process.** ``chargemesh serve`` over the cached store (a config written for it: no
   operators, ``[server] workers = --workers``; uvicorn with uvloop + httptools). Build time =
   process start until the port answers (imports + store open + ``StationIndex.build()``); the
   index's own ``BuildReport`` is read from its log. Memory from ``/proc``: VmRSS after the
   build and at the end, VmHWM (peak), of each process; with several workers also their PSS
   summed (the index they share counted once).
3. **Nearby** (``/api/v1/stations/nearby``): query points are real station positions with a
   Gaussian jitter of ≈ 2 km, radius 5/10/20 km, limit 10/20; kinds: unfiltered, ``connector=
   gbt_dc&min_kw=60``, ``available=true``, ``access=scan``, ``access=plug_and_charge``,
   ``connector=gbt_dc&min_kw=120&available=true``. ``wrk`` (Debian package) on the same machine
   cycles through the precomputed paths: (a) saturated, ``-c --connections``: the throughput;
   (b) paced at about ``--rate`` req/s (wrk's ``delay()`` per connection): the latency at the
   target load; (c) one connection, one request at a time (keep-alive, the request's bytes
   written to a bare socket and the answer read to its Content-Length, as wrk and libpq do;
   ``http.client`` adds ≈ 80 µs of its own header parsing, printed once for comparison), the
   kinds taken in turn (PostGIS's too): the per-kind service latency without queueing,
   p50/p90/p99.
4. **Clusters** (``/api/v1/map/clusters``): China at zoom 4/5/6 (``bbox=73,18,135,54``), zoom 4 with
   filters, Guangdong at zoom 8, and city viewports at zoom 12; one connection, the first (cold:
   the per-zoom cell grouping is computed and cached) request timed apart.
5. **PostGIS** (unless ``--skip-postgis``): the same stations (positions, names, per-station
   summaries) and connectors loaded into a schema of its own on the PostgreSQL server
   (``--postgres-url``; the ``postgis`` extension, Debian ``postgresql-15-postgis-3``), GiST index
   on the point, loaded before the API process starts and kept for the run; the same queries
   (c), each a prepared statement on one psycopg connection, timed from Python in blocks taken
   in turn with the HTTP ones (the machine's drift falls on both alike):
   ``… WHERE geom && <radius box> AND ST_DistanceSphere(geom, p) <= r [AND EXISTS (a connector
   passing every connector filter)] ORDER BY geom <-> p LIMIT k`` ("knn": the
   index-ordered scan a PostGIS app would write; planar in degrees, so the k-th stations can differ
   from ours) and the same ``ORDER BY ST_DistanceSphere(…)`` ("exact": great-circle order like
   ours, the same stations). The filter keeps the index's semantics (all connector filters on the
   same connector): an ``EXISTS`` on a ``connectors`` table indexed by station with the filter
   columns included (index-only), ``available`` precomputed per connector with the same freshness
   rule. Our HTTP latency (c) is printed as a ratio to "knn" (p50, p99), with the share of queries
   whose stations are the same. The schema is dropped at the end.

    python bench/bench_search.py [--scale 1] [--seed 7] [--duration 20] [--connections 16]
        [--rate 1500] [--skip-postgis] [--profile out.txt] [--rebuild]

Targets (docs PRODUCT.md, national scale on 2 cores): nearby with filters p99 ≤ 10 ms and
≥ 1,500 req/s; whole-country clusters p99 ≤ 30 ms; API process ≤ 2 GB RSS. Run by hand; it prints
figures and asserts nothing about speed. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchlib import cpu_s, free_port, machine_s, process_tree, pss_mb, status_mb
from chargemesh.store import StatusUpdate, Store, open_store

DEFAULT_PG = os.environ.get("CHARGEMESH_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
TARGET_NEARBY_P99_MS, TARGET_RATE, TARGET_CLUSTER_P99_MS, TARGET_MB = 10.0, 1500.0, 30.0, 2048.0
FRESH_SHARE = 0.9  # connectors whose status is confirmed fresh at each run
BATCH = 2000  # stations per upsert
CHINA = "73,18,135,54"
GUANGDONG = "109.6,20.2,117.4,25.6"

#: nearby query kinds: name -> (query string added, share in the mixed load)
NEARBY_KINDS: dict[str, tuple[str, float]] = {
    "unfiltered": ("", 0.40),
    "gbt_dc>=60kW": ("&connector=gbt_dc&min_kw=60", 0.15),
    "available": ("&available=true", 0.15),
    "scan": ("&access=scan", 0.10),
    "plug_and_charge": ("&access=plug_and_charge", 0.10),
    "dc>=120kW+avail": ("&connector=gbt_dc&min_kw=120&available=true", 0.10),
}

LUA = r"""
local paths = {}
local n = 0
local spread = 0
init = function(args)
  for line in io.lines(args[1]) do n = n + 1; paths[n] = line end
  i = tonumber(args[2]) % n
  spread = tonumber(args[3])
  math.randomseed(tonumber(args[2]) + 1)
end
request = function()
  i = (i % n) + 1
  return wrk.format("GET", paths[i])
end
delay = function()
  if spread <= 0 then return 0 end
  return math.floor(math.random() * 2 * spread + 0.5)
end
"""


# ----------------------------------------------------------------------------- small helpers


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else math.nan


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# ----------------------------------------------------------------------------- the API process


def serve_config(url: str, port: int, workers: int, path: Path) -> Path:
    """The API process's configuration: the cached store, no operators to sync, ``workers``
    processes. The load generator is one loopback client at several thousand req/s: its
    address gets room for it, the limiter stays on (its cost is part of what is measured)."""
    path.write_text(
        f"""[store]\nurl = "{url}"\n\n[server]\nhost = "127.0.0.1"\nport = {port}\n"""
        f"""workers = {workers}\n\n[rate_limits]\nsearch_per_s = 20000\n"""
        """search_burst = 40000\n\n[log]\nlevel = "info"\n""",
        encoding="utf-8",
    )
    return path


@dataclass
class ApiProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    ready_s: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    def build_report(self) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        found = re.search(r"search index built: (.*)", text)
        return f"index {found.group(1)}" if found else "no build report in the log"

    def memory(self, key: str) -> str:
        """``VmRSS``/``VmHWM`` of each process serving (the supervisor first when several),
        and with several their PSS summed: the shared index counted once."""
        pids = process_tree(self.pid)
        each = " + ".join(f"{status_mb(p, key) or 0:,.0f}" for p in pids)
        if len(pids) == 1:
            return f"{each} MB"
        pss = sum(pss_mb(p) or 0.0 for p in pids)
        return f"{each} MB ({len(pids)} processes; PSS summed {pss:,.0f} MB)"


@contextlib.contextmanager
def api_process(url: str, tmp: Path, workers: int) -> Iterator[ApiProcess]:
    """``chargemesh serve`` over the cached store, until its port answers."""
    port = free_port()
    log = tmp / "api.log"
    out = log.open("w", encoding="utf-8")
    config = serve_config(url, port, workers, tmp / "chargemesh.toml")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chargemesh", "serve", "--config", str(config)],
        stdout=out, stderr=out,
    )  # fmt: skip
    try:
        while True:
            if proc.poll() is not None:
                tail = log.read_text(encoding="utf-8").strip().splitlines()[-5:]
                sys.exit("the API process stopped:\n  " + "\n  ".join(tail))
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/operators")
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                time.sleep(0.05)
        yield ApiProcess(proc, port, log, time.perf_counter() - started)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out.close()


# ----------------------------------------------------------------------------- the data


def cache_path(cache_dir: Path, scale: float, seed: int) -> Path:
    return cache_dir / f"search-scale{scale:g}-seed{seed}.db"


def generate_store(path: Path, scale: float, seed: int) -> None:
    """The simulated country as registry stations in a fresh SQLite file at ``path``."""
    from chargemesh.domain import Capability, ConnectorStatus, Operator, OperatorProtocol
    from chargemesh.protocols.ocpi import mapping as ocpi_mapping
    from chargemesh.protocols.tcec import mapping as tcec_mapping
    from chargemesh.protocols.tcec.mapping import connector_status as from_tcec
    from chargemesh.sim.churn import initial_statuses
    from chargemesh.sim.country import generate, ocpi_location, tcec_station

    started = time.perf_counter()
    country = generate(scale, seed)
    print(
        f"generated the simulated country (scale {scale:g}, seed {seed}): "
        f"{country.n_stations:,} stations, {country.n_evses:,} EVSEs, "
        f"{country.n_connectors:,} connectors in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    partial = path.with_suffix(".partial")
    for p in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        p.unlink(missing_ok=True)
    operators = [
        Operator(
            o.id, o.name, OperatorProtocol(o.protocol), frozenset(map(Capability, o.capabilities))
        )
        for o in country.operators
    ]
    rng = np.random.default_rng(seed)
    codes = initial_statuses(country.n_connectors, rng)
    status_of = {int(c): from_tcec(int(c)) for c in np.unique(codes)}
    now = datetime.now(UTC)
    copies = country.station_is_copy
    started = time.perf_counter()
    written = connectors = 0
    with open_store(f"sqlite:///{partial}") as store:
        for op in operators:
            store.upsert_operator(op)
        batch = []
        for i in range(country.n_stations):
            if copies[i]:
                continue
            k = int(country.station_operator[i])
            if country.operators[k].protocol == "tcec":
                station = tcec_mapping.to_station(tcec_station(country, i), operators[k])
            else:
                station = ocpi_mapping.to_station(ocpi_location(country, i), operators[k])
            evses = []
            for e in station.evses:
                guns = []
                for c in e.connectors:
                    status = status_of.get(int(codes[connectors]), ConnectorStatus.UNKNOWN)
                    guns.append(dataclasses.replace(c, status=status, status_at=now))
                    connectors += 1
                evses.append(dataclasses.replace(e, connectors=tuple(guns)))
            batch.append(dataclasses.replace(station, evses=tuple(evses)))
            if len(batch) >= BATCH:
                store.upsert_stations(batch, at=now)
                written += len(batch)
                batch = []
                if written % (BATCH * 25) == 0:
                    print(f"  {written:,} stations written …", flush=True)
        if batch:
            store.upsert_stations(batch, at=now)
            written += len(batch)
    partial.rename(path)
    print(
        f"wrote {written:,} stations (the aggregator's {int(copies.sum()):,} copies left out) "
        f"into {path} in {time.perf_counter() - started:.1f} s",
        flush=True,
    )


def refresh_statuses(store: Store, seed: int) -> tuple[int, int, float]:
    """Confirm the status of a random ``FRESH_SHARE`` of the connectors as observed now.
    Returns (confirmed, connectors, seconds)."""
    from chargemesh.domain import ConnectorStatus

    started = time.perf_counter()
    rng = np.random.default_rng(seed + int(time.time()))
    now = datetime.now(UTC)
    after, total, confirmed = "", 0, 0
    while page := store.index_connectors(after, 50_000):
        after = page[-1][0]
        total += len(page)
        pick = rng.random(len(page)) < FRESH_SHARE
        ages = rng.uniform(0, 120, len(page))
        updates = [
            StatusUpdate(c[0], ConnectorStatus(c[5]), now - timedelta(seconds=float(a)), "bench")
            for c, keep, a in zip(page, pick, ages, strict=True)
            if keep
        ]
        confirmed += len(updates)
        store.apply_status_updates(updates)
    return confirmed, total, time.perf_counter() - started


@dataclass
class Registry:
    """What the queries and PostGIS need, read from the store as the index reads it."""

    ids: list[str]
    operators: list[str]
    names: list[str]
    lon: np.ndarray
    lat: np.ndarray
    highway: np.ndarray
    c_station: np.ndarray
    c_standard: np.ndarray
    c_kw: np.ndarray
    c_access: np.ndarray
    c_available: np.ndarray


def read_registry(store: Store) -> Registry:
    from chargemesh.search.filters import AVAILABLE, STANDARD_CODE, STATUS_CODE, access_bits

    rows: list[Any] = []
    after = ""
    while page := store.index_stations(after, 50_000):
        rows.extend(page)
        after = page[-1][0]
    position = {r[0]: i for i, r in enumerate(rows)}
    fresh = {op.id: op.status_freshness.total_seconds() for op in store.list_operators()}
    op_of = [r[1] for r in rows]
    now = time.time()
    cols: list[list[Any]] = [[], [], [], [], []]
    after = ""
    while cpage := store.index_connectors(after, 100_000):
        after = cpage[-1][0]
        for c in cpage:
            s = position.get(c[1])
            if s is None:
                continue
            at = c[6].timestamp() if c[6] is not None else -math.inf
            cols[0].append(s)
            cols[1].append(STANDARD_CODE.get(c[2], STANDARD_CODE["unknown"]))
            cols[2].append(c[3])
            cols[3].append(access_bits(c[4]))
            cols[4].append(
                STATUS_CODE.get(c[5], -1) == AVAILABLE and at >= now - fresh.get(op_of[s], 0.0)
            )
    return Registry(
        ids=[r[0] for r in rows],
        operators=op_of,
        names=[r[2] for r in rows],
        lon=np.array([r[3] for r in rows], np.float64),
        lat=np.array([r[4] for r in rows], np.float64),
        highway=np.array([r[5] for r in rows], np.bool_),
        c_station=np.array(cols[0], np.int32),
        c_standard=np.array(cols[1], np.int16),
        c_kw=np.array(cols[2], np.float32),
        c_access=np.array(cols[3], np.int16),
        c_available=np.array(cols[4], np.bool_),
    )


# ----------------------------------------------------------------------------- the queries


@dataclass(frozen=True)
class NearbyQuery:
    kind: str
    lon: float
    lat: float
    radius_km: float
    limit: int

    @property
    def path(self) -> str:
        return (
            f"/api/v1/stations/nearby?lat={self.lat:.6f}&lon={self.lon:.6f}"
            f"&radius_km={self.radius_km:g}&limit={self.limit}{NEARBY_KINDS[self.kind][0]}"
        )


def nearby_queries(reg: Registry, count: int, kind: str | None, seed: int) -> list[NearbyQuery]:
    """``count`` queries of one kind, or of the mix (``kind=None``), around real stations."""
    rng = np.random.default_rng(seed)
    kinds = list(NEARBY_KINDS)
    shares = np.array([NEARBY_KINDS[k][1] for k in kinds])
    picks = rng.integers(0, len(reg.lon), count)
    jitter = rng.normal(0.0, 0.02, (count, 2))  # ≈ 2 km
    which = rng.choice(len(kinds), count, p=shares / shares.sum())
    radii = rng.choice([5.0, 10.0, 20.0], count, p=[0.3, 0.5, 0.2])
    limits = rng.choice([10, 20], count, p=[0.3, 0.7])
    return [
        NearbyQuery(
            kind or kinds[int(which[i])],
            round(float(reg.lon[picks[i]] + jitter[i, 0]), 6),
            round(float(reg.lat[picks[i]] + jitter[i, 1]), 6),
            float(radii[i]),
            int(limits[i]),
        )
        for i in range(count)
    ]


def cluster_paths(reg: Registry, seed: int) -> dict[str, list[str]]:
    base = "/api/v1/map/clusters?bbox="
    rng = np.random.default_rng(seed + 1)
    city = []
    for s in rng.integers(0, len(reg.lon), 200):
        lon, lat = float(reg.lon[s]), float(reg.lat[s])
        # a 1920×1080 screen at zoom 12 spans ≈ 0.66° × 0.33° here
        city.append(f"{base}{lon - 0.33:.4f},{lat - 0.17:.4f},{lon + 0.33:.4f},{lat + 0.17:.4f}"
                    "&zoom=12")  # fmt: skip
    return {
        "China z4": [f"{base}{CHINA}&zoom=4"],
        "China z5": [f"{base}{CHINA}&zoom=5"],
        "China z6": [f"{base}{CHINA}&zoom=6"],
        "China z4 gbt_dc>=60kW": [f"{base}{CHINA}&zoom=4&connector=gbt_dc&min_kw=60"],
        "China z4 available": [f"{base}{CHINA}&zoom=4&available=true"],
        "Guangdong z8": [f"{base}{GUANGDONG}&zoom=8"],
        "city z12": city,
    }


# ----------------------------------------------------------------------------- measuring


@dataclass
class Timings:
    ms: list[float] = field(default_factory=list)
    errors: int = 0
    bytes: int = 0
    first_ms: float = math.nan

    def line(self) -> str:
        return (
            f"p50 {pct(self.ms, 50):7.2f}  p90 {pct(self.ms, 90):7.2f}  p99 {pct(self.ms, 99):7.2f}"
            f"  max {max(self.ms, default=math.nan):7.2f} ms"
        )


class RawHttp:
    """One keep-alive HTTP/1.1 connection spoken over a bare socket: the request's bytes sent,
    the answer read to its Content-Length. What a lean client (wrk, a browser, libpq for
    PostgreSQL) spends, not what Python's ``http.client`` spends parsing headers with the
    ``email`` package (≈ 80 µs a request here, a third of an answer)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get(self, path: str) -> tuple[int, bytes]:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self._recv()
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(int(v) for k, _, v in (line.partition(b":") for line in lines[1:])
                      if k.strip().lower() == b"content-length")  # fmt: skip
        while len(body) < length:
            body += self._recv()
        return status, body

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the API closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def one_by_one(
    port: int,
    paths: Sequence[str],
    repeat: int = 1,
    keep_bodies: bool = False,
    client: str = "raw",
) -> tuple[Timings, list[bytes]]:
    """Each path on one keep-alive connection, one at a time; the first request timed apart.
    ``client``: ``raw`` (:class:`RawHttp`) or ``http.client`` (the standard library's)."""
    raw = RawHttp(port) if client == "raw" else None
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60) if raw is None else None
    out = Timings()
    bodies: list[bytes] = []
    try:
        for n in range(repeat):
            for path in paths:
                t0 = time.perf_counter()
                if raw is not None:
                    status, body = raw.get(path)
                else:
                    assert conn is not None
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    status, body = resp.status, resp.read()
                ms = (time.perf_counter() - t0) * 1000
                if status != 200:
                    out.errors += 1
                out.bytes = max(out.bytes, len(body))
                if keep_bodies and n == 0:
                    bodies.append(body)
                if math.isnan(out.first_ms):
                    out.first_ms = ms
                else:
                    out.ms.append(ms)
    finally:
        if raw is not None:
            raw.close()
        if conn is not None:
            conn.close()
    return out, bodies


@dataclass
class WrkRun:
    rate: float
    p50: float
    p90: float
    p99: float
    errors: int
    api_cpu: float  # % of one core
    wrk_cpu: float
    others_cpu: float  # % of one core: every other process on the machine
    raw: str


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return math.nan
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[m.group(2)]


def wrk(
    api: ApiProcess, paths_file: Path, lua: Path, seconds: float, connections: int, threads: int,
    spread_ms: float = 0.0,
) -> WrkRun:  # fmt: skip
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout",
        "10s", "-s", str(lua), f"http://127.0.0.1:{api.port}", "--", str(paths_file), "0",
        f"{spread_ms:g}",
    ]  # fmt: skip
    serving = process_tree(api.pid)  # the supervisor and its workers, if several
    cpu0, machine0 = sum(cpu_s(p) or 0.0 for p in serving), machine_s()
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # reaped here: its CPU time from rusage
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        api_cpu = sum(cpu_s(p) or 0.0 for p in serving) - cpu0
        machine = machine_s() - machine0
        wrk_cpu = usage.ru_utime + usage.ru_stime
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    if proc.returncode != 0:
        sys.exit(f"wrk failed: {err.strip() or out.strip()}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    lat = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return WrkRun(
        rate=float(rate.group(1)) if rate else 0.0,
        p50=_ms(lat.get("50", "")),
        p90=_ms(lat.get("90", "")),
        p99=_ms(lat.get("99", "")),
        errors=errors,
        api_cpu=100 * api_cpu / elapsed,
        wrk_cpu=100 * wrk_cpu / elapsed,
        others_cpu=100 * max(0.0, machine - api_cpu - wrk_cpu) / elapsed,
        raw=out,
    )


def wrk_line(label: str, run: WrkRun) -> str:
    return (
        f"  {label:<34} {run.rate:8,.0f} req/s   p50 {run.p50:6.2f}  p90 {run.p90:6.2f}  "
        f"p99 {run.p99:6.2f} ms   errors {run.errors}   %CPU: API {run.api_cpu:3.0f}, "
        f"wrk {run.wrk_cpu:3.0f}, others {run.others_cpu:3.0f}"
    )


def profile(api: ApiProcess, seconds: float, out: Path, load: Any) -> None:
    """py-spy on the API process while ``load()`` runs; the top frames printed."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("  (py-spy not found: no profile)")
        return
    proc = subprocess.Popen(
        [spy, "record", "--pid", str(api.pid), "--duration", str(int(seconds)), "--rate", "250",
         "--format", "raw", "--nonblocking", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)
    load()
    proc.wait(timeout=seconds + 60)
    if not out.exists():
        print("  (py-spy wrote nothing)")
        return
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    print(f"  py-spy: {samples:,} samples of the API process in {out}")
    print("  top frames by own time:")
    for frame, n in own.most_common(18):
        print(f"    {100 * n / samples:5.1f}%  {frame[:150]}")
    print("  top frames by inclusive time (below the event loop):")
    shown = 0
    for frame, n in total.most_common(80):
        if n >= samples * 0.97 or "<module>" in frame or "run (asyncio" in frame:
            continue
        print(f"    {100 * n / samples:5.1f}%  {frame[:150]}")
        shown += 1
        if shown >= 22:
            break


# ----------------------------------------------------------------------------- PostGIS


@dataclass
class PostgisResult:
    load_s: float
    # variant ("knn": ORDER BY geom <-> p; "exact": ORDER BY great-circle distance) -> kind -> …
    timings: dict[str, dict[str, Timings]]
    same_sets: dict[str, dict[str, float]]  # share of queries whose station set is the API's
    plans: dict[str, dict[str, str]]


PG_VARIANTS = {
    "knn": "s.geom <-> ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)",
    "exact": "11",  # the ST_DistanceSphere column
}


def _pg_sql(kind: str, variant: str) -> str:
    from chargemesh.domain import AccessMethod, ConnectorStandard
    from chargemesh.search.filters import ACCESS_BIT, STANDARD_CODE

    where = []
    params = dict(p.split("=") for p in NEARBY_KINDS[kind][0].split("&") if p)
    if "connector" in params:
        where.append(f"c.standard = {STANDARD_CODE[ConnectorStandard(params['connector']).value]}")
    if "min_kw" in params:
        where.append(f"c.kw >= {float(params['min_kw'])}")
    if "access" in params:
        bit = ACCESS_BIT[AccessMethod(params["access"]).value]
        where.append(f"(c.access & {bit}) = {bit}")
    if "available" in params:
        where.append("c.available")
    exists = (
        f" AND EXISTS (SELECT 1 FROM connectors c WHERE c.station = s.id AND {' AND '.join(where)})"
        if where
        else ""
    )
    return (
        "SELECT s.sid, s.name, s.operator_id, ST_X(s.geom), ST_Y(s.geom), s.max_kw, s.connectors, "
        "s.available, s.access_any, s.highway, "
        "ST_DistanceSphere(s.geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)) "
        "FROM stations s "
        "WHERE s.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326) "
        "AND ST_DistanceSphere(s.geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)) "
        f"<= %(r)s{exists} ORDER BY {PG_VARIANTS[variant]} LIMIT %(k)s"
    )


def _plan(rows: list[Any]) -> str:
    """The plan's nodes, outermost first, without their conditions."""
    nodes = [r[0].strip().removeprefix("->").strip() for r in rows]
    return " → ".join(n for n in nodes if not re.match(r"^[A-Z][\w ]*: ", n))


def _pg_params(q: NearbyQuery) -> dict[str, float | int]:
    dlat = q.radius_km / 111.19 * 1.001
    dlon = dlat / max(math.cos(math.radians(min(abs(q.lat) + dlat, 89.9))), 1e-6)
    return {
        "lon": q.lon, "lat": q.lat, "w": q.lon - dlon, "s": q.lat - dlat, "e": q.lon + dlon,
        "n": q.lat + dlat, "r": q.radius_km * 1000.0, "k": q.limit,
    }  # fmt: skip


IN_TURN_BLOCK = 100  # queries of one kind answered by one side before the other's turn


@dataclass
class Postgis:
    """The same registry in a schema of its own on the PostgreSQL server, one connection."""

    conn: Any
    load_s: float


@contextlib.contextmanager
def postgis_loaded(url: str, reg: Registry) -> Iterator[Postgis]:
    """Load the stations and connectors (GiST index on the point), keep them for the run, drop
    the schema at the end."""
    import psycopg

    schema = f"bench_search_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        installed = conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'postgis'"
        ).fetchone()
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            path = schema if installed is None else f"{schema}, {installed[0]}"
            conn.execute(f"SET search_path = {path}")
            if installed is None:
                try:
                    conn.execute(f"CREATE EXTENSION postgis SCHEMA {schema}")
                except psycopg.Error as exc:
                    sys.exit(
                        f"PostGIS is not available ({exc}); apt-get install -y "
                        "postgresql-15-postgis-3, or run with --skip-postgis"
                    )
            started = time.perf_counter()
            _pg_load(conn, reg)
            yield Postgis(conn, time.perf_counter() - started)
        finally:
            conn.execute("RESET search_path")
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def in_turn_with_postgis(
    port: int, pg: Postgis | None, per_kind: dict[str, list[NearbyQuery]]
) -> tuple[dict[str, tuple[Timings, list[bytes]]], PostgisResult | None]:
    """Every query of every kind, one at a time, over HTTP (:class:`RawHttp`, one keep-alive
    connection) and on PostgreSQL in each variant (prepared statements on one connection), in
    blocks of ``IN_TURN_BLOCK``: a block of one kind over HTTP, the same block on PostgreSQL,
    then the next kind, then the next blocks. Whatever the machine does meanwhile falls on every
    kind and on both sides alike (measured minutes apart, the ratio moved by ±30 % on this
    machine), and each side answers a run of queries warm, as it would one after another (query
    by query in turn, each side found its caches taken by the other: both slower, the API
    most). The first query of each is timed apart."""
    raw = RawHttp(port)
    http = {kind: (Timings(), []) for kind in per_kind}
    result = None
    sqls: dict[str, dict[str, str]] = {}
    agree: dict[str, dict[str, int]] = {}
    if pg is not None:
        result = PostgisResult(
            pg.load_s,
            {v: {} for v in PG_VARIANTS},
            {v: {} for v in PG_VARIANTS},
            {v: {} for v in PG_VARIANTS},
        )
        for variant in PG_VARIANTS:
            sqls[variant] = {kind: _pg_sql(kind, variant) for kind in per_kind}
            agree[variant] = dict.fromkeys(per_kind, 0)
            for kind, qs in per_kind.items():
                plan = pg.conn.execute("EXPLAIN (COSTS OFF) " + sqls[variant][kind],
                                       _pg_params(qs[0]))  # fmt: skip
                result.plans[variant][kind] = _plan(plan.fetchall())
                result.timings[variant][kind] = Timings()

    def timed(t: Timings, i: int, ms: float) -> None:
        if i == 0:
            t.first_ms = ms
        else:
            t.ms.append(ms)

    cur = pg.conn.cursor() if pg is not None else None
    try:
        for start in range(0, max(len(qs) for qs in per_kind.values()), IN_TURN_BLOCK):
            for kind, qs in per_kind.items():
                block = range(start, min(start + IN_TURN_BLOCK, len(qs)))
                t, bodies = http[kind]
                for i in block:
                    t0 = time.perf_counter()
                    status, body = raw.get(qs[i].path)
                    timed(t, i, (time.perf_counter() - t0) * 1000)
                    t.errors += status != 200
                    t.bytes = max(t.bytes, len(body))
                    bodies.append(body)
                if cur is None or result is None:
                    continue
                for variant in PG_VARIANTS:
                    for i in block:
                        t0 = time.perf_counter()
                        cur.execute(sqls[variant][kind], _pg_params(qs[i]), prepare=True)
                        rows = cur.fetchall()
                        timed(result.timings[variant][kind], i,
                              (time.perf_counter() - t0) * 1000)  # fmt: skip
                        ids = {st["id"] for st in json.loads(bodies[i]).get("stations", ())}
                        agree[variant][kind] += {r[0] for r in rows} == ids
    finally:
        raw.close()
        if cur is not None:
            cur.close()
    if result is not None:
        for variant in PG_VARIANTS:
            for kind, qs in per_kind.items():
                result.same_sets[variant][kind] = agree[variant][kind] / len(qs)
    return http, result


def _pg_load(conn: Any, reg: Registry) -> None:
    n = len(reg.ids)
    counts = np.bincount(reg.c_station, minlength=n)
    available = np.bincount(reg.c_station, weights=reg.c_available, minlength=n).astype(np.int64)
    max_kw = np.zeros(n, np.float32)
    np.maximum.at(max_kw, reg.c_station, reg.c_kw)
    access_any = np.zeros(n, np.int16)
    np.bitwise_or.at(access_any, reg.c_station, reg.c_access)
    conn.execute(
        "CREATE TABLE stations (id integer PRIMARY KEY, sid text NOT NULL, name text, "
        "operator_id text, geom geometry(Point, 4326) NOT NULL, max_kw real, connectors integer, "
        "available integer, access_any smallint, highway boolean)"
    )
    conn.execute(
        "CREATE TABLE connectors (station integer NOT NULL, standard smallint, kw real, "
        "access smallint, available boolean)"
    )
    with conn.cursor() as cur:
        with cur.copy(
            "COPY stations (id, sid, name, operator_id, geom, max_kw, connectors, available, "
            "access_any, highway) FROM STDIN"
        ) as copy:
            for i in range(n):
                point = f"SRID=4326;POINT({float(reg.lon[i])!r} {float(reg.lat[i])!r})"
                copy.write_row((
                    i, reg.ids[i], reg.names[i], reg.operators[i], point, float(max_kw[i]),
                    int(counts[i]), int(available[i]), int(access_any[i]), bool(reg.highway[i]),
                ))  # fmt: skip
        with cur.copy(
            "COPY connectors (station, standard, kw, access, available) FROM STDIN"
        ) as copy:
            for row in zip(
                reg.c_station.tolist(), reg.c_standard.tolist(), reg.c_kw.tolist(),
                reg.c_access.tolist(), reg.c_available.tolist(), strict=True,
            ):  # fmt: skip
                copy.write_row(row)
    conn.execute("CREATE INDEX stations_geom ON stations USING gist (geom)")
    conn.execute(
        "CREATE INDEX connectors_station ON connectors (station) "
        "INCLUDE (standard, kw, access, available)"
    )
    conn.execute("VACUUM ANALYZE stations")
    conn.execute("VACUUM ANALYZE connectors")


# ----------------------------------------------------------------------------- the run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="paced load, req/s")
    parser.add_argument("--samples", type=int, default=400, help="one-by-one queries per kind")
    parser.add_argument("--skip-postgis", action="store_true")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "chargemesh-bench"
    )
    parser.add_argument("--rebuild", action="store_true", help="regenerate the cached store")
    parser.add_argument(
        "--profile", type=Path, help="also run py-spy on the API under the mixed load; "
        "collapsed stacks to this file, top frames printed",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="[server] workers")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed as the load generator: apt-get install -y wrk")

    print(f"machine: {os.cpu_count()} cores, load average {loadavg()} at start")
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    db = cache_path(args.cache_dir, args.scale, args.seed)
    if args.rebuild or not db.exists():
        for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            p.unlink(missing_ok=True)
        generate_store(db, args.scale, args.seed)
    else:
        print(f"using the cached store {db} ({db.stat().st_size / 1e6:,.0f} MB; --rebuild to "
              "regenerate)")  # fmt: skip
    url = f"sqlite:///{db}"
    with open_store(url) as store:
        counts = store.counts()
        print(
            f"registry: {counts.stations:,} stations, {counts.evses:,} EVSEs, "
            f"{counts.connectors:,} connectors, {counts.operators} operators",
            flush=True,
        )
        confirmed, total, secs = refresh_statuses(store, args.seed)
        print(f"statuses: {confirmed:,} of {total:,} connectors confirmed fresh as of now "
              f"({secs:.1f} s)", flush=True)  # fmt: skip
        started = time.perf_counter()
        reg = read_registry(store)
    share = float(reg.c_available.mean()) if len(reg.c_available) else 0.0
    with_free = np.bincount(reg.c_station[reg.c_available], minlength=len(reg.ids)) > 0
    print(
        f"read back {len(reg.ids):,} stations / {len(reg.c_station):,} connectors in "
        f"{time.perf_counter() - started:.1f} s: {100 * share:.0f}% of connectors available "
        f"now, {100 * with_free.mean():.0f}% of stations have one",
        flush=True,
    )

    samples = max(args.samples, 2)
    per_kind = {
        kind: nearby_queries(reg, samples, kind, args.seed + 100 + n)
        for n, kind in enumerate(NEARBY_KINDS)
    }
    mixed = nearby_queries(reg, 20_000, None, args.seed)
    clusters = cluster_paths(reg, args.seed)

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        lua = tmp / "paths.lua"
        lua.write_text(LUA, encoding="utf-8")
        files = {
            "mixed": [q.path for q in mixed],
            "unfiltered": [q.path for q in mixed if q.kind == "unfiltered"],
            "filtered": [q.path for q in mixed if q.kind != "unfiltered"],
        }
        for name, paths in files.items():
            (tmp / f"{name}.txt").write_text("\n".join(paths) + "\n", encoding="utf-8")

        pg_session = contextlib.ExitStack()
        pg_loaded: Postgis | None = None
        if not args.skip_postgis:
            print("PostGIS: loading the same stations and connectors …", flush=True)
            pg_loaded = pg_session.enter_context(postgis_loaded(args.postgres_url, reg))
        print("starting the API process …", flush=True)
        with pg_session, api_process(url, tmp, args.workers) as api:
            rss_built = max(status_mb(p, "VmRSS") or 0.0 for p in process_tree(api.pid))
            print(
                f"API (chargemesh serve, {args.workers} worker(s), pid {api.pid}) answering "
                f"after {api.ready_s:.1f} s ({api.build_report()}); RSS "
                f"{api.memory('VmRSS')}, peak {api.memory('VmHWM')}"
            )
            # warm-up: every kind once, a few seconds of the mix
            one_by_one(api.port, [qs[0].path for qs in per_kind.values()])
            wrk(api, tmp / "mixed.txt", lua, 3, args.connections, args.threads)

            print(f"\nnearby over HTTP, wrk -t{args.threads} -c{args.connections} "
                  f"-d{args.duration:g}s (load average {loadavg()}):")  # fmt: skip
            saturated = {
                name: wrk(api, tmp / f"{name}.txt", lua, args.duration, args.connections,
                          args.threads)
                for name in files
            }  # fmt: skip
            for name, run in saturated.items():
                print(wrk_line(f"{name}, saturated", run))
            # paced: each connection waits about c / rate between requests
            spread = max(0.0, 1000 * args.connections / args.rate - saturated["mixed"].p50)
            probe = wrk(api, tmp / "mixed.txt", lua, 4, args.connections, args.threads, spread)
            if probe.rate > 0:  # per connection: c / rate = delay + time in flight
                in_flight = 1000 * args.connections / probe.rate - spread
                spread = max(0.0, 1000 * args.connections / args.rate - in_flight)
            paced = wrk(api, tmp / "mixed.txt", lua, args.duration, args.connections,
                        args.threads, spread)  # fmt: skip
            print(wrk_line(f"mixed, paced at ≈ {args.rate:,.0f} req/s", paced))

            print(f"\nnearby, one connection, one request at a time ({samples} per kind):")
            single: dict[str, Timings] = {}
            hits: dict[str, float] = {}
            time.sleep(1.0)  # what the saturated runs left queued is done
            answered, pg = in_turn_with_postgis(api.port, pg_loaded, per_kind)
            for kind, (t, bodies) in answered.items():
                # the first query was run in the warm-up: time it too
                t.ms.insert(0, t.first_ms)
                single[kind] = t
                answers = [json.loads(b) for b in bodies]
                hits[kind] = float(np.mean([a.get("count", 0) for a in answers]))
                print(f"  {kind:<18} {t.line()}   {hits[kind]:5.1f} stations/answer"
                      + (f"   errors {t.errors}" if t.errors else ""))  # fmt: skip
            stdlib, _ = one_by_one(api.port, [q.path for q in per_kind["unfiltered"]],
                                   client="http.client")  # fmt: skip
            print(f"  {'unfiltered, with http.client (the client parsing headers in Python)':<18}"
                  f"\n  {'':<18} {stdlib.line()}")  # fmt: skip

            print("\nclusters, one connection (first request apart: the per-zoom grouping "
                  "is computed then):")  # fmt: skip
            cluster_t: dict[str, Timings] = {}
            for name, paths in clusters.items():
                t, bodies = one_by_one(
                    api.port,
                    paths,
                    repeat=1 if len(paths) > 1 else max(60, samples // 2),
                    keep_bodies=True,
                )
                cluster_t[name] = t
                body = json.loads(bodies[0]) if bodies else {}
                print(
                    f"  {name:<22} first {t.first_ms:7.1f} ms   then {t.line()}   "
                    f"{len(body.get('features', ())):,} features, {body.get('stations', 0):,} "
                    f"stations, {t.bytes / 1000:,.0f} kB" + (f"   errors {t.errors}" if t.errors
                                                             else "")
                )  # fmt: skip

            if args.profile:
                print("\nprofile of the API process under the mixed load:")
                profile(
                    api, args.duration, args.profile,
                    lambda: wrk(api, tmp / "mixed.txt", lua, args.duration - 2,
                                args.connections, args.threads),
                )  # fmt: skip
            hwm_end = max(status_mb(p, "VmHWM") or 0.0 for p in process_tree(api.pid))
            print(f"\nAPI at the end: RSS {api.memory('VmRSS')}, peak {api.memory('VmHWM')}; "
                  f"load average {loadavg()}")  # fmt: skip

    if pg is not None:
        print(
            f"PostGIS ({reg.lon.size:,} stations, {reg.c_station.size:,} connectors loaded and "
            f"indexed in {pg.load_s:.1f} s); filter = EXISTS on a connectors table (index on "
            "station INCLUDE standard, kw, access, available: index-only), `available` "
            "precomputed per connector with the same freshness rule; one connection, prepared "
            "statements:"
        )
        print(
            "  knn = ORDER BY geom <-> point (planar, in degrees; what a PostGIS app writes), "
            "exact = ORDER BY ST_DistanceSphere (great circle, as we do; no KNN index order)"
        )
        print(f"  {'kind':<18} {'knn p50':>8} {'p99':>6} {'exact p50':>10} {'p99':>6}   "
              f"{'HTTP/knn p50':>12} {'p99':>6}   same stations knn / exact")  # fmt: skip
        knn, exact = pg.timings["knn"], pg.timings["exact"]
        agree = pg.same_sets
        for kind in NEARBY_KINDS:
            h, k, e = single[kind], knn[kind], exact[kind]
            print(
                f"  {kind:<18} {pct(k.ms, 50):6.2f}ms {pct(k.ms, 99):6.2f} "
                f"{pct(e.ms, 50):8.2f}ms {pct(e.ms, 99):6.2f}   "
                f"{pct(h.ms, 50) / pct(k.ms, 50):11.2f}× {pct(h.ms, 99) / pct(k.ms, 99):5.2f}×   "
                f"{100 * agree['knn'][kind]:5.1f}% / {100 * agree['exact'][kind]:5.1f}%"
            )
        for variant, plans in pg.plans.items():
            for kind, plan in plans.items():
                print(f"  plan {variant} {kind}: {plan[:140]}")

    # ------------------------------------------------------------------------- summary
    filtered_p99 = max(pct(single[k].ms, 99) for k in NEARBY_KINDS if k != "unfiltered")
    rows: list[tuple[str, str, str, str]] = [
        ("index build (process start → port answers)", f"{api.ready_s:.1f} s", "—", ""),
        ("API RSS after build (largest process)", f"{rss_built:,.0f} MB", f"≤ {TARGET_MB:,.0f} MB",
         verdict(rss_built <= TARGET_MB)),
        ("API peak RSS (VmHWM, largest process)", f"{hwm_end:,.0f} MB", f"≤ {TARGET_MB:,.0f} MB",
         verdict(hwm_end <= TARGET_MB)),
        ("nearby mixed, saturated throughput", f"{saturated['mixed'].rate:,.0f} req/s",
         f"≥ {TARGET_RATE:,.0f} req/s", verdict(saturated["mixed"].rate >= TARGET_RATE)),
        ("nearby filtered only, saturated throughput", f"{saturated['filtered'].rate:,.0f} req/s",
         f"≥ {TARGET_RATE:,.0f} req/s", verdict(saturated["filtered"].rate >= TARGET_RATE)),
        (f"nearby mixed p99 paced at {paced.rate:,.0f} req/s", f"{paced.p99:.2f} ms",
         f"≤ {TARGET_NEARBY_P99_MS:g} ms",
         verdict(paced.p99 <= TARGET_NEARBY_P99_MS and paced.rate >= 0.95 * TARGET_RATE)),
        (f"nearby mixed p99 saturated (c={args.connections})",
         f"{saturated['mixed'].p99:.2f} ms", f"≤ {TARGET_NEARBY_P99_MS:g} ms",
         verdict(saturated["mixed"].p99 <= TARGET_NEARBY_P99_MS)),
        ("nearby unfiltered p99, one at a time", f"{pct(single['unfiltered'].ms, 99):.2f} ms",
         f"≤ {TARGET_NEARBY_P99_MS:g} ms",
         verdict(pct(single["unfiltered"].ms, 99) <= TARGET_NEARBY_P99_MS)),
        ("nearby filtered p99 (worst kind), one at a time", f"{filtered_p99:.2f} ms",
         f"≤ {TARGET_NEARBY_P99_MS:g} ms", verdict(filtered_p99 <= TARGET_NEARBY_P99_MS)),
    ]  # fmt: skip
    for name, t in cluster_t.items():
        whole = name.startswith("China")
        rows.append(
            (f"clusters {name} p99 (first {t.first_ms:.0f} ms)", f"{pct(t.ms, 99):.1f} ms",
             f"≤ {TARGET_CLUSTER_P99_MS:g} ms" if whole else "—",
             verdict(pct(t.ms, 99) <= TARGET_CLUSTER_P99_MS) if whole else "")
        )  # fmt: skip
    if pg is not None:
        for kind in ("unfiltered", "gbt_dc>=60kW", "dc>=120kW+avail"):
            t, h = pg.timings["knn"][kind], single[kind]
            rows.append(
                (f"HTTP / PostGIS knn, nearby {kind} (p50, p99)",
                 f"{pct(h.ms, 50) / pct(t.ms, 50):.2f}×, {pct(h.ms, 99) / pct(t.ms, 99):.2f}×",
                 "—", "")
            )  # fmt: skip
    print(
        f"\nsummary (scale {args.scale:g}: {len(reg.ids):,} stations, {counts.evses:,} EVSEs, "
        f"{len(reg.c_station):,} connectors; {os.cpu_count()} cores, load average {loadavg()})"
    )
    width = max(len(r[0]) for r in rows)
    for what, value, target, ok in rows:
        print(f"  {what:<{width}}  {value:>16}  {target:>15}  {ok}")


if __name__ == "__main__":
    main()
