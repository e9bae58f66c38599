"""The platform's HTTP application: protocol endpoints now, the driver API and map later."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chargemesh import __version__
from chargemesh.api.tcec import TcecPeer, TcecPlatformEndpoints
from chargemesh.bus import EventBus
from chargemesh.config import Config
from chargemesh.protocols.tcec.codec import Secrets
from chargemesh.protocols.tcec.wire import dialect_of
from chargemesh.services.status import StatusWriter
from chargemesh.store import Store


def tcec_peers(config: Config) -> dict[str, TcecPeer]:
    return {
        op.id: TcecPeer(op.id, Secrets.from_config(op.inbound), dialect_of(op.dialect))
        for op in config.operators
        if op.protocol == "tcec" and op.inbound is not None
    }


class Platform:
    """What the HTTP layer works with: the store, the bus and the status writer."""

    def __init__(self, store: Store, peers: Mapping[str, TcecPeer], bus: EventBus | None = None):
        self.store = store
        self.bus = bus or EventBus()
        self.writer = StatusWriter(store, self.bus)
        self.tcec = TcecPlatformEndpoints(peers=peers, store=store, writer=self.writer)

    def app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.writer.start()
            try:
                yield
            finally:
                await self.writer.stop()

        app = FastAPI(title="chargemesh", version=__version__, lifespan=lifespan)
        app.router.routes.extend(self.tcec.routes())
        return app
