"""``GET /api/v1/operators``: every operator the platform integrates, with its feed's health."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from chargemesh.config import StatusConfig
from chargemesh.domain import Operator, OperatorProtocol
from chargemesh.services.feeds.freshness import (
    PollHealth,
    StatusRefresher,
    feed_state,
    stale_by_operator,
)
from chargemesh.store import FeedHealth, Store
from chargemesh.store.repository import OperatorCounts

NONE = OperatorCounts(0, 0, 0)


#: what the public list says of a degraded feed, one fixed text per cause: the full reason
#: (error texts, URLs) is for the operations team only (``GET /api/v1/ops/feeds``)
POLLS_FAILING = "status polls failing"
STATUSES_STALE = "statuses older than the freshness limit"


class FeedHealthOut(BaseModel):
    """A feed's health as anyone may see it: states, counts and times, never an error's text,
    a URL or a secret."""

    state: str  # "never", "running", "ok", "degraded" (see reason), "failing" (last sync failed)
    reason: str | None  # why it is degraded: POLLS_FAILING and/or STATUSES_STALE
    stale_connectors: int  # live connectors with no status newer than the freshness limit
    last_poll: datetime | None  # when the last status poll that succeeded was sent
    poll_errors: int  # status polls failed in a row
    last_sync: datetime | None  # when the last sync finished
    last_success: datetime | None
    records: int  # stations the last sync took in
    errors: int  # failed syncs in a row
    lag_s: float | None  # how old the feed's data is: seconds since the last successful sync
    duration_s: float | None  # how long the last sync took


class ListingsOut(BaseModel):
    """What the feed lists, its duplicates of other networks' stations included."""

    stations: int
    evses: int
    connectors: int


class OperatorOut(BaseModel):
    id: str
    name: str
    protocol: str
    capabilities: list[str]
    status_freshness_s: float
    stations: int = Field(description="physical stations after merge, as the map counts them")
    evses: int
    connectors: int
    listings: ListingsOut
    feed: FeedHealthOut


@dataclass(frozen=True, slots=True)
class FeedView:
    """One operator's feed as the platform knows it, errors included: the public list and the
    operations list each show what is theirs of it."""

    operator: Operator
    counts: OperatorCounts  # physical stations after merge
    listings: OperatorCounts
    health: FeedHealth
    poll: PollHealth | None
    stale: int
    connectors: int
    state: str
    reason: str | None  # the full reason, error texts included
    public_reason: str | None
    now: datetime

    def public_feed(self) -> FeedHealthOut:
        h, poll = self.health, self.poll
        return FeedHealthOut(
            state=self.state,
            reason=self.public_reason,
            stale_connectors=self.stale,
            last_poll=poll.last_poll if poll else None,
            poll_errors=poll.errors if poll else 0,
            last_sync=h.last_finished,
            last_success=h.last_success,
            records=h.records,
            errors=h.errors,
            lag_s=(
                round((self.now - h.last_success).total_seconds(), 3) if h.last_success else None
            ),
            duration_s=h.duration_s,
        )

    def public(self) -> OperatorOut:
        op, c, listed = self.operator, self.counts, self.listings
        return OperatorOut(
            id=op.id,
            name=op.name,
            protocol=str(op.protocol),
            capabilities=sorted(str(x) for x in op.capabilities),
            status_freshness_s=op.status_freshness.total_seconds(),
            stations=c.stations,
            evses=c.evses,
            connectors=c.connectors,
            listings=ListingsOut(
                stations=listed.stations, evses=listed.evses, connectors=listed.connectors
            ),
            feed=self.public_feed(),
        )


def _view(
    op: Operator,
    health: FeedHealth | None,
    counts: OperatorCounts,
    listings: OperatorCounts,
    stale: tuple[int, int],
    refresher: StatusRefresher | None,
    now: datetime,
) -> FeedView:
    h = health or FeedHealth(op.id)
    if health is None and op.protocol is OperatorProtocol.OCPP:
        # the own network is no feed to sync: its chargers tell the CSMS themselves, and a
        # silent one is shown offline; its state is its statuses' freshness alone
        h = FeedHealth(op.id, state="ok")
    poll = refresher.health.get(op.id) if refresher is not None else None
    if poll is not None and poll.outdated_by(h.last_success):
        poll = None  # the sync after those failed polls brought every status anew
    settings = refresher.config.status if refresher is not None else StatusConfig()
    share = settings.degraded_stale_share

    def judged(stale_: int, connectors: int, poll_: PollHealth | None) -> tuple[str, str | None]:
        return feed_state(
            h.state, stale=stale_, connectors=connectors, freshness=op.status_freshness,
            poll=poll_, degraded_stale_share=share,
        )  # fmt: skip

    state, reason = judged(stale[0], stale[1], poll)
    public = None
    if state == "degraded":  # each cause judged alone by the same rule, named by a fixed text
        causes = [
            text
            for text, (alone, _) in (
                (POLLS_FAILING, judged(0, 0, poll)),
                (STATUSES_STALE, judged(stale[0], stale[1], None)),
            )
            if alone == "degraded"
        ]
        public = "; ".join(causes)
    return FeedView(op, counts, listings, h, poll, stale[0], stale[1], state, reason, public, now)


async def feed_views(store: Store, refresher: StatusRefresher | None) -> list[FeedView]:
    """Every operator's feed, as of now."""
    ops, health, counts, listings = await asyncio.gather(
        asyncio.to_thread(store.list_operators),
        asyncio.to_thread(store.feed_health),
        asyncio.to_thread(store.station_counts_by_operator),
        asyncio.to_thread(store.counts_by_operator),
    )
    now = datetime.now(UTC)
    stale = await asyncio.to_thread(stale_by_operator, store, ops, now)
    views = []
    for op in ops:
        own = (counts.get(op.id, NONE), listings.get(op.id, NONE), stale.get(op.id, (0, 0)))
        views.append(_view(op, health.get(op.id), *own, refresher, now))
    return views


def operators_router(store: Store, refresher: StatusRefresher | None = None) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["operators"])

    @router.get("/operators", response_model=list[OperatorOut])
    async def operators() -> list[OperatorOut]:
        """Each operator with its counts and its feed's health (last sync, records, errors,
        lag; ``degraded`` with a fixed reason when its status polls fail or its statuses go
        stale). Error texts and feed URLs are the operations team's: ``/api/v1/ops/feeds``."""
        return [view.public() for view in await feed_views(store, refresher)]

    return router
