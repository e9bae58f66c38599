"""When a station an operator's feed no longer lists is taken off the map.

A feed that breaks often looks like a feed that shrank: a page missing, an empty answer, a
timeout half-way. So absence alone never delists at once. The rule (``docs/ingest.md``):

* Only a **full** sync can delist: an incremental one (T/CEC ``LastQueryTime``, OCPI
  ``date_from``) lists only what changed, so absence from it means nothing. Any sync that lists
  a station clears it from the missing list.
* A full sync is **suspect** when it lists nothing, or fewer than ``suspect_below`` (50 %) as
  many stations as the registry holds live for the operator. A suspect sync delists nothing and
  does not count as a miss: the absent stations are recorded as missing (so they can be seen)
  and a warning is returned and logged.
* After a successful (not suspect) full sync, each absent station's ``misses`` goes up by one;
  it is delisted once ``misses`` reaches ``misses_to_delist`` (2) *and* it has been missing for
  at least ``min_missing`` (24 h; counted from the first full sync that did not list it). A
  station listed again in between starts from zero.
* A station the feed removes explicitly (OCPI ``publish=false`` or ``REMOVED``) is delisted at
  once by the ingest, not here.

``confirmed_shrink`` lets a person who has checked with the operator accept one suspect,
non-empty full sync as a successful one (a small network that really lost half its stations
would otherwise stay suspect for ever, as its registry count never drops).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from chargemesh.domain import StationRemoved
from chargemesh.store import Store
from chargemesh.store.codec import require_aware
from chargemesh.store.repository import MissingStation

__all__ = [
    "DelistingPlan",
    "DelistingReport",
    "DelistingRules",
    "apply_delisting",
    "plan_delisting",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DelistingRules:
    suspect_below: float = 0.5  # a full sync listing fewer than this share is suspect
    misses_to_delist: int = 2  # successful full syncs in a row that must not list it
    min_missing: timedelta = timedelta(hours=24)  # and for at least this long


@dataclass(frozen=True, slots=True)
class DelistingPlan:
    """What one sync means for the operator's missing list (a pure decision)."""

    suspect: bool
    warning: str | None
    missing: list[MissingStation]  # rows to write: newly missing or one more miss
    cleared: list[str]  # rows to delete: listed again, delisted now, or no longer live
    delist: list[str]
    marked: int  # live stations this full sync did not list and that stay listed for now
    restored: int  # missing stations listed again


@dataclass(slots=True)
class DelistingReport:
    operator_id: str
    suspect: bool = False
    marked: int = 0  # stations recorded missing by this sync
    delisted: list[str] = field(default_factory=list)
    restored: int = 0
    warning: str | None = None
    events: list[StationRemoved] = field(default_factory=list)  # publish these on the bus


def plan_delisting(
    operator_id: str,
    live: Collection[str],
    listed: Collection[str],
    history: Mapping[str, MissingStation],
    *,
    full: bool,
    at: datetime,
    rules: DelistingRules = DelistingRules(),
    confirmed_shrink: bool = False,
) -> DelistingPlan:
    """Decide from the operator's live station ids *before* the sync, the ids the sync listed
    and the missing rows held (by station id)."""
    at = require_aware(at)
    listed_set = set(listed)
    restored = sorted(s for s in history if s in listed_set)
    gone = sorted(s for s in history if s not in listed_set and s not in live)
    if not full:
        return DelistingPlan(False, None, [], restored + gone, [], 0, len(restored))
    absent = sorted(s for s in live if s not in listed_set)
    warning = None
    share = len(listed_set) / len(live) if live else 1.0
    if not listed_set and live:
        warning = f"{operator_id}: a full sync listed no stations; the {len(live)} held are kept"
    elif share < rules.suspect_below and not confirmed_shrink:
        warning = (
            f"{operator_id}: a full sync listed {len(listed_set)} stations, "
            f"{share:.0%} of the {len(live)} held; none is delisted "
            "(confirm the shrink to delist)"
        )
    suspect = warning is not None
    missing: list[MissingStation] = []
    delist: list[str] = []
    for sid in absent:
        held = history.get(sid)
        if held is None:
            held = MissingStation(sid, operator_id, at, 0)
        if not suspect:
            held = replace(held, misses=held.misses + 1)
            if (
                held.misses >= rules.misses_to_delist
                and at - held.first_missing >= rules.min_missing
            ):
                delist.append(sid)
                continue
        if held != history.get(sid):
            missing.append(held)
    return DelistingPlan(
        suspect=suspect,
        warning=warning,
        missing=missing,
        cleared=restored + gone + delist,
        delist=delist,
        marked=len(absent) - len(delist),
        restored=len(restored),
    )


def apply_delisting(
    store: Store,
    operator_id: str,
    live: Collection[str],
    listed: Collection[str],
    *,
    full: bool,
    at: datetime | None = None,
    rules: DelistingRules = DelistingRules(),
    confirmed_shrink: bool = False,
) -> DelistingReport:
    """Apply the rule after a sync of ``operator_id``.

    ``live``: the operator's live registry ids taken *before* the sync (``store.station_ids``);
    ``listed``: the registry ids the sync listed. The missing list is written first and the
    stations delisted after it, so a failure in between keeps stations rather than losing them.
    """
    at = require_aware(at or datetime.now(UTC))
    history = {m.station_id: m for m in store.missing_stations(operator_id)}
    plan = plan_delisting(
        operator_id, live, listed, history,
        full=full, at=at, rules=rules, confirmed_shrink=confirmed_shrink,
    )  # fmt: skip
    if plan.missing or plan.cleared:
        store.save_missing_stations(plan.missing, cleared=plan.cleared)
    events = store.remove_stations(plan.delist, at=at) if plan.delist else []
    if plan.warning:
        log.warning("delisting: %s", plan.warning)
    report = DelistingReport(
        operator_id=operator_id,
        suspect=plan.suspect,
        marked=plan.marked,
        delisted=[e.station_id for e in events],
        restored=plan.restored,
        warning=plan.warning,
        events=events,
    )
    if report.delisted or report.restored:
        log.info(
            "delisting %s: %d delisted, %d restored, %d missing",
            operator_id, len(report.delisted), report.restored, report.marked,
        )  # fmt: skip
    return report
