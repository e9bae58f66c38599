"""Firmware over HTTP (docs/firmware.md): operations upload images and run campaigns
(``/api/v1/ops/firmware``, ``/api/v1/ops/campaigns``, an ops key), and chargers download images
from the platform itself (``GET /firmware/{sha256}``, a link per charger that expires, with
``Range`` so a charger on a bad link resumes)."""

# No ``from __future__ import annotations``: FastAPI reads the annotations of the routes.

import asyncio
from datetime import UTC, datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Query, Response
from pydantic import BaseModel, Field, field_validator

from chargemesh.api.auth import Guards, responses
from chargemesh.csms.campaign_plan import PlanRefused, Target, plan
from chargemesh.csms.service import Csms
from chargemesh.domain.firmware import Campaign, FirmwareImage, Rules, Window, count
from chargemesh.services.firmware.images import ImageRefused, add_image, byte_range
from chargemesh.store import Store


class FirmwareOut(BaseModel):
    id: str
    version: str
    models: list[str]
    sha256: str
    size: int
    signed: bool
    created_at: datetime


def _firmware_out(i: FirmwareImage) -> FirmwareOut:
    return FirmwareOut(
        id=i.id, version=i.version, models=list(i.models), sha256=i.sha256, size=i.size,
        signed=i.signature is not None, created_at=i.created_at,
    )  # fmt: skip


class TargetIn(BaseModel):
    kind: Literal["supercharger", "home"] | None = None
    models: list[Annotated[str, Field(max_length=50)]] = Field(default_factory=list, max_length=50)
    versions: list[Annotated[str, Field(max_length=50)]] = Field(default_factory=list,
                                                                 max_length=50)  # fmt: skip
    chargers: list[Annotated[str, Field(max_length=48)]] = Field(
        default_factory=list, max_length=100_000,
        description="these chargers, in this order (waves take them in order)",
    )  # fmt: skip


class WindowIn(BaseModel):
    start: time = Field(description="local time updates may start from, e.g. 01:00")
    end: time = Field(description="local time after which no update starts, e.g. 05:00")
    tz: str = Field("Asia/Shanghai", max_length=64)

    @field_validator("tz")
    @classmethod
    def known_zone(cls, tz: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r}") from None
        return tz


class CampaignIn(BaseModel):
    firmware: str = Field(max_length=40, description="the image's id")
    target: TargetIn = Field(default_factory=TargetIn)
    waves: list[Annotated[int, Field(ge=1)]] = Field(
        min_length=1, max_length=20,
        description="wave sizes, the canary first; chargers beyond their sum join the last",
    )  # fmt: skip
    error_threshold: float = Field(0.1, ge=0, le=1)
    success_threshold: float = Field(0.9, ge=0, le=1)
    min_finished: int | None = Field(
        None, ge=1, description="finished chargers a wave needs before its error gate judges "
        "(default: a tenth of the wave, at least one)",
    )  # fmt: skip
    soak_s: float = Field(600, ge=0, le=7 * 86_400)
    window: WindowIn | None = None
    max_per_site: int = Field(1, ge=1, le=100)
    max_in_flight: int | None = Field(None, ge=1, description="chargers updating at once in all")
    timeout_s: float = Field(3600, ge=10, le=7 * 86_400)
    retries: int = Field(2, ge=0, le=10)
    start_at: datetime | None = None
    deadline: datetime | None = None

    def rules(self) -> Rules:
        w = self.window
        return Rules(
            waves=tuple(self.waves), error_threshold=self.error_threshold,
            success_threshold=self.success_threshold, min_finished=self.min_finished,
            soak_s=self.soak_s, window=Window(w.start, w.end, w.tz) if w else None,
            max_per_site=self.max_per_site, max_in_flight=self.max_in_flight,
            timeout_s=self.timeout_s, retries=self.retries,
            deadline=self.deadline,
        )  # fmt: skip


class WaveOut(BaseModel):
    wave: int  # 1-based
    size: int
    state: str  # waiting, open, passed, halted
    pending: int
    in_flight: int
    updated: int
    failed: int
    skipped: int
    failures: dict[str, int]  # by reason


class UpdateOut(BaseModel):
    charger_id: str
    wave: int
    state: str
    reason: str | None
    from_version: str | None
    attempts: int
    updated_at: datetime


class EventOut(BaseModel):
    at: datetime
    charger_id: str | None
    event: str


class CampaignOut(BaseModel):
    id: str
    firmware: str
    version: str
    state: str
    reason: str | None
    wave: int  # the highest wave open, 1-based
    target: dict[str, object]
    created_at: datetime
    updated_at: datetime
    chargers: int
    updated: int
    failed: int


class CampaignDetailOut(CampaignOut):
    waves: list[WaveOut]
    updates: list[UpdateOut]
    history: list[EventOut]


def firmware_router(guards: Guards, store: Store, csms: Csms | None) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1/ops", tags=["operations"], dependencies=[Depends(guards.ops)],
        responses=responses(401, 403),
    )  # fmt: skip

    def running() -> Csms:
        if csms is None or csms.campaigns is None:
            raise HTTPException(409, {"code": "no_csms", "reason": "this platform runs no CSMS",
                                      "advice": "add a [csms] section to the config"})  # fmt: skip
        return csms

    @router.post("/firmware", response_model=FirmwareOut, status_code=201)
    async def upload(
        file: Annotated[bytes, File(description="the image")],
        version: Annotated[str, Form(max_length=50)],
        models: Annotated[str, Form(max_length=2000, description="comma-separated models")],
    ) -> FirmwareOut:
        """Upload an image (kept by its sha256, signed when the platform has a signing key)."""
        own = running()
        try:
            image = await asyncio.to_thread(add_image, store, file, version, models, own.signer,
                                            datetime.now(UTC))  # fmt: skip
        except ImageRefused as exc:
            raise HTTPException(exc.status, str(exc)) from None
        return _firmware_out(image)

    @router.get("/firmware", response_model=list[FirmwareOut])
    async def images() -> list[FirmwareOut]:
        return [_firmware_out(i) for i in await asyncio.to_thread(store.list_firmware)]

    @router.post("/campaigns", response_model=CampaignDetailOut, status_code=201)
    async def create(body: CampaignIn) -> CampaignDetailOut:
        """Start a campaign (at ``start_at``, else at once): waves of the target's chargers,
        the canary first."""
        running()
        image = await asyncio.to_thread(store.firmware, body.firmware)
        if image is None:
            raise HTTPException(422, f"no firmware {body.firmware!r}")
        t = body.target
        target = Target(t.kind, tuple(t.models), tuple(t.versions), tuple(t.chargers))
        chargers = await asyncio.to_thread(store.own_chargers)
        busy: set[str] = set()
        for live in await asyncio.to_thread(store.live_campaigns):
            ups = await asyncio.to_thread(store.campaign_updates, live.id)
            busy.update(u.charger_id for u in ups if not u.state.final)
        try:
            made = plan(image, target, body.rules(), chargers, busy, datetime.now(UTC),
                        body.start_at)  # fmt: skip
        except PlanRefused as exc:
            raise HTTPException(exc.status, str(exc)) from None
        await asyncio.to_thread(store.create_campaign, made.campaign, made.updates)
        return await _detail(made.campaign.id)

    @router.get("/campaigns", response_model=list[CampaignOut])
    async def campaigns() -> list[CampaignOut]:
        """Every campaign, oldest first (the history is kept)."""
        out = []
        for c in await asyncio.to_thread(store.list_campaigns):
            out.append(await _summary(c))
        return out

    async def _summary(c: Campaign) -> CampaignOut:
        image = await asyncio.to_thread(store.firmware, c.firmware_id)
        ups = await asyncio.to_thread(store.campaign_updates, c.id)
        tally = count(ups, len(ups))
        return CampaignOut(
            id=c.id, firmware=c.firmware_id, version=image.version if image else "?",
            state=str(c.state), reason=c.reason, wave=c.wave + 1, target=c.target,
            created_at=c.created_at, updated_at=c.updated_at, chargers=len(ups),
            updated=tally.updated, failed=tally.failed,
        )  # fmt: skip

    async def _detail(campaign_id: str) -> CampaignDetailOut:
        c = await asyncio.to_thread(store.campaign, campaign_id)
        if c is None:
            raise HTTPException(404, f"no campaign {campaign_id!r}")
        summary = await _summary(c)
        ups = await asyncio.to_thread(store.campaign_updates, c.id)
        waves = []
        for n in range(len(c.rules.waves)):
            mine = [u for u in ups if u.wave == n]
            tally = count(mine, len(mine))
            halted = c.state == "halted" and (c.reason or "").startswith(f"wave {n + 1}:")
            state = ("halted" if halted else "waiting" if n > c.wave
                     else "passed" if n < c.wave else "open")  # fmt: skip
            waves.append(WaveOut(
                wave=n + 1, size=len(mine), state=state, pending=tally.pending,
                in_flight=tally.in_flight, updated=tally.updated, failed=tally.failed,
                skipped=tally.skipped, failures=tally.reasons,
            ))  # fmt: skip
        history = await asyncio.to_thread(store.campaign_history, c.id, 200)
        return CampaignDetailOut(
            **summary.model_dump(), waves=waves,
            updates=[UpdateOut(charger_id=u.charger_id, wave=u.wave + 1, state=str(u.state),
                               reason=u.reason, from_version=u.from_version,
                               attempts=u.attempts, updated_at=u.updated_at) for u in ups],
            history=[EventOut(at=at, charger_id=who, event=e) for at, who, e in history],
        )  # fmt: skip

    @router.get("/campaigns/{campaign_id}", response_model=CampaignDetailOut)
    async def detail(campaign_id: str) -> CampaignDetailOut:
        """A campaign per wave (counts, failures by reason) and per charger (state, reason),
        with its history."""
        return await _detail(campaign_id)

    async def _act(campaign_id: str, action: str) -> CampaignDetailOut:
        own = running()
        assert own.campaigns is not None
        try:
            await getattr(own.campaigns, action)(campaign_id)
        except LookupError:
            raise HTTPException(404, f"no campaign {campaign_id!r}") from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        return await _detail(campaign_id)

    @router.post("/campaigns/{campaign_id}/pause", response_model=CampaignDetailOut)
    async def pause(campaign_id: str) -> CampaignDetailOut:
        """No charger is sent the update while paused; what is in flight is still judged."""
        return await _act(campaign_id, "pause")

    @router.post("/campaigns/{campaign_id}/resume", response_model=CampaignDetailOut)
    async def resume(campaign_id: str) -> CampaignDetailOut:
        return await _act(campaign_id, "resume")

    @router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignDetailOut)
    async def cancel(campaign_id: str) -> CampaignDetailOut:
        """Chargers not sent the update yet are skipped; the campaign stays in the history."""
        return await _act(campaign_id, "cancel")

    return router


def download_router(store: Store, csms: Csms | None) -> APIRouter:
    router = APIRouter(tags=["chargers"])
    cache: dict[str, bytes] = {}  # the images being rolled out (a few), by sha256

    @router.api_route("/firmware/{sha256}", methods=["GET", "HEAD"], include_in_schema=False)
    async def download(
        sha256: str,
        charger: Annotated[str, Query(max_length=48)],
        expires: Annotated[int, Query()],
        sig: Annotated[str, Query(max_length=64)],
        range_: Annotated[str | None, Header(alias="range")] = None,
    ) -> Response:
        campaigns = csms.campaigns if csms is not None else None
        if campaigns is None or not campaigns.downloads.valid(
            sha256, charger, expires, sig, datetime.now(UTC)
        ):
            raise HTTPException(403, "this download link is not valid (expired or not ours)")
        content = cache.get(sha256)
        if content is None:
            content = await asyncio.to_thread(store.firmware_content, sha256)
            if content is None:
                raise HTTPException(404, "no such image")
            if len(cache) >= 4:
                cache.pop(next(iter(cache)))
            cache[sha256] = content
        size = len(content)
        headers = {"Accept-Ranges": "bytes", "ETag": f'"{sha256}"'}
        try:
            wanted = byte_range(range_, size)
        except ValueError:
            unsatisfiable = {**headers, "Content-Range": f"bytes */{size}"}
            return Response(status_code=416, headers=unsatisfiable)
        if wanted is None:
            return Response(content, media_type="application/octet-stream", headers=headers)
        first, last = wanted
        return Response(
            content[first : last + 1], status_code=206, media_type="application/octet-stream",
            headers={**headers, "Content-Range": f"bytes {first}-{last}/{size}"},
        )  # fmt: skip

    return router
