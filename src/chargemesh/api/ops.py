"""``/api/v1/ops/``: what the operations team does over HTTP, each route behind an ops key
(``Depends(guards.ops)``: 401 without a live key, 403 for a driver's token).

- ``GET /ops/feeds``: every feed's health with what the public list leaves out (the sync's and
  the polls' error texts, the full reason a feed is degraded, the feed's URL);
- ``GET /ops/ocpi/parties`` and ``POST /ops/ocpi/invitations``: the OCPI connections with CPOs
  (as ``chargemesh ocpi parties`` / ``invite``); an invitation's answer is the one place its
  token A is shown;
- ``POST /ops/compatibility/campaigns``: a compatibility lab's test campaign imported (as
  ``chargemesh compat import``); one bad row refuses it all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from chargemesh.api.auth import Guards, responses
from chargemesh.api.operators import FeedHealthOut, OperatorOut, feed_views
from chargemesh.services.analytics.compatibility import (
    CampaignError,
    import_campaign,
    read_campaign,
)
from chargemesh.services.feeds.freshness import StatusRefresher
from chargemesh.services.feeds.ocpi_connections import OcpiConnections
from chargemesh.store import OcpiParty, Store

PARTY = r"^[A-Za-z]{2}-[0-9A-Za-z]{3}$"  # an OCPI party: country code - party id


class FeedDetailOut(FeedHealthOut):
    """A feed's health for the operations team: the public fields with the full reason (the
    polls' error and the stale counts in it), the errors, and where the feed is read from."""

    last_error: str | None = Field(description="the last failed sync's error")
    poll_last_error: str | None = Field(description="the last failed status poll's error")
    url: str | None = Field(description="the feed's URL (the configured one, else the party's)")


class OperatorFeedOut(OperatorOut):
    feed: FeedDetailOut


class PartyOut(BaseModel):
    """One OCPI connection, never its tokens."""

    id: str
    stage: str  # "invited", "registering", "registered" or "none"
    version: str | None
    endpoints: int
    modules: list[str]
    versions_url: str | None
    last_pull_from: str | None  # the locations pull's date_from
    updated_at: datetime | None


class InvitationIn(BaseModel):
    operator: str = Field(pattern=PARTY, description="the CPO, as CC-PID (e.g. CN-ABC)")


class InvitationOut(BaseModel):
    operator: str
    versions_url: str
    token: str = Field(description="token A: give it with versions_url to the CPO, once")


class CampaignIn(BaseModel):
    """A test campaign: one object per test charge, the fields of ``chargemesh compat import``
    (at, operator_id, vehicle_model, charger_manufacturer, charger_model, firmware,
    connector_standard, start_method, outcome, failure_reason)."""

    name: str = Field(min_length=1, max_length=200, pattern=r"\S")
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=1_000_000)


class CampaignOut(BaseModel):
    name: str
    imported: int
    failures: int


def ops_router(
    guards: Guards,
    store: Store,
    refresher: StatusRefresher | None,
    connections: OcpiConnections,
    feed_urls: Mapping[str, str],
) -> APIRouter:
    """The operations routes; ``feed_urls``: each configured operator's feed URL."""
    router = APIRouter(
        prefix="/api/v1/ops",
        dependencies=[Depends(guards.ops)],
        tags=["operations"],
        responses=responses(401, 403),
    )

    @router.get("/feeds", response_model=list[OperatorFeedOut])
    async def feeds() -> list[OperatorFeedOut]:
        """Every feed's health as ``GET /api/v1/operators`` shows it, with the errors: the last
        sync's and poll's error texts, the full reason it is degraded, its URL."""
        views, parties = await asyncio.gather(
            feed_views(store, refresher), asyncio.to_thread(store.list_ocpi_parties)
        )
        party_urls = {p.id.upper(): p.versions_url for p in parties if p.versions_url}
        out = []
        for view in views:
            public = view.public()
            op = view.operator.id
            detail = FeedDetailOut(
                **{**public.feed.model_dump(), "reason": view.reason},
                last_error=view.health.last_error,
                poll_last_error=view.poll.last_error if view.poll else None,
                url=feed_urls.get(op) or party_urls.get(op.upper()),
            )
            out.append(OperatorFeedOut(**{**public.model_dump(), "feed": detail}))
        return out

    @router.get("/ocpi/parties", response_model=list[PartyOut])
    async def parties() -> list[PartyOut]:
        """The OCPI connections and where each stands (as ``chargemesh ocpi parties``); tokens
        are never shown."""
        found = await asyncio.to_thread(store.list_ocpi_parties)
        return [_party(p) for p in found]

    @router.post("/ocpi/invitations", response_model=InvitationOut, status_code=201)
    async def invite(body: InvitationIn) -> InvitationOut:
        """A registration token A for a CPO (as ``chargemesh ocpi invite``): give it, with our
        versions URL, to the CPO out of band. It replaces any registration the CPO had. This
        answer is the only place the token is shown."""
        operator = body.operator.upper()
        token = await connections.invite(operator)
        return InvitationOut(operator=operator, versions_url=connections.versions_url, token=token)

    @router.post("/compatibility/campaigns", response_model=CampaignOut, status_code=201)
    async def import_test_campaign(body: CampaignIn) -> CampaignOut:
        """A compatibility lab's test campaign (as ``chargemesh compat import``): every row is
        checked first, one bad row refuses the campaign (422, naming the row and the field)
        and nothing is imported."""
        name = body.name.strip()
        try:
            attempts = read_campaign(json.dumps(body.rows), name, fmt="json")
        except CampaignError as exc:
            raise HTTPException(
                422, {"code": "bad_campaign", "reason": f"{exc}; nothing imported",
                      "advice": "fix the row and send the whole campaign again"},
            ) from None  # fmt: skip
        n = await asyncio.to_thread(import_campaign, store, attempts)
        failures = sum(1 for a in attempts if a.outcome != "success")
        return CampaignOut(name=name, imported=n, failures=failures)

    return router


def _party(p: OcpiParty) -> PartyOut:
    pulled = (p.sync_state.get("locations") or {}).get("date_from")
    return PartyOut(
        id=p.id, stage=p.stage, version=p.version, endpoints=len(p.endpoints),
        modules=sorted({e.get("identifier", "") for e in p.endpoints} - {""}),
        versions_url=p.versions_url, last_pull_from=None if pulled is None else str(pulled),
        updated_at=p.updated_at,
    )  # fmt: skip
