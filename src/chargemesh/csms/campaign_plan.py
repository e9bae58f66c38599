"""A firmware campaign as operations ask for it (``POST /api/v1/ops/campaigns``), checked and
planned: the target chargers resolved in order, each given its wave. Nothing is stored here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from chargemesh.domain.firmware import (
    Campaign,
    CampaignState,
    FirmwareImage,
    Rules,
    Update,
    UpdateState,
    waves_of,
)
from chargemesh.domain.own import OwnCharger


class PlanRefused(Exception):
    """Why a campaign cannot be made; ``status`` says it in HTTP (404, 409 or 422)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class Target:
    kind: str | None = None  # supercharger or home
    models: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()  # their current firmware
    chargers: tuple[str, ...] = ()  # these, in this order

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.kind:
            out["kind"] = self.kind
        for name in ("models", "versions", "chargers"):
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        return out


@dataclass(frozen=True, slots=True)
class Plan:
    campaign: Campaign
    updates: list[Update] = field(default_factory=list)


def resolve(target: Target, image: FirmwareImage, chargers: list[OwnCharger]) -> list[OwnCharger]:
    """The target's chargers in the campaign's order (``target.chargers``' order, else by id):
    those of the image's models not already on its version. A charger named in
    ``target.chargers`` that is unknown or that the image does not fit is refused (422)."""
    by_id = {c.id: c for c in chargers}
    if target.chargers:
        unknown = [cid for cid in target.chargers if cid not in by_id]
        if unknown:
            raise PlanRefused(422, f"unknown chargers: {', '.join(unknown[:5])}")
        picked = [by_id[cid] for cid in dict.fromkeys(target.chargers)]
        misfit = [c.id for c in picked if c.model not in image.models]
        if misfit:
            raise PlanRefused(422, f"{image.id} does not fit the model of {', '.join(misfit[:5])}")
    else:
        picked = sorted(chargers, key=lambda c: c.id)
    return [
        c for c in picked
        if c.model in image.models
        and (target.kind is None or str(c.kind) == target.kind)
        and (not target.models or c.model in target.models)
        and (not target.versions or c.firmware in target.versions)
        and c.firmware != image.version
    ]  # fmt: skip


def plan(
    image: FirmwareImage,
    target: Target,
    rules: Rules,
    chargers: list[OwnCharger],
    busy: set[str],
    now: datetime,
    start_at: datetime | None = None,
) -> Plan:
    """The campaign and every target charger's pending update; ``busy``: chargers in another
    live campaign (409)."""
    chosen = resolve(target, image, chargers)
    if not chosen:
        raise PlanRefused(422, "no charger matches the target (or all run this version)")
    taken = [c.id for c in chosen if c.id in busy]
    if taken:
        raise PlanRefused(409, f"in another campaign already: {', '.join(taken[:5])}")
    unsigned = [c.id for c in chosen if c.ocpp_version == "2.0.1"]
    if unsigned and image.signature is None:
        why = (f"OCPP 2.0.1 chargers ({unsigned[0]}…) take signed firmware only: upload it "
               "with [firmware] signing_key configured")  # fmt: skip
        raise PlanRefused(422, why)
    campaign = Campaign(
        id="cmp-" + secrets.token_hex(6), firmware_id=image.id, target=target.as_dict(),
        rules=rules, state=CampaignState.SCHEDULED, created_at=now, updated_at=now,
        start_at=start_at,
    )  # fmt: skip
    updates = [
        Update(campaign.id, c.id, wave, UpdateState.PENDING, now, from_version=c.firmware,
               site=c.site, position=n)
        for n, (c, wave) in enumerate(zip(chosen, waves_of([c.id for c in chosen], rules.waves),
                                          strict=True))
    ]  # fmt: skip
    return Plan(campaign, updates)
