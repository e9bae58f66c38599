"""Own chargers across nodes (docs/cluster.md): which node holds which charger's websocket, and
commands to a charger from any node.

* **Ownership** lives in a NATS key-value bucket (``cm_charger_owners``, one key per charger:
  the hex of its id, as KV keys allow few characters): ``{node, conn, version}``. A node that
  accepts an authenticated connection *puts* its record — the newest connection wins, wherever
  it landed — and keeps it alive with a compare-and-set ``update`` every :data:`REFRESH_S`
  (the bucket forgets records after :data:`OWNER_TTL_S`: a node that dies leaves nothing for
  long). When the connection closes, the node deletes the record **only if it is still its
  own** (delete with the revision it last wrote): an old socket closing never deletes the new
  owner's record. Every node watches the bucket and keeps the owners in memory; a node that
  sees another node take one of its chargers closes its own, older connection.
* **Commands** (remote start/stop, availability, reset, unlock, firmware updates) go to the
  owning node by NATS request on ``cm.csms.<node>.cmd`` (one subscription per node, not per
  charger); the owner runs them on the charger's connection and answers. No responder (the
  owner died) or no record: the charger is offline, said at once, not after a hang.

:class:`ClusterLinks` is :class:`~chargemesh.csms.links.Links` for a cluster: ``get`` answers
with the local connection, else a :class:`RemoteLink` to the owner, else ``None``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

import orjson

from chargemesh.csms.links import ChargerLink, Links
from chargemesh.protocols.ocpp.messages import FirmwareAnswer, FirmwareRequest

log = logging.getLogger(__name__)

BUCKET: Final = "cm_charger_owners"
OWNER_TTL_S: Final = 120.0
REFRESH_S: Final = 40.0
CALL_TIMEOUT_S: Final = 25.0  # the owner's own call times out at 20 s


def subject(node: str) -> str:
    return f"cm.csms.{node}.cmd"


def key_of(charger_id: str) -> str:
    return charger_id.encode().hex()


def charger_of(key: str) -> str:
    return bytes.fromhex(key).decode()


@dataclasses.dataclass(frozen=True, slots=True)
class Owner:
    node: str
    conn: str  # one connection's id: a newer connection on the same node is another owner
    version: str  # "1.6" or "2.0.1"


# --- calls as they travel --------------------------------------------------------------------
def _encode_args(name: str, args: tuple[Any, ...]) -> list[Any]:
    if name == "update_firmware":
        request: FirmwareRequest = args[0]
        raw = dataclasses.asdict(request)
        raw["retrieve_at"] = request.retrieve_at.isoformat()
        return [raw]
    return list(args)


def _decode_args(name: str, args: list[Any]) -> tuple[Any, ...]:
    if name == "update_firmware":
        raw = dict(args[0])
        raw["retrieve_at"] = datetime.fromisoformat(raw["retrieve_at"])
        return (FirmwareRequest(**raw),)
    return tuple(args)


def _encode_result(result: Any) -> Any:
    if isinstance(result, FirmwareAnswer):
        return dataclasses.asdict(result)
    return result


CALLS: Final = frozenset(
    {"remote_start", "remote_stop", "change_availability", "reset", "unlock", "update_firmware"}
)


class RemoteLink:
    """A charger connected to another node, asked through that node (a ``ChargerLink``)."""

    def __init__(self, nc: Any, owner: Owner, charger_id: str) -> None:
        self.nc = nc
        self.owner = owner
        self.id = charger_id
        self.version = owner.version

    async def _call(self, name: str, *args: Any) -> Any:
        from nats.errors import NoRespondersError
        from nats.errors import TimeoutError as NatsTimeout

        body = orjson.dumps({"charger": self.id, "call": name, "args": _encode_args(name, args)})
        try:
            msg = await self.nc.request(subject(self.owner.node), body, timeout=CALL_TIMEOUT_S)
        except NoRespondersError:
            raise ConnectionError(f"node {self.owner.node} holding {self.id} is gone") from None
        except NatsTimeout:
            raise TimeoutError(f"node {self.owner.node} did not answer for {self.id}") from None
        reply = orjson.loads(msg.data)
        if "error" in reply:
            raise ConnectionError(reply["error"])
        return reply["result"]

    async def remote_start(self, connector: int, token: str, remote_start_id: int) -> bool:
        return bool(await self._call("remote_start", connector, token, remote_start_id))

    async def remote_stop(self, transaction_id: str) -> bool:
        return bool(await self._call("remote_stop", transaction_id))

    async def change_availability(self, connector: int, operative: bool) -> str | None:
        result = await self._call("change_availability", connector, operative)
        return None if result is None else str(result)

    async def reset(self, hard: bool) -> str | None:
        result = await self._call("reset", hard)
        return None if result is None else str(result)

    async def unlock(self, connector: int) -> str | None:
        result = await self._call("unlock", connector)
        return None if result is None else str(result)

    async def update_firmware(self, request: FirmwareRequest) -> FirmwareAnswer:
        return FirmwareAnswer(**await self._call("update_firmware", request))


class ClusterLinks(Links):
    """The chargers connected to this node and, through NATS, to the others."""

    def __init__(self, url: str, node_id: str) -> None:
        super().__init__()
        self.url = url
        self.node = node_id
        self.owners: dict[str, Owner] = {}  # every charger connected somewhere, as last seen
        self._held: dict[str, tuple[str, int]] = {}  # ours: charger → (conn, revision)
        self._conns: dict[int, str] = {}  # id(link) → its conn id
        self.nc: Any = None
        self.kv: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watcher: Any = None

    # --- life ----------------------------------------------------------------------------------
    async def start(self) -> None:
        import nats
        from nats.js.api import KeyValueConfig, StorageType

        self.nc = await nats.connect(
            self.url, name=f"chargemesh-csms-{self.node}", max_reconnect_attempts=-1,
            reconnect_time_wait=1, error_cb=self._nats_error,
        )  # fmt: skip
        js = self.nc.jetstream()
        try:
            self.kv = await js.key_value(BUCKET)
        except Exception:  # not there yet: the first node makes it (a race makes it twice: fine)
            self.kv = await js.create_key_value(KeyValueConfig(
                bucket=BUCKET, ttl=OWNER_TTL_S, history=1, storage=StorageType.MEMORY,
            ))  # fmt: skip
        await self.nc.subscribe(subject(self.node), cb=self._on_command)
        self._watcher = await self.kv.watchall()
        self._spawn(self._watch())
        self._spawn(self._refresh())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for charger_id in list(self._held):
            await self._release(charger_id)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()

    async def _nats_error(self, exc: Exception) -> None:
        log.warning("csms cluster: NATS: %s", exc)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- who holds a charger -------------------------------------------------------------------
    def get(self, charger_id: str) -> ChargerLink | None:
        local = super().get(charger_id)
        if local is not None:
            return local
        owner = self.owners.get(charger_id)
        if owner is None or owner.node == self.node or self.nc is None:
            return None
        return RemoteLink(self.nc, owner, charger_id)

    def elsewhere(self, charger_id: str) -> bool:
        """Held by another node (as far as this node has seen)."""
        owner = self.owners.get(charger_id)
        return owner is not None and owner.node != self.node

    async def attach(self, link: ChargerLink, socket: Any) -> None:
        await super().attach(link, socket)
        conn = uuid.uuid4().hex
        self._conns[id(link)] = conn
        owner = Owner(self.node, conn, link.version)
        self.owners[link.id] = owner
        try:
            revision = await self.kv.put(key_of(link.id), self._value(owner))
        except Exception:
            log.exception("csms cluster: could not record %s as held here", link.id)
            return
        if self._conns.get(id(link)) == conn:  # still this connection
            self._held[link.id] = (conn, revision)

    def detach(self, link: ChargerLink) -> bool:
        conn = self._conns.pop(id(link), None)
        gone = super().detach(link)
        if gone and conn is not None and self._held.get(link.id, ("", 0))[0] == conn:
            self._spawn(self._release(link.id))
        return gone

    @staticmethod
    def _value(owner: Owner) -> bytes:
        return orjson.dumps(dataclasses.asdict(owner))

    async def _release(self, charger_id: str) -> None:
        """Delete our record of ``charger_id`` if it is still ours (its revision unchanged)."""
        held = self._held.pop(charger_id, None)
        if held is None:
            return
        if self.owners.get(charger_id, Owner("", held[0], "")).conn == held[0]:
            self.owners.pop(charger_id, None)
        try:
            await self.kv.delete(key_of(charger_id), last=held[1])
        except Exception:  # another node's (or a newer) record: not ours to delete
            log.debug("csms cluster: %s is held by someone newer", charger_id)

    async def _refresh(self) -> None:
        """Keep our records alive (compare-and-set: one another node overwrote is not ours any
        more, and our connection is the older one)."""
        from nats.js.errors import KeyWrongLastSequenceError

        while True:
            await asyncio.sleep(REFRESH_S)
            for charger_id, (conn, revision) in list(self._held.items()):
                version = getattr(super().get(charger_id), "version", "")
                value = self._value(Owner(self.node, conn, version))
                try:
                    new = await self.kv.update(key_of(charger_id), value, last=revision)
                except KeyWrongLastSequenceError:
                    self._held.pop(charger_id, None)
                    continue
                except Exception:
                    log.warning("csms cluster: could not refresh %s", charger_id)
                    continue
                if self._held.get(charger_id, ("", 0))[0] == conn:
                    self._held[charger_id] = (conn, new)

    async def _watch(self) -> None:
        async for entry in self._watcher:
            if entry is None:  # the values there were when the watch began: all seen
                continue
            charger_id = charger_of(entry.key)
            if entry.operation in ("DEL", "PURGE") or not entry.value:
                self.owners.pop(charger_id, None)
                continue
            raw = orjson.loads(entry.value)
            owner = Owner(raw["node"], raw["conn"], raw["version"])
            self.owners[charger_id] = owner
            held = self._held.get(charger_id)
            if owner.node != self.node and held is not None:
                # it connected again through another node: ours is the older connection
                self._held.pop(charger_id, None)
                self._spawn(self._close_local(charger_id))

    async def _close_local(self, charger_id: str) -> None:
        held = self._links.get(charger_id)
        if held is not None:
            log.info("charger %s now connected through another node: closing ours", charger_id)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(held[1].close(1000, "connected through another node"), 5)

    # --- commands from other nodes -------------------------------------------------------------
    async def _on_command(self, msg: Any) -> None:
        self._spawn(self._run_command(msg))  # never block the subscription

    async def _run_command(self, msg: Any) -> None:
        try:
            request = orjson.loads(msg.data)
            name, charger_id = request["call"], request["charger"]
            link = super().get(charger_id)
            if name not in CALLS:
                reply: dict[str, Any] = {"error": f"unknown call {name!r}"}
            elif link is None:
                reply = {"error": f"charger {charger_id} is not connected to {self.node}"}
            else:
                method: Callable[..., Awaitable[Any]] = getattr(link, name)
                result = await asyncio.wait_for(
                    method(*_decode_args(name, request["args"])), CALL_TIMEOUT_S - 5
                )
                reply = {"result": _encode_result(result)}
        except Exception as exc:  # told to the asking node, in words
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(Exception):
            await msg.respond(orjson.dumps(reply))
