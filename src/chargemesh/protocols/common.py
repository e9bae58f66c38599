"""Helpers shared by the protocol → domain mappings (T/CEC, OCPI)."""

from __future__ import annotations

import math

from chargemesh.geo.counties import CountyTable, county_table

__all__ = ["county_adcode", "positive", "text"]


def text(value: str | None) -> str | None:
    """``value`` stripped, or ``None`` when it is missing or blank."""
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def positive(value: float | None) -> float | None:
    """Operators send 0 (or junk) for unknown ratings: keep only real, positive figures."""
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return value


def county_adcode(
    area_code: str | None, lon: float, lat: float, counties: CountyTable | None = None
) -> str | None:
    """The station's county: its ``AreaCode`` (current or former GB/T 2260 code; longer codes are
    cut to their first 6 digits), else the county containing the GCJ-02 point, else ``None``."""
    table = counties if counties is not None else county_table()
    code = (area_code or "").strip()[:6]
    if len(code) == 6 and code.isdigit():
        county = table.resolve(code)
        if county is not None:
            return county.adcode
    if math.isfinite(lon) and math.isfinite(lat):
        return table.lookup_one(lon, lat)
    return None
