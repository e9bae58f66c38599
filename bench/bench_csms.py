"""The own chargers' CSMS under load: connections held by one process and its memory, messages
per second with schema validation on, and a reconnect storm — against the same load on a bare
``ocpp``-library server, with our figures as a ratio to it.

    python bench/bench_csms.py [--connections 20000] [--quick] [--seconds 8] [--active 1000]

The CSMS under test is ``chargemesh serve`` in its own process (uvicorn on uvloop; the CSMS
runs on the same loop) with a config written here: a SQLite store in a temporary directory,
``[csms]`` on a free loopback port, plain ws and then wss with a self-signed P-256 certificate
made at bench time. The chargers are registered straight into that store with the registry's
own rows (``OwnNetwork.station`` + ``store.add_own_charger``: what ``POST /api/v1/ops/chargers``
writes, without 20,000 HTTP requests). The load generator is ``csms_load.py``: worker processes
of raw OCPP-J 1.6 chargers (Basic auth, permessage-deflate offered as websockets does, source
addresses spread over 127.0.0.2…), never in the server's process.

Figures, per server and transport:

1. connections held by the one server process (``--connections``, default 20,000, ``--quick``
   2,000; each connected and its BootNotification answered, at most ``--in-flight`` handshakes
   under way per worker) and its RSS from ``/proc/PID/status`` before and with all held;
2. round trips per second with ``--active`` chargers calling back to back while the rest stay
   connected: MeterValues with a Heartbeat every fourth (validated against the 1.6 schemas, no
   store), then StatusNotification (each a change: our CSMS commits it through the status
   writer into the registry; the bare server drops it), with the server's CPU share;
3. a reconnect storm (``--storms``: over wss, the production profile, by default; both with
   ``--quick``): every connection cut at once (no close handshake) and every charger
   reconnecting and booting at once; the time until all are back and the rate, the SYNs the
   kernel dropped for a full listen queue, the handshakes retried, how many were told Pending
   (``[csms] boots_per_s``, ``--boots-per-s``), with ``--wait-accepted`` the time until all
   are Accepted (Pending chargers come back after the 10-60 s they were told), and the RSS
   the storm left.

Targets (issue 16): 20,000 connections with TLS in <= 2 GB RSS; >= 3,000 messages/s. The open
file limit caps what one process can hold (its hard limit is used; the figures say so when it
is below the target). A full run takes about 10-12 minutes on 2 cores, ``--quick`` about 2.
Benchmarks print; they assert nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import multiprocessing
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import csms_load
from benchlib import cpu_s, free_port, status_mb

HERE = Path(__file__).resolve().parent
FD_MARGIN = 64  # open files a server keeps beside its connections, beyond those at start
BEIJING = (116.40, 39.90)


# --- set-up ------------------------------------------------------------------------------------


def certificate(tmp: Path) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for 127.0.0.1 (the CSMS's tls_cert/tls_key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chargemesh bench CSMS")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp / "csms.pem", tmp / "csms.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))  # fmt: skip
    return cert_path, key_path


def register_fleet(url: str, n: int) -> list[tuple[str, str]]:
    """``n`` two-connector superchargers registered in the store at ``url``: (id, password)."""
    from chargemesh.config import CsmsConfig
    from chargemesh.csms.network import OwnNetwork, hash_password
    from chargemesh.domain.own import ChargerKind, OwnCharger
    from chargemesh.store import open_store

    network = OwnNetwork.from_config(CsmsConfig())
    rng = random.Random(16)
    run = secrets.token_hex(6)
    now = datetime.now(UTC)
    fleet: list[tuple[str, str]] = []
    with open_store(url) as store:
        store.upsert_operator(network.operator)
        store.upsert_tariffs([network.tariff])
        stations = []
        for k in range(n):
            cid, password = f"BENCH-{k:05d}", f"bench-{run}-{k:06d}"
            charger = OwnCharger(
                cid, hash_password(password), ChargerKind.SUPERCHARGER, f"Bench {k}",
                network.station_id(cid), 2, now,
            )  # fmt: skip
            store.add_own_charger(charger)
            lon, lat = BEIJING[0] + rng.uniform(-0.4, 0.4), BEIJING[1] + rng.uniform(-0.3, 0.3)
            stations.append(network.station(charger, lon, lat, [("gbt_dc", 600.0)] * 2, None, now))
            fleet.append((cid, password))
        for k in range(0, n, 1000):
            store.upsert_stations(stations[k : k + 1000], at=now)
    return fleet


# --- the server under test ---------------------------------------------------------------------


@dataclass
class Server:
    name: str  # "chargemesh" or "bare ocpp"
    tls: bool
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/ocpp"

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"{self.name} stopped at start:\n{self.log.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        sys.exit(f"{self.name} did not listen within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def on_uvloop(self) -> bool:
        return "uvloop" in Path(f"/proc/{self.pid}/maps").read_text()

    def fds(self) -> tuple[int, int]:
        """Open files and, of them, sockets."""
        total = sockets = 0
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            total += 1
            with contextlib.suppress(OSError):
                sockets += os.readlink(fd).startswith("socket:")
        return total, sockets


def start_ours(tmp: Path, url: str, tls: tuple[Path, Path] | None, boots_per_s: float) -> Server:
    port = free_port()
    tls_lines = f'tls_cert = "{tls[0]}"\ntls_key = "{tls[1]}"\n' if tls else ""
    config = tmp / f"chargemesh-{'wss' if tls else 'ws'}.toml"
    config.write_text(
        f'[store]\nurl = "{url}"\n\n[server]\nhost = "127.0.0.1"\nport = {free_port()}\n\n'
        f'[csms]\nhost = "127.0.0.1"\nport = {port}\nboots_per_s = {boots_per_s}\n{tls_lines}'
    )
    log = tmp / f"{config.stem}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "chargemesh", "serve", "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Server("chargemesh", tls is not None, process, port, log)


def start_bare(tmp: Path, tls: tuple[Path, Path] | None) -> Server:
    port = free_port()
    log = tmp / f"bare-{'wss' if tls else 'ws'}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(HERE / "csms_load.py"), "bare", str(port),
             *([str(tls[0]), str(tls[1])] if tls else [])],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Server("bare ocpp", tls is not None, process, port, log)


# --- the load generator ------------------------------------------------------------------------


class Load:
    """The worker processes, each holding a share of the fleet."""

    def __init__(self, fleet: list[tuple[str, str]], server: Server, cafile: Path | None,
                 workers: int, ips: list[str], deflate: bool) -> None:  # fmt: skip
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[Any] = []
        for w in range(workers):
            share = fleet[w::workers]
            mine, theirs = ctx.Pipe()
            process = ctx.Process(
                target=csms_load.worker,
                args=(theirs, share, server.url, str(cafile) if cafile else None, ips, deflate),
                daemon=True,
            )  # fmt: skip
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)

    def ask(self, command: str, **kw: Any) -> list[Any]:
        for pipe in self.pipes:
            pipe.send((command, kw))
        return [pipe.recv() for pipe in self.pipes]

    def cpu_s(self) -> float:
        return sum(cpu_s(p.pid) or 0.0 for p in self.processes)

    def rss_mb(self) -> float:
        return sum(status_mb(p.pid, "VmRSS") or 0.0 for p in self.processes)

    def close(self) -> None:
        try:
            self.ask("quit")
        finally:
            for p in self.processes:
                p.join(10)
                if p.is_alive():
                    p.kill()


# --- one server, one transport -----------------------------------------------------------------


@dataclass
class Figures:
    server: str
    transport: str
    target: int = 0
    held: int = 0
    limit_note: str = ""
    uvloop: bool = False
    rss_start: float = 0.0
    rss_held: float = 0.0
    rss_after: float = 0.0
    rss_peak: float = 0.0
    sockets: int = 0
    fill: dict[str, Any] = field(default_factory=dict)
    meter: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    storm: dict[str, Any] = field(default_factory=dict)
    loadgen_rss: float = 0.0

    @property
    def kib_per_conn(self) -> float:
        return (self.rss_held - self.rss_start) * 1024 / self.held if self.held else 0.0


def listen_drops() -> int:
    """SYNs or handshakes the kernel dropped because a listening socket's accept queue was full
    (``TcpExt: ListenDrops``, machine-wide)."""
    lines = [ln.split() for ln in Path("/proc/net/netstat").read_text().splitlines()
             if ln.startswith("TcpExt:")]  # fmt: skip
    return int(dict(zip(lines[0], lines[1], strict=True)).get("ListenDrops", 0))


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def merged(answers: list[dict[str, Any]], key: str) -> list[Any]:
    return [x for a in answers for x in a[key]]


def counted(answers: list[dict[str, Any]], key: str) -> dict[str, int]:
    total: dict[str, int] = {}
    for a in answers:
        for k, v in a[key].items():
            total[k] = total.get(k, 0) + v
    return total


def connect_figures(answers: list[dict[str, Any]]) -> dict[str, Any]:
    t0 = min(a["t0"] for a in answers)
    done = merged(answers, "done")
    took = merged(answers, "took")
    span = (max(done) - t0) if done else 0.0
    return {
        "back": len(done), "s": span, "rate": len(done) / span if span else 0.0,
        "p50": pct(took, 0.5), "p99": pct(took, 0.99), "errors": counted(answers, "errors"),
        "failed": sum(a["failed"] for a in answers),
        "pending": counted(answers, "statuses").get("Pending", 0), "t0": t0,
    }  # fmt: skip


def traffic(load: Load, server: Server, kind: str, active: int, seconds: float) -> dict[str, Any]:
    per_worker = max(1, active // len(load.pipes))
    start_at = time.monotonic() + 1.0  # a warm-up, then the window counted
    for pipe in load.pipes:
        pipe.send(("traffic", {"kind": kind, "active": per_worker, "start_at": start_at,
                               "seconds": seconds}))  # fmt: skip
    time.sleep(max(0.0, start_at - time.monotonic()))
    cpu0, gen0 = cpu_s(server.pid) or 0.0, load.cpu_s()
    time.sleep(seconds)
    cpu1, gen1 = cpu_s(server.pid) or 0.0, load.cpu_s()
    answers = [pipe.recv() for pipe in load.pipes]
    took = merged(answers, "took")
    count = sum(a["count"] for a in answers)
    return {
        "rate": count / seconds, "active": sum(a["active"] for a in answers),
        "p50": pct(took, 0.5), "p99": pct(took, 0.99), "errors": counted(answers, "errors"),
        "cpu": (cpu1 - cpu0) / seconds, "gen_cpu": (gen1 - gen0) / seconds,
    }  # fmt: skip


def run_case(server: Server, fleet: list[tuple[str, str]], args: argparse.Namespace,
             cafile: Path | None, ours: bool) -> Figures:  # fmt: skip
    f = Figures(server.name, "wss (TLS)" if server.tls else "ws", target=len(fleet))
    transport = "wss" if server.tls else "ws"
    load: Load | None = None
    try:
        server.wait_ready()
        time.sleep(2.0)  # start-up done (the platform's first status sweep, the index)
        f.uvloop = server.on_uvloop()
        f.rss_start = status_mb(server.pid, "VmRSS") or 0.0
        base_fds, base_sockets = server.fds()
        limit = fd_limit() - base_fds - FD_MARGIN
        n = min(len(fleet), limit)
        if n < len(fleet):
            f.limit_note = (
                f"{len(fleet):,} asked; the server's open-file limit is {fd_limit():,} "
                f"(hard, cannot be raised here) and it has {base_fds} files open at start"
            )
        workers = max(args.workers, -(-n // (fd_limit() - 256)))
        ips = csms_load.source_ips(args.source_ips)
        load = Load(fleet[:n], server, cafile, workers, ips, not args.no_deflate)
        print(f"  {server.name} {f.transport}: opening {n:,} connections "
              f"({workers} load workers)", flush=True)  # fmt: skip
        drops = listen_drops()
        f.fill = connect_figures(load.ask("open", in_flight=args.in_flight))
        f.fill["drops"] = listen_drops() - drops
        f.held = f.fill["back"]
        time.sleep(1.0)
        f.rss_held = status_mb(server.pid, "VmRSS") or 0.0
        f.sockets = server.fds()[1] - base_sockets
        f.loadgen_rss = load.rss_mb()
        print(f"  … {f.held:,} held, RSS {f.rss_held:,.0f} MB; traffic", flush=True)
        f.meter = traffic(load, server, "meter", args.active, args.seconds)
        f.status = traffic(load, server, "status", args.active, args.seconds)
        if transport in args.storms.split(","):
            print("  … reconnect storm", flush=True)
            drops = listen_drops()
            f.storm = connect_figures(load.ask("storm"))
            f.storm["drops"] = listen_drops() - drops
            if ours and args.wait_accepted in ("all", transport):
                wait_s = f.held / args.boots_per_s + 75
                answers = load.ask("accepted", deadline=time.monotonic() + wait_s)
                accepted = merged(answers, "accepted")
                f.storm["waiting"] = sum(a["waiting"] for a in answers)
                f.storm["accepted_s"] = max(accepted) - f.storm["t0"] if accepted else 0.0
        time.sleep(1.0)
        f.rss_after = status_mb(server.pid, "VmRSS") or 0.0
        f.rss_peak = status_mb(server.pid, "VmHWM") or 0.0
        return f
    finally:
        if load is not None:
            load.close()
        server.stop()


def fd_limit() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


# --- the table ---------------------------------------------------------------------------------


def cpu_us(phase: dict[str, Any]) -> float:
    return float(phase["cpu"] / phase["rate"] * 1e6) if phase["rate"] else 0.0


def ratio(ours: float, bare: float) -> str:
    return f"{ours / bare:.2f}" if bare else "-"


def table(cases: list[tuple[Figures, Figures | None]]) -> None:
    rows: list[tuple[str, Any]] = [
        ("event loop", lambda f: ("uvloop" if f.uvloop else "asyncio", None)),
        ("connections held", lambda f: (f"{f.held:,}", f.held)),
        ("  sockets the server holds", lambda f: (f"{f.sockets:,}", f.sockets)),
        ("  connect+boot /s (fill)", lambda f: (f"{f.fill['rate']:,.0f}", f.fill["rate"])),
        ("  fill: retries / failed", lambda f: (
            f"{sum(f.fill['errors'].values())} / {f.fill['failed']}", None)),
        ("  fill: SYNs dropped (listen queue)", lambda f: (f"{f.fill['drops']:,}", None)),
        ("RSS at start, MB", lambda f: (f"{f.rss_start:,.0f}", f.rss_start)),
        ("RSS with all held, MB", lambda f: (f"{f.rss_held:,.0f}", f.rss_held)),
        ("  KiB per connection", lambda f: (f"{f.kib_per_conn:,.1f}", f.kib_per_conn)),
        ("MeterValues+Heartbeat /s", lambda f: (f"{f.meter['rate']:,.0f}", f.meter["rate"])),
        ("  server CPU (cores)", lambda f: (f"{f.meter['cpu']:.2f}", f.meter["cpu"])),
        ("  server CPU µs per message", lambda f: (f"{cpu_us(f.meter):,.0f}", cpu_us(f.meter))),
        ("  p50 / p99 ms", lambda f: (
            f"{f.meter['p50'] * 1e3:.0f} / {f.meter['p99'] * 1e3:.0f}", None)),
        ("  CALLERRORs", lambda f: (f"{sum(f.meter['errors'].values())}", None)),
        ("StatusNotification /s", lambda f: (f"{f.status['rate']:,.0f}", f.status["rate"])),
        ("  server CPU (cores)", lambda f: (f"{f.status['cpu']:.2f}", f.status["cpu"])),
        ("  server CPU µs per message", lambda f: (
            f"{cpu_us(f.status):,.0f}", cpu_us(f.status))),
        ("  p50 / p99 ms", lambda f: (
            f"{f.status['p50'] * 1e3:.0f} / {f.status['p99'] * 1e3:.0f}", None)),
        ("storm: all back, s", lambda f: (f"{f.storm['s']:.1f}", f.storm["s"])),
        ("  connect+boot /s", lambda f: (f"{f.storm['rate']:,.0f}", f.storm["rate"])),
        ("  p50 / p99 reconnect, s", lambda f: (
            f"{f.storm['p50']:.1f} / {f.storm['p99']:.1f}", None)),
        ("  retries / failed", lambda f: (
            f"{sum(f.storm['errors'].values())} / {f.storm['failed']}", None)),
        ("  SYNs dropped (listen queue)", lambda f: (f"{f.storm['drops']:,}", None)),
        ("  told Pending", lambda f: (f"{f.storm['pending']:,}", None)),
        ("  all Accepted after, s", lambda f: (
            f"{f.storm['accepted_s']:.1f}" if "accepted_s" in f.storm else "-", None)),
        ("RSS at the end (after any storm), MB", lambda f: (f"{f.rss_after:,.0f}", f.rss_after)),
        ("peak RSS (VmHWM), MB", lambda f: (f"{f.rss_peak:,.0f}", f.rss_peak)),
        ("load generator RSS, MB", lambda f: (f"{f.loadgen_rss:,.0f}", None)),
    ]  # fmt: skip
    header = [
        "",
    ]
    for ours, bare in cases:
        header += [f"ours {ours.transport}", f"bare {ours.transport}" if bare else "", "ratio"]

    def cell(get: Any, f: Figures) -> tuple[str, float | None]:
        try:
            text, value = get(f)
        except KeyError:  # a phase this run left out
            return "-", None
        return str(text), value

    lines = [header]
    for label, get in rows:
        line = [label]
        for ours, bare in cases:
            text, value = cell(get, ours)
            if bare is None:
                line += [text, "", ""]
                continue
            btext, bvalue = cell(get, bare)
            both = value is not None and bvalue is not None
            line += [text, btext, ratio(value, bvalue) if both else ""]  # type: ignore[arg-type]
        lines.append(line)
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    for r in lines:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))))  # fmt: skip


def notes(cases: list[tuple[Figures, Figures | None]], args: argparse.Namespace) -> None:
    for ours, bare in cases:
        for f in (ours, bare):
            if f is None:
                continue
            if f.limit_note:
                print(f"- {f.server} {f.transport}: {f.limit_note}")
            if not f.uvloop:
                print(f"- {f.server} {f.transport}: NOT on uvloop")
            for phase, what in (
                ("fill", "retries"),
                ("storm", "retries"),
                ("meter", "errors"),
                ("status", "errors"),
            ):
                errors = getattr(f, phase).get("errors")
                if errors:
                    print(f"- {f.server} {f.transport} {phase} {what}: {errors}")
            if f.storm.get("waiting"):
                print(f"- {f.server} {f.transport}: {f.storm['waiting']} not Accepted "
                      "when the wait ended")  # fmt: skip
    print(
        "- load generator CPU during MeterValues: "
        + ", ".join(f"{o.transport} {o.meter['gen_cpu']:.2f} cores" for o, _ in cases)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2,000 connections, 3 s windows")
    parser.add_argument("--seconds", type=float, default=8.0, help="each traffic window")
    parser.add_argument("--active", type=int, default=1000, help="chargers calling back to back")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--source-ips", type=int, default=16)
    parser.add_argument(
        "--in-flight",
        type=int,
        default=40,
        help="handshakes under way per worker while the fleet first connects",
    )
    parser.add_argument(
        "--boots-per-s",
        type=float,
        default=200.0,
        help="[csms] boots_per_s of the CSMS under test (its default: 200)",
    )
    parser.add_argument(
        "--no-deflate", action="store_true", help="chargers do not offer permessage-deflate"
    )
    parser.add_argument("--transports", default="ws,wss")
    parser.add_argument(
        "--storms",
        help="the transports with a reconnect storm (default: wss, "
        "the production profile; ws,wss with --quick)",
    )
    parser.add_argument(
        "--wait-accepted",
        choices=("none", "ws", "wss", "all"),
        help="after which storms to wait until every charger is Accepted "
        "(default none: a Pending charger waits 10-60 s, which the figure "
        "would mostly be)",
    )
    parser.add_argument("--no-bare", action="store_true", help="skip the bare ocpp server")
    args = parser.parse_args()
    if args.quick:
        args.connections, args.seconds = min(args.connections, 2000), 3.0
    args.wait_accepted = args.wait_accepted or "none"
    args.storms = args.storms or ("ws,wss" if args.quick else "wss")
    csms_load.raise_fd_limit()

    began = time.monotonic()
    print(f"bench_csms: {args.connections:,} chargers, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} before the run, open-file limit {fd_limit():,}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-csms-") as name:
        tmp = Path(name)
        url = f"sqlite:///{tmp / 'csms.db'}"
        t = time.monotonic()
        fleet = register_fleet(url, args.connections)
        print(f"registered {len(fleet):,} chargers in {time.monotonic() - t:.1f} s")
        cert, key = certificate(tmp)
        cases: list[tuple[Figures, Figures | None]] = []
        for transport in args.transports.split(","):
            tls = (cert, key) if transport == "wss" else None
            cafile = cert if tls else None
            ours = run_case(start_ours(tmp, url, tls, args.boots_per_s), fleet, args, cafile,
                            ours=True)  # fmt: skip
            bare = None
            if not args.no_bare:
                bare = run_case(start_bare(tmp, tls), fleet, args, cafile, ours=False)
            cases.append((ours, bare))
    print()
    print(f"active chargers in the traffic windows: {args.active:,}, {args.seconds:g} s each; "
          f"fill: <= {args.in_flight} handshakes under way per worker; storm: all at once; "
          f"permessage-deflate {'off' if args.no_deflate else 'offered'}; "
          f"[csms] boots_per_s {args.boots_per_s:g}")  # fmt: skip
    table(cases)
    notes(cases, args)
    print(f"- run took {time.monotonic() - began:.0f} s; load average now "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
