"""The event bus across nodes: NATS JetStream behind the in-process bus's interface.

Every node's outbox relay publishes its events here, and every node (the one that published
too) follows every node's events and hands them to its local handlers (search index, event
streams, session and campaign views) on its event loop, as :class:`~chargemesh.bus.EventBus`
does in one process.

* **Publishing.** An event reaches this node's own handlers at once (no round trip through
  the server) and is queued for the stream; a task stores the queue on the stream in order,
  each event with its outbox id as ``Nats-Msg-Id`` (the stream drops a repeat within its
  duplicate window). While the server is away the queue waits and is sent when it is back;
  the relay saves its position only as far as the stream has stored (:meth:`stored_through`),
  so a node that dies meanwhile publishes the rest again when it starts.
* **Subjects.** ``<subjects>.<kind>.<key>``: a status change is keyed by its connector and the
  stream keeps one message per subject, so a node catching up gets the latest status of each
  connector changed meanwhile; every other event is keyed by its id (none is ever replaced).
* **Following.** An ordered ephemeral consumer (no name to clean up when a node dies) from
  the stream's end when the node starts, before its index is built from PostgreSQL: whatever
  is committed after that build began reaches it. After a partition, or a server restart, the
  consumer resumes after the last message it delivered. Repeats are dropped by event id (the
  node's own events coming back, a relay or the sweeper publishing again).
* :class:`OutboxSweeper`, run by the cluster's leader, publishes what a node committed and
  never published (killed between its commit and its publish).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING

import nats
from nats.aio.msg import Msg
from nats.js import api
from nats.js.errors import BadRequestError

from chargemesh.bus import EventBus
from chargemesh.config import BusConfig
from chargemesh.domain.events import Event, StatusChanged
from chargemesh.events import codec

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

    from chargemesh.events.relay import OutboxRelay
    from chargemesh.store import Store

log = logging.getLogger(__name__)

BATCH = 500  # events sent before their acknowledgements are awaited together
ACK_TIMEOUT_S = 5.0  # a batch not acknowledged by then is sent again (repeats are dropped)
RETRY_S = 0.5  # after a failed batch, while the connection is up
RECONNECT_WAIT_S = 0.5  # between attempts to reach the server again (attempts never end)
DUPLICATE_WINDOW_S = 120.0  # the stream drops an event id it stored this recently
DRAIN_S = 5.0  # at stop, the queue's time to reach the stream (what does not: the relay's)


def _token(text: str) -> str:
    """``text`` as one subject token (ids may hold dots, spaces or wildcards)."""
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


class NatsBus(EventBus):
    def __init__(self, config: BusConfig, node_id: str) -> None:
        super().__init__()
        self.config = config
        self.node_id = node_id
        self.latest_id = 0  # the highest event id seen, here or from the stream
        self._outgoing: deque[Event] = deque()
        self._more = asyncio.Event()
        self._empty = asyncio.Event()
        self._online = asyncio.Event()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PushSubscription | None = None
        self._sender: asyncio.Task[None] | None = None
        self._kind_at = len(config.subjects.split("."))  # the subject token naming the kind
        self._after = 0  # the stream sequence delivered last

    @property
    def online(self) -> bool:
        """Connected to the server (and following the stream)."""
        return self._online.is_set()

    def seen(self, event_id: int) -> bool:
        """Whether this node has had the event (published it, or received it)."""
        return event_id in self._seen

    # --- the bus -----------------------------------------------------------------------------
    def publish(self, events: Iterable[Event], *, remote: bool = False) -> None:
        """This node's events (``remote`` is never set here): to its handlers now, to every
        node through the stream (queued, in order)."""
        for event in events:
            if event.event_id is None:
                raise ValueError("an event reaches other nodes from the outbox, with its row's id")
            if event.event_id in self._seen:
                continue
            self.latest_id = max(self.latest_id, event.event_id)
            super().publish((event,))
            self._outgoing.append(event)
        if self._outgoing:
            self._empty.clear()
            self._more.set()

    def stored_through(self, position: int) -> int:
        """``position``, or just before the first event the stream has not stored yet: how far
        the relay may save (a node that dies republishes the rest when it starts)."""
        if not self._outgoing:
            return position
        first = min(e.event_id for e in self._outgoing if e.event_id is not None)
        return min(position, first - 1)

    # --- lifetime ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, make the stream if it is not there, follow it from its end; fails if the
        server cannot be reached (a node without its bus would miss the others' changes)."""
        if self._nc is not None:
            return
        self._nc = await nats.connect(
            servers=[u.strip() for u in self.config.url.split(",")],
            name=self.node_id,
            connect_timeout=self.config.connect_timeout_s,
            max_reconnect_attempts=-1,  # the default gives up after two minutes
            reconnect_time_wait=RECONNECT_WAIT_S,
            error_cb=self._error,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
            closed_cb=self._closed,
        )
        self._js = self._nc.jetstream(timeout=self.config.connect_timeout_s)
        end = await self._stream_end()
        self._after = end
        self._sub = await self._js.subscribe(
            f"{self.config.subjects}.>",
            stream=self.config.stream,
            cb=self._received,
            ordered_consumer=True,
            idle_heartbeat=self.config.heartbeat_s,
            # from the last message stored (dropped as delivered before): the consumer, when
            # recreated, resumes after the last one it delivered
            config=api.ConsumerConfig(
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(1, end)
            ),
        )
        self._online.set()
        self._sender = asyncio.create_task(self._send(), name="nats bus sender")
        log.info("event bus: node %s on stream %s from sequence %d", self.node_id,
                 self.config.stream, end + 1)  # fmt: skip

    async def stop(self) -> None:
        """Give the queue a moment to reach the stream, then unsubscribe and close."""
        if self._nc is None:
            return
        if self._outgoing and self.online:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._empty.wait(), DRAIN_S)
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None
        nc, self._nc = self._nc, None
        self._online.clear()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        try:
            await nc.drain()
        except Exception:  # the server away: no draining, but no more reconnecting either
            await nc.close()
        if self._outgoing:
            log.warning("event bus: %d events not stored at stop (published again at start)",
                        len(self._outgoing))  # fmt: skip

    async def _stream_end(self) -> int:
        """Make (or bring to this configuration) the stream; its last sequence."""
        assert self._js is not None
        stream = api.StreamConfig(
            name=self.config.stream,
            subjects=[f"{self.config.subjects}.>"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            max_age=float(self.config.retention_s),
            max_msgs_per_subject=1,
            duplicate_window=DUPLICATE_WINDOW_S,
            discard=api.DiscardPolicy.OLD,
        )
        try:
            info = await self._js.add_stream(stream)
        except BadRequestError:  # there, made otherwise
            info = await self._js.update_stream(stream)
        return int(info.state.last_seq)

    # --- to the stream -------------------------------------------------------------------------
    def _subject(self, event: Event) -> str:
        kind = type(event).__name__
        if isinstance(event, StatusChanged):
            key = f"{_token(event.station_id)}.{_token(event.connector_id)}"
        else:
            key = str(event.event_id)
        return f"{self.config.subjects}.{kind}.{key}"

    async def _send(self) -> None:
        """Store the queue on the stream, in order, a batch at a time; a batch that fails is
        sent again once the connection is up (the stream drops what it already stored)."""
        while True:
            await self._more.wait()
            self._more.clear()
            while self._outgoing:
                await self._online.wait()
                batch = list(islice(self._outgoing, BATCH))
                try:
                    await self._store(batch)
                except Exception as exc:  # a timeout, the connection lost, the server busy
                    log.warning("event bus: %d events not stored (%r); sending again",
                                len(batch), exc)  # fmt: skip
                    await asyncio.sleep(RETRY_S)
                    continue
                for _ in batch:
                    self._outgoing.popleft()
            self._empty.set()

    async def _store(self, batch: list[Event]) -> None:
        assert self._js is not None
        acks: list[asyncio.Future[api.PubAck]] = []
        try:
            for event in batch:
                _, payload = codec.encode(event)
                acks.append(
                    await self._js.publish_async(
                        self._subject(event),
                        payload.encode(),
                        headers={api.Header.MSG_ID: str(event.event_id)},
                    )
                )
            await asyncio.wait_for(asyncio.gather(*acks), ACK_TIMEOUT_S)
        finally:
            for ack in acks:  # those still waiting when a batch fails: it is sent again
                ack.cancel()

    # --- from the stream -----------------------------------------------------------------------
    async def _received(self, msg: Msg) -> None:
        """On the event loop, for every node's event in stream order: to the local handlers
        (sync and fast; nothing here waits)."""
        sequence = msg.metadata.sequence.stream
        if sequence <= self._after:  # delivered again: the consumer was recreated
            return
        self._after = sequence
        try:
            event_id = int((msg.headers or {})[api.Header.MSG_ID])
            kind = msg.subject.split(".")[self._kind_at]
            if event_id in self._seen:
                return
            event = codec.decode(kind, msg.data.decode(), event_id)
        except Exception:  # a message no node of this version wrote: skipped, not fatal
            log.exception("event bus: cannot read %s (sequence %d)", msg.subject, sequence)
            return
        self.latest_id = max(self.latest_id, event_id)
        super().publish((event,), remote=True)

    # --- the connection's news -----------------------------------------------------------------
    async def _error(self, exc: Exception) -> None:
        log.warning("event bus: %r", exc)

    async def _disconnected(self) -> None:
        if self._nc is not None:
            self._online.clear()
            log.warning("event bus: disconnected from the server; reconnecting")

    async def _reconnected(self) -> None:
        self._online.set()
        log.info("event bus: reconnected")

    async def _closed(self) -> None:
        if self._nc is not None:  # not our stop: nothing will reach the other nodes
            log.error("event bus: the connection closed; this node no longer follows the others")


class OutboxSweeper:
    """Run by the cluster's leader: publishes the outbox rows no node published, a node having
    died between its commit and its relay's publish. Every ``every_s`` it reads the rows after
    its position; one the bus has not seen within ``grace_s`` of being read is published (a
    live node's relay publishes its own well within that; a repeat is dropped anyway)."""

    LOOKBACK = 50_000  # a new leader looks back this many ids (well within what a bus remembers)

    def __init__(
        self,
        store: Store,
        bus: NatsBus,
        relay: OutboxRelay,
        *,
        every_s: float = 1.0,
        grace_s: float = 1.0,
    ) -> None:
        self.store = store
        self.bus = bus
        self.relay = relay
        self.every_s = every_s
        self.grace_s = grace_s
        self.position: int | None = None  # every row up to it is seen or published
        self._unseen: dict[int, float] = {}  # outbox id → when first read unseen

    async def run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # the next sweep tries again
                log.exception("sweeping the outbox failed")
            await asyncio.sleep(self.every_s)

    async def sweep(self) -> int:
        """Publish the rows unseen for ``grace_s``; how many. Not while the bus is away (it
        cannot tell what the others published)."""
        if not self.bus.online:
            return 0
        if self.position is None:  # this node's bus has seen what came after its relay resumed
            self.position = max(self.relay.resumed_at, self.bus.latest_id - self.LOOKBACK)
        rows = await asyncio.to_thread(self._rows_after, self.position)
        now = asyncio.get_running_loop().time()
        late: list[Event] = []
        settled = True
        for event_id, event in rows:
            if not self.bus.seen(event_id):
                if now - self._unseen.setdefault(event_id, now) < self.grace_s:
                    settled = False
                    continue
                late.append(event)
            if settled:
                self.position = event_id
        if late:
            log.warning("outbox sweep: %d events committed and never published (a node died?)",
                        len(late))  # fmt: skip
            self.bus.publish(late)
        self._unseen = {i: t for i, t in self._unseen.items() if i > self.position}
        return len(late)

    def _rows_after(self, position: int) -> list[tuple[int, Event]]:
        rows: list[tuple[int, Event]] = []
        while page := self.store.outbox_after(position):
            rows.extend(page)
            position = page[-1][0]
        return rows
