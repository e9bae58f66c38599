"""``GET /api/v1/operators``: every operator the platform integrates, with its feed's health."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from chargemesh.config import StatusConfig
from chargemesh.domain import Operator
from chargemesh.services.feeds.freshness import StatusRefresher, feed_state, stale_by_operator
from chargemesh.store import FeedHealth, Store
from chargemesh.store.repository import OperatorCounts

NONE = OperatorCounts(0, 0, 0)


class FeedHealthOut(BaseModel):
    state: str  # "never", "running", "ok", "degraded" (see reason), "failing" (last sync failed)
    reason: str | None  # why it is degraded
    stale_connectors: int  # live connectors with no status newer than the freshness limit
    last_poll: datetime | None  # when the last status poll that succeeded was sent
    poll_errors: int  # status polls failed in a row
    last_sync: datetime | None  # when the last sync finished
    last_success: datetime | None
    records: int  # stations the last sync took in
    errors: int  # failed syncs in a row
    last_error: str | None
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


def _feed(
    health: FeedHealth | None,
    now: datetime,
    op: Operator,
    stale: tuple[int, int],
    refresher: StatusRefresher | None,
) -> FeedHealthOut:
    h = health or FeedHealth("")
    poll = refresher.health.get(op.id) if refresher is not None else None
    settings = refresher.config.status if refresher is not None else StatusConfig()
    state, reason = feed_state(
        h.state, stale=stale[0], connectors=stale[1], freshness=op.status_freshness, poll=poll,
        degraded_stale_share=settings.degraded_stale_share,
    )  # fmt: skip
    return FeedHealthOut(
        state=state,
        reason=reason,
        stale_connectors=stale[0],
        last_poll=poll.last_poll if poll else None,
        poll_errors=poll.errors if poll else 0,
        last_sync=h.last_finished,
        last_success=h.last_success,
        records=h.records,
        errors=h.errors,
        last_error=h.last_error,
        lag_s=round((now - h.last_success).total_seconds(), 3) if h.last_success else None,
        duration_s=h.duration_s,
    )


def operators_router(store: Store, refresher: StatusRefresher | None = None) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["operators"])

    @router.get("/operators", response_model=list[OperatorOut])
    async def operators() -> list[OperatorOut]:
        """Each operator with its counts and its feed's health (last sync, records, errors,
        lag; ``degraded`` with a reason when its status polls fail or its statuses go stale)."""
        ops, health, counts, listings = await asyncio.gather(
            asyncio.to_thread(store.list_operators),
            asyncio.to_thread(store.feed_health),
            asyncio.to_thread(store.station_counts_by_operator),
            asyncio.to_thread(store.counts_by_operator),
        )
        now = datetime.now(UTC)
        stale = await asyncio.to_thread(stale_by_operator, store, ops, now)
        out = []
        for op in ops:
            c = counts.get(op.id, NONE)
            listed = listings.get(op.id, NONE)
            out.append(
                OperatorOut(
                    id=op.id,
                    name=op.name,
                    protocol=str(op.protocol),
                    capabilities=sorted(str(x) for x in op.capabilities),
                    status_freshness_s=op.status_freshness.total_seconds(),
                    stations=c.stations,
                    evses=c.evses,
                    connectors=c.connectors,
                    listings=ListingsOut(
                        stations=listed.stations,
                        evses=listed.evses,
                        connectors=listed.connectors,
                    ),
                    feed=_feed(health.get(op.id), now, op, stale.get(op.id, (0, 0)), refresher),
                )
            )
        return out

    return router
