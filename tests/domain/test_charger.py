from __future__ import annotations

from datetime import time
from decimal import Decimal

from chargemesh.domain import Tariff, TariffPeriod
from chargemesh.geo.coords import wgs84_to_gcj02
from tests.factories import make_station


def test_station_ids_nest_operator_station_evse_connector() -> None:
    station = make_station("313744932", "S9", evses=1, connectors=1)
    evse = station.evses[0]
    connector = evse.connectors[0]
    assert station.id == "313744932:S9"
    assert evse.id.startswith(station.id + ":")
    assert connector.id.startswith(evse.id + ":")


def test_station_wgs84_is_derived_from_gcj02() -> None:
    wgs = (116.3975, 39.9087)  # Tiananmen in WGS-84
    gcj = wgs84_to_gcj02(*wgs)
    station = make_station(lon=gcj[0], lat=gcj[1])
    lon, lat = station.wgs84
    assert abs(lon - wgs[0]) < 1e-7
    assert abs(lat - wgs[1]) < 1e-7
    assert abs(station.lon - lon) > 0.004  # the GCJ-02 shift is hundreds of metres


def test_evse_power_falls_back_to_its_best_connector() -> None:
    import dataclasses

    evse = make_station(evses=1).evses[0]
    assert evse.power_kw == 120.0
    assert dataclasses.replace(evse, max_power_kw=None).power_kw == 120.0
    assert dataclasses.replace(evse, max_power_kw=None, connectors=()).power_kw == 0.0


def test_tariff_periods_cover_the_day_including_past_midnight() -> None:
    night = TariffPeriod(time(23, 0), time(7, 0), Decimal("0.30"), Decimal("0.40"))
    day = TariffPeriod(time(7, 0), time(23, 0), Decimal("1.00"), Decimal("0.80"))
    tariff = Tariff(id="t", operator_id="op", periods=(night, day))
    assert tariff.period_at(time(2, 0)) is night
    assert tariff.period_at(time(23, 30)) is night
    assert tariff.period_at(time(7, 0)) is day
    assert tariff.period_at(time(22, 59)) is day
    assert day.price_per_kwh == Decimal("1.80")
    evening = TariffPeriod(time(18, 0), time(0, 0), Decimal("1.2"))
    assert evening.covers(time(23, 59))
    assert not evening.covers(time(17, 59))
