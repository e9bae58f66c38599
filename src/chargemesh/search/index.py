"""The in-memory station index: built from the store at start, kept current from the bus.

* **Status** changes update the connector arrays in place (and the per-station count of
  connectors available now): no rebuild, visible to the next query.
* **Stations** added or changed are read from the store in batches and appended as a new small
  segment; the old copy is marked dead. Removed stations are marked dead. When there are many
  segments they are compacted by a rebuild from the store, replaying what happened meanwhile.
* **Freshness**: a connector counts as available only while its status is younger than its
  operator's ``status_freshness``; :meth:`StationIndex.sweep` (run every few seconds) retires
  the ones that aged out, so an old "available" is never shown as available.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chargemesh.bus import EventBus
from chargemesh.domain import Station
from chargemesh.domain.events import (
    StationAdded,
    StationChanged,
    StationRemoved,
    StatusChanged,
    StatusConfirmed,
)
from chargemesh.search.filters import SearchFilter
from chargemesh.search.segment import Segment, SegmentBuilder
from chargemesh.store import Store
from chargemesh.store.codec import join_set
from chargemesh.store.repository import IndexConnectorRow, IndexStationRow

log = logging.getLogger(__name__)

STATION_PAGE = 50_000
CONNECTOR_PAGE = 100_000
MAX_SEGMENTS = 8
#: Stations read one by one for a new segment at most; more (a first sync into an empty
#: registry lists them all) and the index is rebuilt from the store in pages instead.
REBUILD_ABOVE = 5_000
NO_OPERATORS = np.zeros(0, np.int16)  # the codes of a filter naming no operator
NO_OPERATORS.setflags(write=False)


@dataclass(frozen=True, slots=True)
class BuildReport:
    stations: int
    connectors: int
    seconds: float


def station_rows(stations: list[Station]) -> tuple[list[IndexStationRow], list[IndexConnectorRow]]:
    """The index's rows for stations read from the store (what an added segment is built of)."""
    srows: list[IndexStationRow] = []
    crows: list[IndexConnectorRow] = []
    for s in stations:
        srows.append(
            (s.id, s.operator_id, s.name, s.lon, s.lat, s.highway_service_area, s.tariff_id)
        )
        for e in s.evses:
            for c in e.connectors:
                crows.append(
                    (
                        c.id, s.id, str(c.standard), c.max_power_kw, join_set(c.access_methods),
                        str(c.status), c.status_at, e.manufacturer, e.model, e.firmware,
                    )
                )  # fmt: skip
    return srows, crows


class StationIndex:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.segments: list[Segment] = []
        self.operator_ids: list[str] = []
        self.operator_code: dict[str, int] = {}
        self.freshness_s = np.zeros(0, np.float64)
        #: (manufacturer, model, firmware) of piles → the code connectors carry (c_charger)
        self.charger_code: dict[tuple[str | None, str | None, str | None], int] = {}
        #: the compatibility lab's flags: vehicle model → {charger: the reason to show}
        self.known_failures: dict[str, dict[tuple[str | None, str | None, str | None], str]] = {}

        self._lock = threading.RLock()  # writers: events, sweeps, segment changes
        self._pending: set[str] = set()  # stations to (re)read from the store
        # rebuilding: what arrives meanwhile (station ids to read again, removals, statuses)
        self._journal: list[StatusChanged | StatusConfirmed | StationRemoved | str] | None = None
        self.version = 0  # bumped on every change a client could see
        self.rebuild_above = REBUILD_ABOVE
        self.last_build: BuildReport | None = None  # what the latest (re)build took
        self.listeners: list[Callable[[StatusChanged, int | None], None]] = []
        #: stations never shown to the public (the own network's home chargers)
        self.private: set[str] = set()

    def failing_chargers(self, vehicle_model: str) -> dict[int, str]:
        """Charger codes known to fail with this vehicle model, and why. A pile whose firmware
        the feed does not publish matches a flagged (manufacturer, model) on any firmware."""
        known = self.known_failures.get(vehicle_model)
        if not known:
            return {}
        by_model = {(m, mo): why for (m, mo, _fw), why in known.items()}
        out: dict[int, str] = {}
        for key, code in list(self.charger_code.items()):
            if key in known:
                out[code] = known[key]
            elif key[2] is None and (key[0], key[1]) in by_model:
                out[code] = f"may fail (firmware not published): {by_model[(key[0], key[1])]}"
        return out

    # --- building -----------------------------------------------------------------------------
    def _load_operators(self) -> None:
        ops = self.store.list_operators()
        with self._lock:
            for op in ops:
                if op.id not in self.operator_code:
                    self.operator_code[op.id] = len(self.operator_ids)
                    self.operator_ids.append(op.id)
            fresh = np.zeros(len(self.operator_ids), np.float64)
            for op in ops:
                fresh[self.operator_code[op.id]] = op.status_freshness.total_seconds()
            self.freshness_s = fresh

    def _operator(self, operator_id: str) -> int:
        if operator_id not in self.operator_code:
            self._load_operators()
        if operator_id not in self.operator_code:  # not (yet) in the store: no freshness
            with self._lock:
                self.operator_code[operator_id] = len(self.operator_ids)
                self.operator_ids.append(operator_id)
                self.freshness_s = np.r_[self.freshness_s, 0.0]
        return self.operator_code[operator_id]

    def build(self) -> BuildReport:
        """(Re)build the whole index from the store. Status events and station changes that
        arrive meanwhile are journaled and replayed on the new segment."""
        started = time.perf_counter()
        with self._lock:
            self._journal = []
        try:
            self._load_operators()
            self.private = set(self.store.private_station_owners())
            stations: list[IndexStationRow] = []
            after = ""
            while page := self.store.index_stations(after, STATION_PAGE):
                stations.extend(page)
                after = page[-1][0]
            for s in stations:
                self._operator(s[1])
            builder = SegmentBuilder(stations, self.operator_code, self.charger_code)
            del stations
            after = ""
            while cpage := self.store.index_connectors(after, CONNECTOR_PAGE):
                builder.add_connectors(cpage)
                after = cpage[-1][0]
            segment = builder.build()
            segment.refresh_available(time.time(), self.freshness_s)
        except BaseException:
            with self._lock:
                self._journal = None
            raise
        with self._lock:
            self.segments = [segment]
            self._replay_journal()
        # What the index holds lives as long as the process: out of the collector's sight
        # (otherwise each full collection walks its lists, 75-90 ms at national scale).
        gc.collect()
        gc.freeze()
        report = BuildReport(
            len(segment), len(segment.c_station), round(time.perf_counter() - started, 3)
        )
        log.info("search index built: %s", report)
        self.last_build = report
        return report

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(StatusChanged, self.on_status)
        bus.subscribe(StatusConfirmed, self.on_confirmed)
        bus.subscribe(StationAdded, self._on_station)
        bus.subscribe(StationChanged, self._on_station)
        bus.subscribe(StationRemoved, self._on_station_removed)

    # --- events -------------------------------------------------------------------------------
    def on_status(self, event: StatusChanged) -> None:
        with self._lock:
            if self._journal is not None:
                self._journal.append(event)
            station_available = self._apply_status(event)
            self.version += 1
        for listener in tuple(self.listeners):
            listener(event, station_available)

    def on_confirmed(self, event: StatusConfirmed) -> None:
        """Statuses confirmed unchanged: their observation time moves (they stay fresh)."""
        with self._lock:
            if self._journal is not None:
                self._journal.append(event)
            self._apply_confirmed(event)

    def _apply_confirmed(self, event: StatusConfirmed) -> None:
        now = time.time()
        for connector_id, station_id, observed in event.connectors:
            found = self._connector(station_id, connector_id)
            if found is not None:
                segment, row, crow = found
                at = observed.timestamp()
                segment.set_status_at(crow, at, self._fresh(segment, row, at, now))

    def _apply_status(self, event: StatusChanged) -> int | None:
        """Apply in place; the station's connectors available now, or None if not indexed."""
        found = self._connector(event.station_id, event.connector_id)
        if found is None:
            return None
        segment, row, crow = found
        at = event.at.timestamp()
        if at < float(segment.c_at[crow]):  # older than what it shows (a late copy): as the
            return int(segment.available[row])  # store does, the newer status stands
        fresh = self._fresh(segment, row, at, time.time())
        segment.set_status(crow, str(event.status), at, fresh)
        return int(segment.available[row])

    def _connector(self, station_id: str, connector_id: str) -> tuple[Segment, int, int] | None:
        """(segment, station row, connector row) of an indexed connector."""
        found = self.locate(station_id)
        if found is None:
            return None
        segment, row = found
        crow = segment.connector_row(connector_id, row)
        return None if crow is None else (segment, row, crow)

    def _fresh(self, segment: Segment, row: int, at: float, now: float) -> bool:
        """Is a status observed at ``at`` young enough for the station's operator?"""
        return at >= now - float(self.freshness_s[segment.operator[row]])

    def _on_station(self, event: StationAdded | StationChanged) -> None:
        with self._lock:
            self._pending.add(event.station_id)
            if self._journal is not None:
                self._journal.append(event.station_id)

    def _on_station_removed(self, event: StationRemoved) -> None:
        with self._lock:
            if self._journal is not None:  # a build under way may have read it still there
                self._journal.append(event)
            self._remove(event.station_id)

    def _remove(self, station_id: str) -> None:
        found = self.locate(station_id)
        if found is not None:
            found[0].retire(found[1])
            self.version += 1
        self._pending.discard(station_id)

    def locate(self, station_id: str) -> tuple[Segment, int] | None:
        """The live row of a station (the newest segment holding it)."""
        for segment in reversed(self.segments):
            row = segment.position.get(station_id)
            if row is not None and segment.live[row]:
                return segment, row
        return None

    def apply_pending(self) -> int:
        """Read the stations added or changed since the last call and index them (a new
        segment); merged duplicates and removed stations drop out. Returns how many. Status
        events that arrive while the stations are read are journaled and replayed on the new
        segment (applied to the old copies only, they would be lost with them)."""
        with self._lock:
            pending, self._pending = sorted(self._pending), set()
        if not pending:
            return 0
        if len(pending) > self.rebuild_above:
            self.build()
            return len(pending)
        with self._lock:
            self._journal = []
        try:
            canonical = self.store.canonical_of(pending)
            private = self.store.private_station_owners()
            self.private = set(private)
            stations = [
                s
                for sid in pending
                if canonical.get(sid, sid) == sid
                and sid not in private
                and (s := self.store.get_station(sid)) is not None
            ]
            for s in stations:
                self._operator(s.operator_id)
            srows, crows = station_rows(stations)
            builder = SegmentBuilder(srows, self.operator_code, self.charger_code)
            builder.add_connectors(crows)
            segment = builder.build()
            segment.refresh_available(time.time(), self.freshness_s)
        except BaseException:
            with self._lock:
                self._journal = None
                self._pending.update(pending)  # read again next time
            raise
        with self._lock:
            for sid in pending:  # the old copies, and stations merged away meanwhile
                found = self.locate(sid)
                if found is not None:
                    found[0].retire(found[1])
            if len(segment):
                self.segments = [*self.segments, segment]
            self._replay_journal()
        return len(pending)

    def _replay_journal(self) -> None:
        """Under the lock, with the new segments in place: what arrived while they were read."""
        journal, self._journal = self._journal or [], None
        for item in journal:
            if isinstance(item, str):
                self._pending.add(item)
            elif isinstance(item, StationRemoved):  # gone since it was read
                self._remove(item.station_id)
            elif isinstance(item, StatusConfirmed):
                self._apply_confirmed(item)
            else:
                self._apply_status(item)
        self.version += 1

    def needs_compaction(self) -> bool:
        return len(self.segments) > MAX_SEGMENTS

    def sweep(self, now: float | None = None) -> None:
        """Retire availability that aged past its operator's freshness limit."""
        self._load_operators()
        when = time.time() if now is None else now
        with self._lock:
            for segment in self.segments:
                segment.refresh_available(when, self.freshness_s)
            self.version += 1

    # --- reading ------------------------------------------------------------------------------
    def operator_codes(self, f: SearchFilter) -> NDArray[np.int16]:
        if not f.operators:
            return NO_OPERATORS
        return np.array(
            [self.operator_code[o] for o in f.operators if o in self.operator_code], np.int16
        )

    def __iter__(self) -> Iterator[Segment]:
        return iter(tuple(self.segments))

    @property
    def stations(self) -> int:
        return sum(int(s.live.sum()) for s in self)

    def status_of(self, station_id: str) -> tuple[int, int] | None:
        """(connectors available now, connectors) of an indexed station."""
        found = self.locate(station_id)
        if found is None:
            return None
        segment, row = found
        return int(segment.available[row]), int(segment.n_connectors[row])
