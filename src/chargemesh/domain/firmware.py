"""Firmware for the own chargers and the campaigns that roll it out (docs/firmware.md).

A **campaign** sends one firmware image to a target set of chargers in **waves** (a small
canary first). Each charger's part is an **update** with its own state:

``pending`` (not sent yet: its wave has not opened, or it is offline, charging, outside the
window or its site is busy) → ``sent`` (the charger accepted the request) → ``downloading`` →
``downloaded`` → ``installing`` → ``rebooting`` (it said ``InstallRebooting``) → ``installed``
(the charger said so: not yet a success) →
``rebooted`` (it booted again reporting the new version; it must now stay connected for the
soak time) → ``updated``. Or ``failed`` with a reason, or ``skipped`` (never reached before the
campaign's deadline, or the campaign was cancelled before its turn).

Success means the charger came back: only a BootNotification with the new version, followed by
``soak_s`` connected, makes ``updated``. ``Installed`` then silence, a boot with the old version,
``InvalidSignature``, ``InstallVerificationFailed``, ``DownloadFailed`` (after the retries) and
``InstallationFailed`` are failures with their reason.

Everything here is pure: the functions take the state and the time and return the next state;
``csms/campaigns.py`` stores it and talks to chargers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class FirmwareImage:
    id: str
    version: str
    models: tuple[str, ...]  # the charger models it fits
    sha256: str
    size: int
    created_at: datetime
    signature: str | None = None  # base64 ECDSA-SHA256 (DER) over the image, for OCPP 2.0.1
    signing_certificate: str | None = None  # PEM


class CampaignState(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    HALTED = "halted"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (CampaignState.COMPLETED, CampaignState.CANCELLED)


class UpdateState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    INSTALLING = "installing"
    REBOOTING = "rebooting"  # it said InstallRebooting: its next boot tells how it went
    INSTALLED = "installed"
    REBOOTED = "rebooted"
    UPDATED = "updated"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def finished(self) -> bool:
        """Judged: counts in the wave's gates."""
        return self in (UpdateState.UPDATED, UpdateState.FAILED)

    @property
    def final(self) -> bool:
        return self in (UpdateState.UPDATED, UpdateState.FAILED, UpdateState.SKIPPED)

    @property
    def in_flight(self) -> bool:
        """Sent and not yet judged: the charger is busy with it."""
        return not self.final and self is not UpdateState.PENDING


#: Firmware statuses (1.6, the 1.6 security extension and 2.0.1 share the names) → our state.
PROGRESS: Final = {
    "Downloading": UpdateState.DOWNLOADING,
    "DownloadScheduled": UpdateState.SENT,
    "DownloadPaused": UpdateState.DOWNLOADING,
    "Downloaded": UpdateState.DOWNLOADED,
    "SignatureVerified": UpdateState.INSTALLING,
    "InstallScheduled": UpdateState.DOWNLOADED,
    "Installing": UpdateState.INSTALLING,
    "InstallRebooting": UpdateState.REBOOTING,
    "Installed": UpdateState.INSTALLED,
}
FAILURES: Final = frozenset(
    {"DownloadFailed", "InvalidSignature", "InstallVerificationFailed", "InstallationFailed"}
)
#: Failures that say the image or the campaign is wrong: no other charger would do better, so
#: one halts the campaign at once (whatever the threshold).
HALT_AT_ONCE: Final = frozenset(
    {"InvalidSignature", "InstallVerificationFailed", "InvalidCertificate", "RevokedCertificate"}
)


@dataclass(frozen=True, slots=True)
class Window:
    """Local hours in which updates may start (``start`` > ``end``: across midnight)."""

    start: time
    end: time
    tz: str = "Asia/Shanghai"

    def open_at(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.tz)).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True, slots=True)
class Rules:
    """How a campaign runs (defaults as in the contract: docs/firmware.md)."""

    waves: tuple[int, ...]  # sizes; the chargers beyond their sum go into the last wave
    error_threshold: float = 0.1  # a wave whose failed/finished exceeds it halts the campaign
    success_threshold: float = 0.9  # updated/finished a wave needs before the next opens
    min_finished: int | None = None  # finished chargers before the error gate judges
    soak_s: float = 600.0
    window: Window | None = None
    max_per_site: int = 1  # chargers of one site updating at once
    max_in_flight: int | None = None  # chargers updating at once in all (None: no limit)
    timeout_s: float = 3600.0  # from sent to booted with the new version
    retries: int = 2  # sends again after DownloadFailed
    deadline: datetime | None = None  # chargers not reached by then are skipped

    def min_finished_in(self, wave_size: int) -> int:
        """How many of a wave must have finished before its error gate judges: as set, else a
        tenth of the wave (at least one), never more than the wave."""
        wanted = self.min_finished or max(1, math.ceil(wave_size / 10))
        return max(1, min(wanted, wave_size))


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    firmware_id: str
    target: dict[str, object]  # as asked (kind, models, versions, chargers)
    rules: Rules
    state: CampaignState
    created_at: datetime
    updated_at: datetime
    start_at: datetime | None = None
    wave: int = 0  # the highest wave opened (0-based)
    reason: str | None = None  # why halted, paused or cancelled


@dataclass(frozen=True, slots=True)
class Update:
    """One charger's part in a campaign."""

    campaign_id: str
    charger_id: str
    wave: int
    state: UpdateState
    updated_at: datetime
    from_version: str | None = None
    reason: str | None = None  # why failed or skipped, or what it waits for
    attempts: int = 0  # requests sent
    request_id: int | None = None
    sent_at: datetime | None = None
    booted_at: datetime | None = None  # with the new version
    site: str | None = None
    position: int = 0  # the campaign's order of its chargers


def progressed(u: Update, status: str, at: datetime) -> Update | None:
    """``u`` after the charger reported ``status``; None when it changes nothing (a status for
    an update not in flight, or one going backwards)."""
    if not u.state.in_flight:
        return None
    if status in FAILURES:
        return replace(u, state=UpdateState.FAILED, reason=status, updated_at=at)
    state = PROGRESS.get(status)
    if state is None:
        return None
    order = list(UpdateState)
    if u.state is UpdateState.REBOOTED or order.index(state) <= order.index(u.state):
        return None  # 1.6 core sends Installed after the boot: already past it
    return replace(u, state=state, updated_at=at)


def booted(u: Update, version: str | None, target: str, at: datetime) -> Update | None:
    """``u`` after the charger booted reporting ``version``."""
    if not u.state.in_flight:
        return None
    if version == target:
        if u.state is UpdateState.REBOOTED:
            return None
        return replace(u, state=UpdateState.REBOOTED, booted_at=at, updated_at=at)
    if u.state in (UpdateState.REBOOTING, UpdateState.INSTALLED, UpdateState.REBOOTED):
        reason = f"booted with {version or 'no version'} instead of {target}"
        return replace(u, state=UpdateState.FAILED, updated_at=at, reason=reason)
    # before it said it reboots into the new image: a reconnection (or a power cut), not the
    # install's reboot — it still has the update to do (a 1.6 core charger, which never says
    # InstallRebooting, that boot-loops fails by its timeout instead)
    return None


def disconnected(u: Update, at: datetime) -> Update | None:
    """The charger lost its connection: a soak that breaks starts over at its next boot (if it
    comes back with the old version, that is the failure)."""
    if u.state is UpdateState.REBOOTED:
        return replace(u, state=UpdateState.INSTALLED, booted_at=None, updated_at=at,
                       reason="disconnected during the soak")  # fmt: skip
    return None


def ripened(u: Update, rules: Rules, at: datetime, connected: bool) -> Update | None:
    """``u`` judged by the time: soaked → updated; timed out → failed."""
    if u.state is UpdateState.REBOOTED and u.booted_at is not None and connected:
        if at - u.booted_at >= timedelta(seconds=rules.soak_s):
            return replace(u, state=UpdateState.UPDATED, reason=None, updated_at=at)
        return None
    late = u.sent_at is not None and at - u.sent_at > timedelta(seconds=rules.timeout_s)
    if u.state.in_flight and late:
        what = {UpdateState.INSTALLED: "installed, then never came back with the new version"}
        reason = what.get(u.state, f"timed out while {u.state}")
        return replace(u, state=UpdateState.FAILED, reason=reason, updated_at=at)
    return None


@dataclass(frozen=True, slots=True)
class WaveCount:
    size: int
    pending: int = 0
    in_flight: int = 0
    updated: int = 0
    failed: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return self.updated + self.failed


def count(updates: list[Update], size: int) -> WaveCount:
    reasons: dict[str, int] = {}
    tally = dict.fromkeys(("pending", "in_flight", "updated", "failed", "skipped"), 0)
    for u in updates:
        if u.state is UpdateState.PENDING:
            tally["pending"] += 1
        elif u.state.in_flight:
            tally["in_flight"] += 1
        else:
            tally[str(u.state)] += 1
        if u.state is UpdateState.FAILED and u.reason:
            reasons[u.reason] = reasons.get(u.reason, 0) + 1
    return WaveCount(size=size, reasons=reasons, **tally)


def halt_reason(wave: int, c: WaveCount, rules: Rules, updates: list[Update]) -> str | None:
    """Why wave ``wave`` halts the campaign, or None: a failure that says the image is wrong
    halts at once; otherwise failed/finished above the threshold, once enough have finished."""
    for u in updates:
        if u.state is UpdateState.FAILED and u.reason in HALT_AT_ONCE:
            return f"wave {wave + 1}: {u.charger_id} reported {u.reason}"
    enough = c.finished >= rules.min_finished_in(c.size)
    if enough and c.failed / c.finished > rules.error_threshold:
        return (f"wave {wave + 1}: {c.failed} of {c.finished} finished chargers failed "
                f"(more than {rules.error_threshold:.0%})")  # fmt: skip
    return None


def wave_passed(c: WaveCount, rules: Rules) -> bool:
    """The next wave may open: nothing of this one is in flight, at least one charger finished
    and enough of the finished were updated. Chargers still pending (offline or charging at
    their turn) do not hold the campaign back: they are updated when they can."""
    if c.in_flight or not c.finished:
        return False
    return c.updated / c.finished >= rules.success_threshold


def waves_of(charger_ids: list[str], sizes: tuple[int, ...]) -> list[int]:
    """The wave of each charger, in order: the first ``sizes[0]`` in wave 0 and so on; those
    beyond the sum of ``sizes`` in the last wave."""
    out: list[int] = []
    for wave, size in enumerate(sizes):
        out.extend([wave] * size)
    return (out + [len(sizes) - 1] * len(charger_ids))[: len(charger_ids)]
