"""chargemesh geo: China's counties and coordinate systems."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from chargemesh.cli.common import EXIT_USAGE, fail, out

app = typer.Typer(help="China's counties and coordinate systems.", no_args_is_help=True)


@app.command("county")
def geo_county(
    lon: Annotated[float, typer.Argument(help="Longitude (GCJ-02 unless --wgs84).")],
    lat: Annotated[float, typer.Argument(help="Latitude.")],
    wgs84: Annotated[bool, typer.Option(help="The point is in WGS-84 (GPS).")] = False,
) -> None:
    """Which county-level unit a point lies in."""
    from chargemesh.geo.coords import wgs84_to_gcj02
    from chargemesh.geo.counties import county_table

    if wgs84:
        lon, lat = wgs84_to_gcj02(lon, lat)
    table = county_table()
    adcode = table.lookup_one(lon, lat)
    county = table.get(adcode) if adcode else None
    if county is None:
        raise fail(f"({lon:.6f}, {lat:.6f}) is in no county-level unit of mainland China", 1)
    out.print(f"{county.adcode} {county.province} {county.city} {county.name}")


@app.command("convert")
def geo_convert(
    lon: Annotated[float, typer.Argument(help="Longitude.")],
    lat: Annotated[float, typer.Argument(help="Latitude.")],
    source: Annotated[str, typer.Option("--from", help="wgs84, gcj02 or bd09.")] = "wgs84",
    target: Annotated[str, typer.Option("--to", help="wgs84 or gcj02.")] = "gcj02",
) -> None:
    """Convert a point between WGS-84, GCJ-02 and BD-09 (lon lat order)."""
    from chargemesh.geo import coords

    conversions: dict[tuple[str, str], Callable[[float, float], tuple[float, float]]] = {
        ("wgs84", "gcj02"): coords.wgs84_to_gcj02,
        ("gcj02", "wgs84"): coords.gcj02_to_wgs84,
        ("bd09", "gcj02"): coords.bd09_to_gcj02,
        ("bd09", "wgs84"): coords.bd09_to_wgs84,
        ("gcj02", "bd09"): coords.gcj02_to_bd09,
    }
    convert = conversions.get((source, target))
    if convert is None:
        pairs = ", ".join(f"{a}->{b}" for a, b in conversions)
        raise fail(f"cannot convert {source} to {target}; supported: {pairs}", EXIT_USAGE)
    x, y = convert(lon, lat)
    out.print(f"{x:.6f} {y:.6f}")
