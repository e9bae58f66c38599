"""``GET /api/v1/events``: status changes as server-sent events, optionally for a bounding box.

Each change the index applies (a T/CEC push or poll, an OCPI PATCH…) is put on every open
stream at once, from whichever thread applied it. A client too slow to keep up loses the
oldest changes and is told so with an ``event: overflow`` (it should reload what it shows).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from chargemesh.api.auth import Credentials, Guards
from chargemesh.api.search import parse_bbox
from chargemesh.api.sessions import session_out
from chargemesh.bus import EventBus
from chargemesh.domain.events import SessionUpdated, StatusChanged
from chargemesh.geo.coords import wgs84_to_gcj02
from chargemesh.search.index import StationIndex
from chargemesh.services.charging.sessions import SessionService

QUEUE = 10_000
HEARTBEAT_S = 15.0


@dataclass(eq=False)
class _Stream:
    loop: asyncio.AbstractEventLoop
    bbox: tuple[float, float, float, float] | None
    session_id: str | None = None  # only this session's updates
    account_id: str | None = None  # whose session: the signed-in owner's stream only
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    overflowed: bool = False

    def put(self, message: bytes) -> None:  # on the stream's loop
        if self.queue.full():
            self.overflowed = True
            self.queue.get_nowait()
        self.queue.put_nowait(message)


class EventStreams:
    """The open SSE streams; fed by the index's listener hook."""

    def __init__(self, index: StationIndex, bus: EventBus) -> None:
        self.index = index
        self.streams: set[_Stream] = set()
        index.listeners.append(self._on_status)
        bus.subscribe(SessionUpdated, self._on_session)

    def _on_session(self, event: SessionUpdated) -> None:
        session = event.session
        mine = [
            s
            for s in tuple(self.streams)
            if s.session_id == session.id and s.account_id == session.account_id
        ]
        if not mine:
            return
        body = session_out(event.session, datetime.now(UTC)).model_dump_json().encode()
        message = b"event: session\ndata: " + body + b"\n\n"
        for stream in mine:
            with contextlib.suppress(RuntimeError):
                stream.loop.call_soon_threadsafe(stream.put, message)

    def _on_status(self, event: StatusChanged, station_available: int | None) -> None:
        if not self.streams or event.station_id in self.index.private:
            return  # a home charger's status is its owner's business only
        found = self.index.locate(event.station_id)
        lon = lat = None
        if found is not None:
            lon, lat = float(found[0].lon[found[1]]), float(found[0].lat[found[1]])
        message = (
            b"event: status\ndata: "
            + orjson.dumps(
                {
                    "connector_id": event.connector_id,
                    "station_id": event.station_id,
                    "operator_id": event.operator_id,
                    "status": str(event.status),
                    "previous": str(event.previous),
                    "at": event.at.isoformat(),
                    "source": event.source,
                    "station_available": station_available,
                }
            )
            + b"\n\n"
        )
        for stream in tuple(self.streams):
            if stream.session_id is not None:
                continue
            if stream.bbox is not None:
                if lon is None or lat is None:
                    continue
                west, south, east, north = stream.bbox
                if not (west <= lon <= east and south <= lat <= north):
                    continue
            with contextlib.suppress(RuntimeError):  # its loop has closed
                stream.loop.call_soon_threadsafe(stream.put, message)

    async def stream(
        self,
        bbox: tuple[float, float, float, float] | None,
        request: Request,
        session_id: str | None = None,
        account_id: str | None = None,
    ) -> AsyncIterator[bytes]:
        me = _Stream(asyncio.get_running_loop(), bbox, session_id, account_id)
        self.streams.add(me)
        try:
            yield b": chargemesh status stream\nretry: 2000\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(me.queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keep-alive\n\n"
                    continue
                if me.overflowed:
                    me.overflowed = False
                    yield b"event: overflow\ndata: {}\n\n"
                yield message
        finally:
            self.streams.discard(me)


def events_router(streams: EventStreams, guards: Guards, sessions: SessionService) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["live status"])

    @router.get(
        "/events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def events(
        request: Request,
        credentials: Credentials,
        bbox: Annotated[
            str | None, Query(description="only stations in west,south,east,north")
        ] = None,
        coords: Annotated[Literal["gcj02", "wgs84"], Query()] = "gcj02",
        session: Annotated[
            str | None, Query(description="only this charging session's updates")
        ] = None,
    ) -> StreamingResponse:
        """Server-sent events: ``event: status`` with ``{"connector_id", "station_id",
        "operator_id", "status", "previous", "at", "source", "station_available"}`` for each
        connector status change, as it is applied; with ``session=``, ``event: session`` with
        the session (as ``GET /api/v1/sessions/{id}``) at each change of state or reading —
        only for its owner's access token (``Authorization: Bearer``; 401 without, 404 for
        another account's session)."""
        account = None
        if session is not None:
            account = await guards.driver(credentials)
            if await sessions.get(session, account) is None:
                raise HTTPException(404, f"no session {session!r} in this account")
        box = parse_bbox(bbox) if bbox is not None else None
        if box is not None and coords == "wgs84":
            west, south = wgs84_to_gcj02(box[0], box[1])
            east, north = wgs84_to_gcj02(box[2], box[3])
            box = (west, south, east, north)
        return StreamingResponse(
            streams.stream(box, request, session, account),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
