"""Lazy data adapters: what the operator servers read, over a :class:`~.country.Country`.

At ``--scale 1`` the country has ≈ 250 k stations, 1.4 M EVSEs and over 2 M connectors; building
a pydantic model for each would take minutes and gigabytes. The feeds keep only numpy arrays and
build a ``StationInfo`` / ``Location`` when a page or a lookup asks for it:

* :class:`TcecOperatorFeed` — one T/CEC operator, the
  :class:`~chargemesh.sim.peers.tcec.network.OperatorData` that
  :class:`~chargemesh.sim.peers.tcec.server.TcecOperatorServer` serves. Its units are
  connectors; ``stations_changed_since`` answers a :class:`LazySequence` in station order.
* :class:`OcpiCpoFeed` — one OCPI CPO, the :class:`~chargemesh.sim.peers.ocpi.data.CpoData` that
  :class:`~chargemesh.sim.peers.ocpi.server.OcpiCpoServer` serves. Its units are EVSEs; a status
  change stamps the EVSE and its Location (``last_updated``), so ``changed("locations", …)``
  (ordered by ``last_updated``, then id) finds it. Tariffs, Sessions, CDRs and Tokens are few and
  live in an in-memory :class:`~chargemesh.sim.peers.ocpi.data.CpoNetwork`.

Both hold the live status of each unit as a T/CEC ``Status`` code in a ``uint8`` array
(``status``), changed through ``set_unit_status`` (by :mod:`.churn`) and read by the servers from
their own threads: a reader sees each unit's old or new code, never a torn value. A unit where a
simulated car is plugged in is *held* (``held``, :meth:`_FeedBase.hold_unit`): the churn leaves it
alone, its status is the charging simulation's.

:func:`link_duplicates` makes an aggregator's copies of a partner's stations follow the partner's
status (same physical piles): a change of the original is mirrored onto the copy, and the churn
never changes a copy on its own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar, overload

import numpy as np
import numpy.typing as npt

from chargemesh.protocols.ocpi.enums import ModuleID, Status, TokenType
from chargemesh.protocols.ocpi.models import Cdr, Location, Session, Token, ci
from chargemesh.protocols.tcec.charging import PolicyInfo
from chargemesh.protocols.tcec.stations import (
    ConnectorStatusInfo,
    StationInfo,
    StationStatusInfo,
)
from chargemesh.sim.churn import OCPI_OF_CODE, initial_statuses
from chargemesh.sim.country import (
    MODELS,
    Country,
    locate_connector,
    locate_evse,
    ocpi_location,
    ocpi_tariff,
    operator_index,
    station_id,
    station_index,
    tcec_station,
)
from chargemesh.sim.operators import SimOperator
from chargemesh.sim.peers.ocpi.data import CpoNetwork, Item
from chargemesh.sim.peers.tcec.network import DEFAULT_POLICY, PileInfo

__all__ = [
    "CODE_OF_OCPI",
    "Feed",
    "LazySequence",
    "OcpiCpoFeed",
    "TcecOperatorFeed",
    "build_feeds",
    "link_duplicates",
]

T = TypeVar("T")
I64 = npt.NDArray[np.int64]

#: The status code kept for an OCPI status the churn does not produce (PLANNED, REMOVED,
#: UNKNOWN, anything else): shown as that status, changed back to idle by the next change.
CODE_OF_OCPI: Final[Mapping[str, int]] = {
    **{status.value: code for code, status in OCPI_OF_CODE.items()},
    Status.UNKNOWN.value: 250,
    Status.PLANNED.value: 251,
    Status.REMOVED.value: 252,
}
_OCPI_OF_CODE_TEXT: Final[Mapping[int, str]] = {code: text for text, code in CODE_OF_OCPI.items()}
_CACHED_QUERIES: Final = 16


class LazySequence(Sequence[T]):
    """A read-only sequence over ``indices`` whose items are built by ``build(index)`` when
    asked for: ``len()`` is free, a slice builds only its own items."""

    __slots__ = ("_build", "_indices")

    def __init__(self, indices: I64, build: Callable[[int], T]) -> None:
        self._indices = indices
        self._build = build

    def __len__(self) -> int:
        return int(self._indices.size)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self._build(int(i)) for i in self._indices[index].tolist()]
        return self._build(int(self._indices[index]))

    def __iter__(self) -> Iterator[T]:
        for i in self._indices.tolist():
            yield self._build(int(i))

    @property
    def indices(self) -> I64:
        """The country's station indices, in order."""
        return self._indices


def _micros(at: datetime) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return round(at.timestamp() * 1_000_000)


def _from_micros(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


class _FeedBase:
    """What both feeds share: the operator's slice of the country, live statuses, mirrors."""

    def __init__(self, country: Country, operator: SimOperator | str, *, seed: int) -> None:
        k = operator_index(country, operator if isinstance(operator, str) else operator.id)
        self.country = country
        self.operator = country.operators[k]
        self.first_station = int(country.operator_first_station[k])
        self.end_station = int(country.operator_first_station[k + 1])
        self.first_evse = int(country.station_first_evse[self.first_station])
        self.end_evse = int(country.station_first_evse[self.end_station])
        self._lock = threading.RLock()
        self._rng_seed = (seed, k)
        self._mirrors: dict[int, list[tuple[_FeedBase, int]]] = {}
        self.followers: npt.NDArray[np.bool_]
        self.held: npt.NDArray[np.bool_]
        self.status: npt.NDArray[np.uint8]

    @property
    def operator_id(self) -> str:
        return self.operator.id

    @property
    def station_count(self) -> int:
        return self.end_station - self.first_station

    @property
    def evse_count(self) -> int:
        return self.end_evse - self.first_evse

    @property
    def units(self) -> int:
        return int(self.status.size)

    def _initial(self, count: int) -> npt.NDArray[np.uint8]:
        self.followers = np.zeros(count, dtype=np.bool_)
        self.held = np.zeros(count, dtype=np.bool_)
        return initial_statuses(count, np.random.default_rng(self._rng_seed))

    def hold_unit(self, unit: int, held: bool) -> None:
        """Keep the churn off ``unit`` (a simulated car is there) or give it back."""
        self.held[unit] = held

    def station_of_evse(self, e: int) -> int:
        """The country's station index of global EVSE ``e``."""
        return int(np.searchsorted(self.country.station_first_evse, e, side="right")) - 1

    def units_of_evse(self, e: int) -> list[int]:
        raise NotImplementedError

    def mirrors(self, unit: int) -> Sequence[tuple[_FeedBase, int]]:
        """The units of other feeds that follow this one (an aggregator's copies)."""
        return self._mirrors.get(unit, ())

    def set_unit_status(self, unit: int, code: int, at: datetime) -> None:
        raise NotImplementedError


# =============================================================================== T/CEC


class TcecOperatorFeed(_FeedBase):
    """One T/CEC operator's stations and live connector status, built on demand.

    ``policy`` is every connector's time-of-use tariff. Statuses start from the churn's steady
    mix, seeded with (``seed``, operator)."""

    def __init__(
        self,
        country: Country,
        operator: SimOperator | str,
        *,
        seed: int = 0,
        policy: tuple[PolicyInfo, ...] = DEFAULT_POLICY,
    ) -> None:
        super().__init__(country, operator, seed=seed)
        if self.operator.protocol != "tcec":
            raise ValueError(f"{self.operator.id} does not speak T/CEC")
        self.policy = policy
        self.first_connector = int(country.evse_first_connector[self.first_evse])
        self.end_connector = int(country.evse_first_connector[self.end_evse])
        self.status = self._initial(self.end_connector - self.first_connector)
        self._changed_s = country.station_changed[self.first_station : self.end_station]
        self._queries: OrderedDict[float | None, I64] = OrderedDict()

    @property
    def connector_count(self) -> int:
        return self.units

    # ------------------------------------------------------------------ OperatorData

    def stations_changed_since(self, since: datetime | None) -> LazySequence[StationInfo]:
        key = None if since is None else since.timestamp()
        with self._lock:
            indices = self._queries.get(key)
            if indices is None:
                everything = np.arange(self.first_station, self.end_station, dtype=np.int64)
                indices = everything if key is None else everything[self._changed_s >= key]
                self._queries[key] = indices
                while len(self._queries) > _CACHED_QUERIES:
                    self._queries.popitem(last=False)
            else:
                self._queries.move_to_end(key)
        return LazySequence(indices, self._station)

    def _station(self, i: int) -> StationInfo:
        return tcec_station(self.country, i)

    def station_status(self, station_id: str) -> StationStatusInfo | None:
        i = station_index(self.country, self.operator.id, station_id)
        if i is None:
            return None
        c = self.country
        first = int(c.evse_first_connector[int(c.station_first_evse[i])])
        last = int(c.evse_first_connector[int(c.station_first_evse[i + 1])])
        infos = tuple(
            ConnectorStatusInfo(connector_id=self.connector_id(u), status=int(self.status[u]))
            for u in range(first - self.first_connector, last - self.first_connector)
        )
        return StationStatusInfo(station_id=station_id, connector_status_infos=infos)

    def connector_status(self, connector_id: str) -> ConnectorStatusInfo | None:
        unit = self.unit_of(connector_id)
        if unit is None:
            return None
        return ConnectorStatusInfo(connector_id=connector_id, status=int(self.status[unit]))

    def policy_for(self, connector_id: str) -> tuple[PolicyInfo, ...]:
        return self.policy

    # ------------------------------------------------------------------ units

    def unit_of(self, connector_id: str) -> int | None:
        """The unit (index into ``status``) of a ConnectorID of this operator, or ``None``."""
        found = locate_connector(self.country, self.operator.id, connector_id)
        if found is None:
            return None
        _, e, gun = found
        return int(self.country.evse_first_connector[e]) + gun - 1 - self.first_connector

    def connector_id(self, unit: int) -> str:
        """The ConnectorID of a unit: ``<StationID><nnn EVSE><nn gun>``."""
        c = self.country
        g = unit + self.first_connector
        e = int(np.searchsorted(c.evse_first_connector, g, side="right")) - 1
        i = self.station_of_evse(e)
        k = e - int(c.station_first_evse[i])
        gun = g - int(c.evse_first_connector[e])
        return f"{station_id(c, i)}{k + 1:03d}{gun + 1:02d}"

    def units_of_evse(self, e: int) -> list[int]:
        c = self.country
        first = int(c.evse_first_connector[e]) - self.first_connector
        return list(range(first, first + int(c.evse_connectors[e])))

    def set_unit_status(self, unit: int, code: int, at: datetime) -> None:
        self.status[unit] = code

    def set_status(self, connector_id: str, code: int) -> ConnectorStatusInfo:
        """Give a connector a new ``Status`` (``KeyError`` if unknown); the new status, ready to
        push (like :meth:`OperatorNetwork.set_status`). Followers (an aggregator's copies)
        take it too."""
        unit = self.unit_of(connector_id)
        if unit is None:
            raise KeyError(connector_id)
        self.status[unit] = code
        for other, twin in self.mirrors(unit):
            other.set_unit_status(twin, code, datetime.now(UTC))
        return ConnectorStatusInfo(connector_id=connector_id, status=code)

    # ------------------------------------------------------------------ charging

    def pile_info(self, connector_id: str) -> PileInfo | None:
        """The pile behind a connector (its model row in the country), ``None`` if unknown."""
        found = locate_connector(self.country, self.operator.id, connector_id)
        if found is None:
            return None
        _, e, _ = found
        manufacturer, model, firmware = MODELS[int(self.country.evse_model[e])]
        pnc = "plug_and_charge" in self.operator.capabilities and bool(self.country.evse_pnc[e])
        return PileInfo(
            connector_id=connector_id,
            equipment_id=connector_id[:-2],
            manufacturer=manufacturer,
            model=model,
            firmware=firmware,
            power_kw=float(self.country.evse_power_kw[e]),
            dc=bool(self.country.evse_dc[e]),
            plug_and_charge=pnc,
        )

    def hold(self, connector_id: str, held: bool) -> None:
        """Keep the churn off a connector while a simulated car is there (``KeyError`` if
        unknown)."""
        unit = self.unit_of(connector_id)
        if unit is None:
            raise KeyError(connector_id)
        self.hold_unit(unit, held)


# =============================================================================== OCPI


class OcpiCpoFeed(_FeedBase):
    """One OCPI CPO's Locations, built on demand, with live EVSE status.

    A status change stamps the EVSE and its Location with the change's time. A Location stored
    with :meth:`put_location` (it must be one of this CPO's known ids) replaces the generated one.
    """

    def __init__(self, country: Country, operator: SimOperator | str, *, seed: int = 0) -> None:
        super().__init__(country, operator, seed=seed)
        if self.operator.protocol != "ocpi":
            raise ValueError(f"{self.operator.id} does not speak OCPI")
        cc, pid = self.operator.party
        self.country_code = ci(cc)
        self.party_id = ci(pid)
        self.status = self._initial(self.evse_count)
        changed = country.station_changed[self.first_station : self.end_station]
        self._base_us = np.round(changed * 1_000_000).astype(np.int64)
        self._updated_us = self._base_us.copy()  # each Location's last_updated
        self._evse_updated_us = np.zeros(self.evse_count, dtype=np.int64)  # 0: the Location's
        self._overrides: dict[int, Location] = {}
        self._version = 0
        self._queries: OrderedDict[tuple[int | None, int | None], tuple[int, I64]] = OrderedDict()
        self.objects = CpoNetwork(  # its Tariff, named on every connector, is what it bills
            self.country_code, self.party_id, tariffs=[ocpi_tariff(self.party)]
        )

    @property
    def party(self) -> tuple[str, str]:
        return (self.country_code, self.party_id)

    # ------------------------------------------------------------------ listings

    def changed(
        self,
        module: ModuleID | str,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> Sequence[Item]:
        if ModuleID(module) is not ModuleID.LOCATIONS:
            return self.objects.changed(module, date_from, date_to)
        key = (
            None if date_from is None else _micros(date_from),
            None if date_to is None else _micros(date_to),
        )
        with self._lock:
            cached = self._queries.get(key)
            if cached is not None and cached[0] == self._version:
                self._queries.move_to_end(key)
                indices = cached[1]
            else:
                indices = self._select(*key)
                self._queries[key] = (self._version, indices)
                while len(self._queries) > _CACHED_QUERIES:
                    self._queries.popitem(last=False)
        return LazySequence(indices, self._location_at)

    def _select(self, from_us: int | None, to_us: int | None) -> I64:
        updated = self._updated_us
        keep = np.ones(updated.size, dtype=np.bool_)
        if from_us is not None:
            keep &= updated >= from_us
        if to_us is not None:
            keep &= updated < to_us
        local = np.flatnonzero(keep)
        # Within one operator, ids sort like the station indices (prefix, then 7 digits).
        order = np.lexsort((local, updated[local]))
        out: I64 = (local[order] + self.first_station).astype(np.int64)
        return out

    def _location_at(self, i: int) -> Location:
        local = i - self.first_station
        with self._lock:
            override = self._overrides.get(local)
            updated_us = int(self._updated_us[local])
            base_us = int(self._base_us[local])
            first = int(self.country.station_first_evse[i]) - self.first_evse
            last = int(self.country.station_first_evse[i + 1]) - self.first_evse
            codes = self.status[first:last].tolist()
            evse_us = self._evse_updated_us[first:last].tolist()
        if override is not None:
            return override
        statuses = [_OCPI_OF_CODE_TEXT.get(code, Status.UNKNOWN.value) for code in codes]
        location = ocpi_location(self.country, i, statuses)
        if updated_us == base_us:
            return location
        evses = [
            evse if us == 0 else evse.model_copy(update={"last_updated": _from_micros(us)})
            for evse, us in zip(location.evses or [], evse_us, strict=True)
        ]
        return location.model_copy(
            update={"evses": evses, "last_updated": _from_micros(updated_us)}
        )

    # ------------------------------------------------------------------ locations

    def _local_of(self, location_id: str) -> int | None:
        i = station_index(self.country, self.operator.id, location_id)
        return None if i is None else i - self.first_station

    def location(self, location_id: str) -> Location | None:
        local = self._local_of(location_id)
        return None if local is None else self._location_at(local + self.first_station)

    def put_location(self, location: Location) -> Location:
        """Replace a generated Location (same id) by ``location``; new ids are refused: the
        simulated country's stations are fixed."""
        if (ci(location.country_code), ci(location.party_id)) != self.party:
            raise ValueError(f"Location {location.id} belongs to another party")
        local = self._local_of(location.id)
        if local is None:
            raise ValueError(f"Location {location.id} is not one of this CPO's stations")
        with self._lock:
            self._overrides[local] = location
            self._updated_us[local] = _micros(location.last_updated)
            self._version += 1
        return location

    def set_evse_status(
        self, location_id: str, evse_uid: str, status: Status | str, at: datetime
    ) -> Location:
        found = locate_evse(self.country, self.operator.id, evse_uid)
        local = self._local_of(location_id)
        if found is None or local is None or found[0] != local + self.first_station:
            raise KeyError(evse_uid if local is not None else location_id)
        code = CODE_OF_OCPI.get(ci(str(status)), CODE_OF_OCPI[Status.UNKNOWN.value])
        self.set_unit_status(found[1] - self.first_evse, code, at)
        return self._location_at(found[0])

    # ------------------------------------------------------------------ units

    def evse_of(self, unit: int) -> tuple[str, str]:
        """(Location id, EVSE uid) of a unit."""
        e = unit + self.first_evse
        i = self.station_of_evse(e)
        sid = station_id(self.country, i)
        return sid, f"{sid}-{e - int(self.country.station_first_evse[i]) + 1:02d}"

    def units_of_evse(self, e: int) -> list[int]:
        return [e - self.first_evse]

    def set_unit_status(self, unit: int, code: int, at: datetime) -> None:
        us = _micros(at)
        local = self.station_of_evse(unit + self.first_evse) - self.first_station
        with self._lock:
            self.status[unit] = code
            self._evse_updated_us[unit] = us
            self._updated_us[local] = max(us, int(self._updated_us[local]))
            override = self._overrides.get(local)
            if override is not None:
                self._overrides[local] = _restamp(override, self.evse_of(unit)[1], code, at)
            self._version += 1

    # ------------------------------------------------------------------ the other modules

    def add_session(self, session: Session) -> Session:
        return self.objects.add_session(session)

    def update_session(self, session_id: str, patch: Mapping[str, Any]) -> Session:
        return self.objects.update_session(session_id, patch)

    def add_cdr(self, cdr: Cdr) -> Cdr:
        return self.objects.add_cdr(cdr)

    def token(
        self,
        country_code: str,
        party_id: str,
        uid: str,
        token_type: TokenType | str = TokenType.RFID,
    ) -> Token | None:
        return self.objects.token(country_code, party_id, uid, token_type)

    def put_token(self, token: Token) -> Token:
        return self.objects.put_token(token)


def _restamp(location: Location, evse_uid: str, code: int, at: datetime) -> Location:
    text = _OCPI_OF_CODE_TEXT.get(code, Status.UNKNOWN.value)
    evses = [
        e.model_copy(update={"status": text, "last_updated": at})
        if ci(e.uid) == ci(evse_uid)
        else e
        for e in location.evses or []
    ]
    return location.model_copy(update={"evses": evses, "last_updated": at})


# =============================================================================== the country

Feed = TcecOperatorFeed | OcpiCpoFeed


def build_feeds(country: Country, *, seed: int = 0) -> dict[str, Feed]:
    """A feed for every operator of the country (keyed by operator id), duplicates linked."""
    feeds: dict[str, Feed] = {}
    for op in country.operators:
        feeds[op.id] = (
            TcecOperatorFeed(country, op, seed=seed)
            if op.protocol == "tcec"
            else OcpiCpoFeed(country, op, seed=seed)
        )
    link_duplicates(country, feeds)
    return feeds


def link_duplicates(country: Country, feeds: Mapping[str, Feed]) -> int:
    """Make every aggregator copy follow its original's status (``country.duplicates``: the
    copies have the same piles, in the same order). Returns the number of follower units."""
    linked = 0
    for original, copy in country.duplicates.tolist():
        source = feeds.get(country.operators[int(country.station_operator[original])].id)
        target = feeds.get(country.operators[int(country.station_operator[copy])].id)
        if source is None or target is None:
            continue
        first_o = int(country.station_first_evse[original])
        first_c = int(country.station_first_evse[copy])
        n = int(country.station_first_evse[original + 1]) - first_o
        for k in range(n):
            from_units = source.units_of_evse(first_o + k)
            to_units = target.units_of_evse(first_c + k)
            for p, unit in enumerate(from_units):
                followers = (
                    to_units if len(from_units) == 1 else to_units[p : p + 1]
                )  # one EVSE status → every gun; else gun by gun
                for f in followers:
                    source._mirrors.setdefault(unit, []).append((target, f))
                    target.followers[f] = True
                    target.status[f] = source.status[unit]
                    linked += 1
    return linked
