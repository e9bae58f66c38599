"""Builders for registry objects in tests."""

from __future__ import annotations

from datetime import UTC, datetime

from chargemesh.domain import (
    AccessMethod,
    Capability,
    Connector,
    ConnectorStandard,
    ConnectorStatus,
    CurrentType,
    Evse,
    Operator,
    OperatorProtocol,
    Station,
    child_id,
    station_id,
)
from chargemesh.domain.vehicle_ids import emaid_with_check_character, vin_with_check_digit

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def make_operator(op_id: str = "313744932", name: str = "Lanting Charging") -> Operator:
    return Operator(
        id=op_id,
        name=name,
        protocol=OperatorProtocol.TCEC,
        capabilities=frozenset({Capability.REALTIME, Capability.SCAN}),
    )


def make_station(
    op_id: str = "313744932",
    source_id: str = "S1",
    *,
    evses: int = 2,
    connectors: int = 2,
    name: str | None = None,
    status: ConnectorStatus = ConnectorStatus.AVAILABLE,
    lon: float = 116.4039,
    lat: float = 39.9101,
) -> Station:
    sid = station_id(op_id, source_id)
    built = []
    for e in range(evses):
        eid = child_id(sid, f"E{e}")
        dc = e % 2 == 0
        built.append(
            Evse(
                id=eid,
                source_id=f"E{e}",
                manufacturer="Huaxin Power",
                model="HX-120" if dc else "HX-7",
                firmware="2.4.1",
                max_power_kw=120.0 if dc else 7.0,
                connectors=tuple(
                    Connector(
                        id=child_id(eid, f"{source_id}E{e}C{c}"),
                        source_id=f"{source_id}E{e}C{c}",
                        standard=ConnectorStandard.GBT_DC if dc else ConnectorStandard.GBT_AC,
                        current_type=CurrentType.DC if dc else CurrentType.AC,
                        max_power_kw=120.0 if dc else 7.0,
                        max_voltage=750.0 if dc else 220.0,
                        max_current=250.0 if dc else 32.0,
                        access_methods=frozenset({AccessMethod.SCAN, AccessMethod.APP_START}),
                        status=status,
                        status_at=T0,
                        status_since=T0,
                    )
                    for c in range(connectors)
                ),
            )
        )
    return Station(
        id=sid,
        operator_id=op_id,
        source_id=source_id,
        name=name or f"Station {source_id}",
        lon=lon,
        lat=lat,
        evses=tuple(built),
        address="1 Chang'an Avenue",
        county_adcode="110101",
        opening_hours="24/7",
        parking="2 hours free",
        updated_at=T0,
    )


def valid_vin(n: int) -> str:
    """VIN number ``n`` (0..999999) of a fictional Chinese make: a valid check digit, a
    different VIN for each ``n``."""
    if not 0 <= n < 1_000_000:
        raise ValueError("n must be 0..999999")
    return vin_with_check_digit(f"LCMEV1A20SA{n:06d}")


def valid_emaid(n: int) -> str:
    """EMAID number ``n`` (0..99999999) of a contract with us (CN-CMH), compact, with its check
    character; a different one for each ``n``. The instance starts with ``T``, so it never
    equals a simulated car's (``sim.charging.make_emaid``: ``C``)."""
    if not 0 <= n < 100_000_000:
        raise ValueError("n must be 0..99999999")
    return emaid_with_check_character(f"CNCMHT{n:08d}")
