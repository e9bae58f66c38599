"""The data of a simulated T/CEC infrastructure operator: its stations and live connector status.

:class:`OperatorData` is what :class:`~chargemesh.sim.peers.tcec.server.TcecOperatorServer`
reads; :class:`OperatorNetwork` is the simple in-memory implementation used by the simulator and
the tests. It is thread-safe: the server answers from its own thread while a test or the simulator
changes statuses and stations from another.

Every station carries the time it last changed (aware, any zone), so that ``query_stations_info``
can answer ``LastQueryTime`` (``yyyy-MM-dd HH:mm:ss``, China time) with the stations changed at or
after it. New connectors start *idle* (``Status`` 1).

For the simulated operator's charging, :meth:`OperatorNetwork.pile_info` describes the pile behind
a connector (:class:`PileInfo`: manufacturer and model from the ``EquipmentInfo``, firmware from
``firmware`` (EquipmentID → version, default :data:`DEFAULT_FIRMWARE`), power, DC or AC, and
whether it does plug-and-charge: ``plug_and_charge`` is ``True`` for every connector, or a set of
ConnectorIDs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, Protocol

from chargemesh.protocols.tcec.charging import PolicyInfo
from chargemesh.protocols.tcec.codec import CHINA_TZ
from chargemesh.protocols.tcec.stations import (
    ConnectorInfo,
    ConnectorStatusInfo,
    EquipmentInfo,
    StationInfo,
    StationStatusInfo,
)

__all__ = [
    "DEFAULT_FIRMWARE",
    "DEFAULT_POLICY",
    "LAST_QUERY_TIME_FORMAT",
    "OperatorData",
    "OperatorNetwork",
    "PileInfo",
    "format_last_query_time",
    "parse_last_query_time",
    "pile_of",
]

#: ``LastQueryTime`` on the wire, China time.
LAST_QUERY_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"

#: A plain three-period time-of-use tariff (CNY/kWh): valley, peak from 08:00, valley from 22:00.
DEFAULT_POLICY: Final = (
    PolicyInfo(start_time="000000", elec_price=Decimal("0.3500"), service_price=Decimal("0.4000")),
    PolicyInfo(start_time="080000", elec_price=Decimal("1.0500"), service_price=Decimal("0.8000")),
    PolicyInfo(start_time="220000", elec_price=Decimal("0.3500"), service_price=Decimal("0.4000")),
)

#: The firmware of a pile :attr:`OperatorNetwork.firmware` does not name.
DEFAULT_FIRMWARE: Final = "V1.0.0"

_IDLE: Final = 1
_DC_EQUIPMENT: Final = frozenset({1, 3})  # EquipmentType DC, AC/DC combined
_DC_GUN: Final = 4  # ConnectorType: DC tethered gun


@dataclass(frozen=True, slots=True)
class PileInfo:
    """The pile behind a connector, as the simulated operator's charging needs it."""

    connector_id: str
    equipment_id: str
    manufacturer: str
    model: str
    firmware: str
    power_kw: float
    dc: bool
    plug_and_charge: bool


def pile_of(
    equipment: EquipmentInfo, connector: ConnectorInfo, *, firmware: str, plug_and_charge: bool
) -> PileInfo:
    """A :class:`PileInfo` from the wire models (power: the gun's, else the pile's, else 7 kW)."""
    dc = equipment.equipment_type in _DC_EQUIPMENT or connector.connector_type == _DC_GUN
    power = connector.power or equipment.power or 7.0
    return PileInfo(
        connector_id=connector.connector_id,
        equipment_id=equipment.equipment_id,
        manufacturer=equipment.manufacturer_name or equipment.manufacturer_id or "unknown",
        model=equipment.equipment_model or "unknown",
        firmware=firmware,
        power_kw=float(power),
        dc=dc,
        plug_and_charge=plug_and_charge,
    )


def format_last_query_time(at: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in China time; ``at`` must be timezone-aware."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("LastQueryTime must be built from an aware datetime")
    return at.astimezone(CHINA_TZ).strftime(LAST_QUERY_TIME_FORMAT)


def parse_last_query_time(text: str | None) -> datetime | None:
    """An aware datetime (UTC+8) from ``yyyy-MM-dd HH:mm:ss``; ``None``/blank means "everything".

    Raises ``ValueError`` for any other text.
    """
    if text is None or not text.strip():
        return None
    try:
        return datetime.strptime(text.strip(), LAST_QUERY_TIME_FORMAT).replace(tzinfo=CHINA_TZ)
    except ValueError:
        raise ValueError("LastQueryTime must be yyyy-MM-dd HH:mm:ss") from None


class OperatorData(Protocol):
    """What the operator server reads. Implementations must be safe to call from another thread."""

    def stations_changed_since(self, since: datetime | None) -> Sequence[StationInfo]:
        """All stations (``since`` is ``None``) or those changed at or after ``since``, in a
        stable order."""
        ...

    def station_status(self, station_id: str) -> StationStatusInfo | None:
        """The live status of every connector of a station; ``None`` for an unknown station."""
        ...

    def connector_status(self, connector_id: str) -> ConnectorStatusInfo | None:
        """The live status of one connector; ``None`` for an unknown connector."""
        ...

    def policy_for(self, connector_id: str) -> tuple[PolicyInfo, ...]:
        """The time-of-use prices of a connector (a known one)."""
        ...


def _china_now() -> datetime:
    return datetime.now(CHINA_TZ)


def _connectors(station: StationInfo) -> Iterable[ConnectorInfo]:
    for equipment in station.equipment_infos:
        yield from equipment.connector_infos


class OperatorNetwork:
    """An operator's stations in memory, with per-station ``last_changed`` and live status.

    ``changed_at`` is the ``last_changed`` of the initial stations (default: now); ``clock`` gives
    "now" (aware) for changes made without an explicit time (default: the wall clock, China time).
    ``policy`` is the time-of-use tariff of every connector (attribute, may be replaced).
    ``firmware`` (EquipmentID → version) and ``plug_and_charge`` (``True``/``False`` for every
    connector, or a set of ConnectorIDs) feed :meth:`pile_info`.
    """

    def __init__(
        self,
        stations: Iterable[StationInfo] = (),
        *,
        changed_at: datetime | None = None,
        policy: tuple[PolicyInfo, ...] = DEFAULT_POLICY,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.policy = policy
        self.firmware: dict[str, str] = {}
        self.plug_and_charge: bool | set[str] = False
        self._clock = clock or _china_now
        self._lock = threading.RLock()
        self._stations: dict[str, StationInfo] = {}
        self._changed: dict[str, datetime] = {}
        self._station_of: dict[str, str] = {}  # ConnectorID → StationID
        self._status: dict[str, ConnectorStatusInfo] = {}
        for station in stations:
            self.put_station(station, changed_at=changed_at)

    def _now(self) -> datetime:
        return self._clock()

    # ------------------------------------------------------------------ stations

    def put_station(self, station: StationInfo, *, changed_at: datetime | None = None) -> None:
        """Add a station, or replace the one with the same StationID (it keeps its place in the
        listing); its ``last_changed`` becomes ``changed_at`` (default: now).

        New connectors start idle, connectors that disappeared lose their status. A ConnectorID
        already used by another station raises ``ValueError``.
        """
        stamp = changed_at or self._now()
        if stamp.tzinfo is None or stamp.utcoffset() is None:
            raise ValueError("changed_at must be timezone-aware")
        connector_ids = [connector.connector_id for connector in _connectors(station)]
        with self._lock:
            self._check_connectors(station.station_id, connector_ids)
            self._forget_connectors(station.station_id, keep=set(connector_ids))
            for connector_id in connector_ids:
                self._station_of[connector_id] = station.station_id
                self._status.setdefault(
                    connector_id, ConnectorStatusInfo(connector_id=connector_id, status=_IDLE)
                )
            self._stations[station.station_id] = station
            self._changed[station.station_id] = stamp

    def _check_connectors(self, station_id: str, connector_ids: Sequence[str]) -> None:
        if len(set(connector_ids)) != len(connector_ids):
            raise ValueError(f"station {station_id} lists a ConnectorID twice")
        for connector_id in connector_ids:
            owner = self._station_of.get(connector_id, station_id)
            if owner != station_id:
                raise ValueError(f"ConnectorID {connector_id} belongs to station {owner}")

    def _forget_connectors(self, station_id: str, *, keep: set[str]) -> None:
        gone = [c for c, s in self._station_of.items() if s == station_id and c not in keep]
        for connector_id in gone:
            del self._station_of[connector_id]
            del self._status[connector_id]

    def touch(self, station_id: str, *, changed_at: datetime | None = None) -> None:
        """Mark a station as changed without altering it (``KeyError`` if unknown)."""
        with self._lock:
            station = self._stations[station_id]
            self.put_station(station, changed_at=changed_at)

    def station(self, station_id: str) -> StationInfo | None:
        with self._lock:
            return self._stations.get(station_id)

    def last_changed(self, station_id: str) -> datetime:
        """When the station last changed (``KeyError`` if unknown)."""
        with self._lock:
            return self._changed[station_id]

    def stations_changed_since(self, since: datetime | None) -> list[StationInfo]:
        with self._lock:
            return [
                station
                for station_id, station in self._stations.items()
                if since is None or self._changed[station_id] >= since
            ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._stations)

    # ------------------------------------------------------------------ live status

    def connector_ids(self, station_id: str | None = None) -> list[str]:
        """Every ConnectorID, or those of one station, in listing order."""
        with self._lock:
            if station_id is None:
                stations = list(self._stations.values())
            else:
                one = self._stations.get(station_id)
                stations = [] if one is None else [one]
        return [c.connector_id for station in stations for c in _connectors(station)]

    def connector_status(self, connector_id: str) -> ConnectorStatusInfo | None:
        with self._lock:
            return self._status.get(connector_id)

    def station_status(self, station_id: str) -> StationStatusInfo | None:
        with self._lock:
            if station_id not in self._stations:
                return None
            infos = tuple(self._status[c] for c in self.connector_ids(station_id))
        return StationStatusInfo(station_id=station_id, connector_status_infos=infos)

    def set_status(
        self,
        connector_id: str,
        status: int,
        *,
        park_status: int | None = None,
        lock_status: int | None = None,
        soc: float | None = None,
    ) -> ConnectorStatusInfo:
        """Give a connector a new ``Status`` (live values are reset); returns the new status,
        ready to push. ``KeyError`` for an unknown connector."""
        info = ConnectorStatusInfo(
            connector_id=connector_id,
            status=status,
            park_status=park_status,
            lock_status=lock_status,
            soc=soc,
        )
        return self.put_status(info)

    def put_status(self, info: ConnectorStatusInfo) -> ConnectorStatusInfo:
        """Replace a connector's whole status (``KeyError`` for an unknown connector)."""
        with self._lock:
            if info.connector_id not in self._status:
                raise KeyError(info.connector_id)
            self._status[info.connector_id] = info
        return info

    def policy_for(self, connector_id: str) -> tuple[PolicyInfo, ...]:
        return self.policy

    # ------------------------------------------------------------------ charging

    def pile_info(self, connector_id: str) -> PileInfo | None:
        """The pile behind a connector, ``None`` for an unknown one."""
        with self._lock:
            station = self._stations.get(self._station_of.get(connector_id, ""))
            pnc = self.plug_and_charge
        if station is None:
            return None
        for equipment in station.equipment_infos:
            for connector in equipment.connector_infos:
                if connector.connector_id == connector_id:
                    return pile_of(
                        equipment,
                        connector,
                        firmware=self.firmware.get(equipment.equipment_id, DEFAULT_FIRMWARE),
                        plug_and_charge=pnc if isinstance(pnc, bool) else connector_id in pnc,
                    )
        return None

    def hold(self, connector_id: str, held: bool) -> None:
        """A car arrived (``held``) or left: nothing else changes this network's statuses, so
        there is nothing to hold off (the simulator's feeds stop their churn there)."""
