"""Firmware campaigns run (docs/firmware.md): a singleton of the cluster's leader ticks every
campaign (:meth:`Campaigns.tick`), and every node's CSMS tells it what its chargers report
(:meth:`Campaigns.reported`, :meth:`~Campaigns.booted`, :meth:`~Campaigns.disconnected`).

All of a campaign's state is in the store, so a platform restarted mid-campaign goes on where it
was. Each update changes by compare-and-set on its state: a report and a tick never overwrite
each other, and an update is sent once however many ticks see it pending.

A tick, per live campaign: start it when its time comes; judge in-flight updates by the time
(soaked → updated, too long → failed); skip what the deadline passed; halt on a wave whose
failures cross the error gate (or at once on a failure that says the image is wrong); open the
next wave when the current one passed its success gate; send pending updates of the open waves
— only to chargers that are connected, not in a transaction, inside the window, with fewer than
``max_per_site`` of their site (and ``max_in_flight`` in all, if set) in flight; complete when
all is judged."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Final

from chargemesh.csms.links import Links
from chargemesh.domain.firmware import (
    Campaign,
    CampaignState,
    FirmwareImage,
    Update,
    UpdateState,
    booted,
    count,
    disconnected,
    halt_reason,
    progressed,
    ripened,
    wave_passed,
)
from chargemesh.protocols.ocpp.messages import FirmwareReport, FirmwareRequest
from chargemesh.services.firmware.images import DownloadLinks
from chargemesh.store import Store

log = logging.getLogger(__name__)

TICK_S: Final = 1.0
SEND_TIMEOUT_S: Final = 30.0
RETRY_AFTER_S: Final = 5.0  # a download that failed is sent again after this
TARGETS_TTL_S: Final = 2.0  # how long the set of chargers in live campaigns is trusted
TRANSACTION_LOOKBACK: Final = timedelta(hours=24)


def _now() -> datetime:
    return datetime.now(UTC)


class Campaigns:
    def __init__(
        self,
        store: Store,
        links: Links,
        downloads: DownloadLinks,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.links = links
        self.downloads = downloads
        self.clock = clock  # tests inject the time (a window, a soak)
        self._images: dict[str, FirmwareImage] = {}
        self._targets: tuple[float, set[str]] | None = None
        self._targets_lock = asyncio.Lock()
        self._sending: set[asyncio.Task[None]] = set()

    # --- what operations do --------------------------------------------------------------------
    async def pause(self, campaign_id: str) -> Campaign:
        return await self._switch(campaign_id, {CampaignState.RUNNING, CampaignState.SCHEDULED},
                                  CampaignState.PAUSED, "paused by operations")  # fmt: skip

    async def resume(self, campaign_id: str) -> Campaign:
        return await self._switch(campaign_id, {CampaignState.PAUSED}, CampaignState.RUNNING,
                                  "resumed by operations")  # fmt: skip

    async def cancel(self, campaign_id: str) -> Campaign:
        live = {CampaignState.SCHEDULED, CampaignState.RUNNING, CampaignState.PAUSED,
                CampaignState.HALTED}  # fmt: skip
        done = await self._switch(campaign_id, live, CampaignState.CANCELLED,
                                  "cancelled by operations")  # fmt: skip
        ups = await asyncio.to_thread(self.store.campaign_updates, campaign_id)
        await self._skip(ups, "the campaign was cancelled")
        return done

    async def _skip(self, updates: list[Update], why: str) -> None:
        """The pending ones of ``updates`` skipped, in one transaction."""
        at = self.clock()
        changes = [(replace(u, state=UpdateState.SKIPPED, updated_at=at, reason=why),
                    UpdateState.PENDING, None)
                   for u in updates if u.state is UpdateState.PENDING]  # fmt: skip
        if changes:
            await asyncio.to_thread(self.store.change_updates, changes)

    async def _switch(
        self, campaign_id: str, allowed: set[CampaignState], to: CampaignState, why: str
    ) -> Campaign:
        """``LookupError`` for an unknown campaign; ``ValueError`` when its state does not
        allow the change."""
        while True:
            c = await asyncio.to_thread(self.store.campaign, campaign_id)
            if c is None:
                raise LookupError(campaign_id)
            if c.state not in allowed:
                raise ValueError(f"a {c.state} campaign cannot be {to}")
            changed = replace(c, state=to, reason=why, updated_at=self.clock())
            if await asyncio.to_thread(self.store.change_campaign, changed, c.state, why):
                return changed

    # --- what chargers report (any node) -------------------------------------------------------
    async def _targeted(
        self, charger_id: str, *, fresh: bool = False
    ) -> list[tuple[Campaign, Update]]:
        """The charger's updates in flight or pending. Boots and lost connections (a reconnect
        storm brings thousands) first ask a set of the chargers in live campaigns, made again
        every couple of seconds; a firmware status (only a charger being updated sends one)
        always asks the store, and puts the charger in that set."""
        held = self._targets
        if not fresh and (held is None or time.monotonic() - held[0] > TARGETS_TTL_S):
            async with self._targets_lock:  # a storm's boots share one read
                held = self._targets
                if held is None or time.monotonic() - held[0] > TARGETS_TTL_S:
                    ids = await asyncio.to_thread(self.store.chargers_in_live_campaigns)
                    held = self._targets = (time.monotonic(), ids)
        if not fresh and held is not None and charger_id not in held[1]:
            return []
        found = await asyncio.to_thread(self.store.updates_of_charger, charger_id)
        if found and held is not None:
            held[1].add(charger_id)
        return found

    async def reported(self, charger_id: str, report: FirmwareReport) -> None:
        for c, u in await self._targeted(charger_id, fresh=True):
            if report.request_id is not None and u.request_id not in (None, report.request_id):
                continue  # another request's status (2.0.1 and the 1.6 extension say which)
            now = self.clock()
            after = progressed(u, report.status, now)
            if after is None:
                return
            if report.status == "DownloadFailed" and u.attempts <= c.rules.retries:
                after = replace(after, state=UpdateState.PENDING, reason="DownloadFailed: "
                                "sent again shortly")  # fmt: skip
            await self._change(u, after, f"{report.status}")
            return

    async def booted(self, charger_id: str, firmware: str | None) -> None:
        for c, u in await self._targeted(charger_id):
            image = await self._image(c.firmware_id)
            after = booted(u, firmware, image.version, self.clock())
            if after is not None:
                await self._change(u, after, f"booted with {firmware}")

    async def disconnected(self, charger_id: str) -> None:
        for _, u in await self._targeted(charger_id):
            after = disconnected(u, self.clock())
            if after is not None:
                await self._change(u, after, "disconnected during the soak")

    # --- the leader's loop ---------------------------------------------------------------------
    async def run(self, every_s: float = TICK_S) -> None:
        try:
            while True:
                try:
                    await self.tick()
                except Exception:  # the next tick tries again
                    log.exception("firmware campaigns: tick failed")
                await asyncio.sleep(every_s)
        finally:
            for task in list(self._sending):
                task.cancel()

    async def tick(self) -> None:
        for c in await asyncio.to_thread(self.store.live_campaigns):
            await self._tick(c)

    async def _tick(self, c: Campaign) -> None:
        now = self.clock()
        if c.state is CampaignState.SCHEDULED:
            if c.start_at is not None and now < c.start_at:
                return
            c = await self._set(c, CampaignState.SCHEDULED, state=CampaignState.RUNNING,
                                event="started: wave 1 open")  # fmt: skip
        updates = await self._ripen(c, await asyncio.to_thread(self.store.campaign_updates, c.id),
                                    now)  # fmt: skip
        if c.state is not CampaignState.RUNNING:
            return  # paused or halted: what is in flight is still judged, nothing is sent
        waves = len(c.rules.waves)
        for wave in range(c.wave + 1):
            in_wave = [u for u in updates if u.wave == wave]
            why = halt_reason(wave, count(in_wave, len(in_wave)), c.rules, in_wave)
            if why is not None:
                await self._set(c, CampaignState.RUNNING, state=CampaignState.HALTED, reason=why,
                                event=f"halted: {why}")  # fmt: skip
                return
        current = [u for u in updates if u.wave == c.wave]
        tally = count(current, len(current))
        settled = not tally.in_flight and not tally.pending and tally.finished
        # offline or charging at their turn: they do not hold the wave back; those waiting
        # only for their site's turn (or a tick) do
        charging = await asyncio.to_thread(
            self.store.chargers_in_transaction, now - TRANSACTION_LOOKBACK
        )
        sendable = any(u.state is UpdateState.PENDING and u.charger_id not in charging
                       and self.links.get(u.charger_id) is not None for u in current)  # fmt: skip
        if wave_passed(tally, c.rules) and not sendable and c.wave + 1 < waves:
            opened = f"wave {c.wave + 1} passed: wave {c.wave + 2} open"
            c = await self._set(c, CampaignState.RUNNING, wave=c.wave + 1, event=opened)
        elif settled and not wave_passed(tally, c.rules):
            why = (f"wave {c.wave + 1}: {tally.updated} of {tally.finished} updated "
                   f"(needs {c.rules.success_threshold:.0%})")  # fmt: skip
            await self._set(c, CampaignState.RUNNING, state=CampaignState.HALTED, reason=why,
                            event=f"halted: {why}")  # fmt: skip
            return
        if all(u.state.final for u in updates) and c.wave + 1 >= waves:
            done = count(updates, len(updates))
            await self._set(c, CampaignState.RUNNING, state=CampaignState.COMPLETED,
                            event=f"completed: {done.updated} updated, {done.failed} failed, "
                                  f"{done.skipped} skipped")  # fmt: skip
            return
        if c.rules.deadline is not None and now >= c.rules.deadline:
            await self._skip(updates, "not reached before the deadline")
            return
        await self._dispatch(c, [u for u in updates if u.wave <= c.wave], self.clock())

    async def _ripen(self, c: Campaign, updates: list[Update], now: datetime) -> list[Update]:
        """``updates`` judged by the time (soaked → updated, too long → failed), the changes
        saved in one transaction."""
        changes = []
        for u in updates:
            if u.state.in_flight:
                after = ripened(u, c.rules, now, self.links.get(u.charger_id) is not None)
                if after is not None:
                    changes.append((after, u.state, after.reason or str(after.state)))
        if not changes:
            return updates
        saved = await asyncio.to_thread(self.store.change_updates, changes)
        done = {a.charger_id: a for (a, _, _), ok in zip(changes, saved, strict=True) if ok}
        return [done.get(u.charger_id, u) for u in updates]

    async def _dispatch(self, c: Campaign, updates: list[Update], now: datetime) -> None:
        """Send the update to every pending charger that may take it now, all claimed in one
        unit of work (a wave of thousands is dispatched at once)."""
        if c.rules.window is not None and not c.rules.window.open_at(now):
            return
        in_flight = [u for u in updates if u.state.in_flight]
        room = (c.rules.max_in_flight or len(updates)) - len(in_flight)
        per_site: dict[str, int] = {}
        for u in in_flight:
            if u.site:
                per_site[u.site] = per_site.get(u.site, 0) + 1
        waiting = [u for u in updates if u.state is UpdateState.PENDING]
        if not waiting or room <= 0:
            return
        charging = await asyncio.to_thread(
            self.store.chargers_in_transaction, now - TRANSACTION_LOOKBACK
        )
        claims: list[tuple[Update, UpdateState, str | None]] = []
        for u in waiting:
            if len(claims) >= room:
                break
            if u.attempts and now - u.updated_at < timedelta(seconds=RETRY_AFTER_S):
                continue
            if self.links.get(u.charger_id) is None or u.charger_id in charging:
                continue  # offline or charging at its turn: updated when it can be
            if u.site and per_site.get(u.site, 0) >= c.rules.max_per_site:
                continue
            if u.site:
                per_site[u.site] = per_site.get(u.site, 0) + 1
            sent = replace(u, state=UpdateState.SENT, attempts=u.attempts + 1, sent_at=now,
                           updated_at=now, request_id=secrets.randbelow(2**31 - 1) + 1,
                           reason=None)  # fmt: skip
            claims.append((sent, UpdateState.PENDING, f"update sent (attempt {sent.attempts})"))
        if not claims:
            return
        saved = await asyncio.to_thread(self.store.change_updates, claims)
        image = await self._image(c.firmware_id)
        for (sent, _, _), ok in zip(claims, saved, strict=True):
            if ok:
                task = asyncio.create_task(self._send(c, sent, image))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    async def _send(self, c: Campaign, u: Update, image: FirmwareImage) -> None:
        link = self.links.get(u.charger_id)
        assert u.request_id is not None
        now = datetime.now(UTC)  # the wall clock: what the charger acts on (self.clock may be
        expires = now + timedelta(seconds=c.rules.timeout_s + 3600)  # a test's)
        request = FirmwareRequest(
            location=self.downloads.link(image.sha256, u.charger_id, expires),
            retrieve_at=now, request_id=u.request_id, retries=3, retry_interval_s=30,
            signature=image.signature, signing_certificate=image.signing_certificate,
        )  # fmt: skip
        try:
            if link is None:
                raise ConnectionError("the charger disconnected")
            answer = await asyncio.wait_for(link.update_firmware(request), SEND_TIMEOUT_S)
        except TimeoutError:
            # the answer is late, not the request lost: sent again, a charger already at it
            # answers Rejected. It stays sent; its statuses, its boot or its timeout judge it.
            log.info("charger %s: no answer to the update yet", u.charger_id)
            return
        except Exception as exc:  # never reached it (offline, its node gone), or a CALLERROR
            reason = f"the update did not reach it ({type(exc).__name__})"
            back = replace(u, state=UpdateState.PENDING, updated_at=self.clock(), reason=reason)
            await self._change(u, back, reason)
            return
        if answer.status not in ("Accepted", "AcceptedCanceled"):
            failed = replace(u, state=UpdateState.FAILED, updated_at=self.clock(),
                             reason=answer.status)  # fmt: skip
            await self._change(u, failed, f"{answer.message} answered {answer.status}")
        else:
            log.info("charger %s accepted %s", u.charger_id, answer.message)

    # --- helpers -------------------------------------------------------------------------------
    async def _image(self, firmware_id: str) -> FirmwareImage:
        image = self._images.get(firmware_id)
        if image is None:
            found = await asyncio.to_thread(self.store.firmware, firmware_id)
            if found is None:
                raise LookupError(firmware_id)
            image = self._images[firmware_id] = found
        return image

    async def _change(self, before: Update, after: Update, event: str | None) -> bool:
        return await asyncio.to_thread(self.store.change_update, after, before.state, event)

    async def _set(self, c: Campaign, expected: CampaignState, *, event: str,
                   **change: object) -> Campaign:  # fmt: skip
        after = replace(c, updated_at=self.clock(), **change)  # type: ignore[arg-type]
        if not await asyncio.to_thread(self.store.change_campaign, after, expected, event):
            fresh = await asyncio.to_thread(self.store.campaign, c.id)
            return fresh or c  # operations changed it meanwhile: theirs stands
        if after.state is CampaignState.HALTED:
            log.warning("campaign %s halted: %s", c.id, after.reason)
        return after
