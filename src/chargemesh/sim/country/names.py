"""Station names and addresses: generated Chinese text: ``<brand><county><road><place>站`` at
``<province><city><county><road><n>号`` (roads and numbers drawn so that no two stations of a
county share an address), ``<brand><county>服务区(<side>)站`` on highways.
"""

from __future__ import annotations

from typing import Final

from chargemesh.geo.counties import County, county_table
from chargemesh.sim.country.columns import Country
from chargemesh.sim.operators import brand

_ROAD_STEMS: Final = (
    "建设", "人民", "解放", "中山", "新华", "文化", "和平", "光明", "胜利", "幸福",
    "长江", "黄河", "滨江", "科技", "工业", "迎宾", "世纪", "金桥", "朝阳", "东风",
    "振兴", "团结", "民主", "青年", "友谊", "学府", "体育", "花园", "锦绣", "丰收",
    "创业", "兴业", "园区", "康宁", "永安", "长安", "复兴", "未来", "星光", "翠微",
)  # fmt: skip
_ROAD_SUFFIXES: Final = ("路", "大道", "街", "大街")
_ROADS: Final = tuple(s + x for x in _ROAD_SUFFIXES for s in _ROAD_STEMS)
# (place, T/CEC Construction code, OCPI parking type)
PLACES: Final = (
    ("商业广场", 9, "PARKING_GARAGE"),
    ("购物中心", 9, "UNDERGROUND_GARAGE"),
    ("写字楼", 4, "UNDERGROUND_GARAGE"),
    ("产业园", 5, "PARKING_LOT"),
    ("物流园", 5, "PARKING_LOT"),
    ("公交场站", 6, "PARKING_LOT"),
    ("高铁站", 6, "PARKING_LOT"),
    ("社区", 1, "PARKING_LOT"),
    ("小区", 1, "UNDERGROUND_GARAGE"),
    ("体育中心", 7, "PARKING_LOT"),
    ("会展中心", 7, "PARKING_LOT"),
    ("公园", 8, "PARKING_LOT"),
    ("路边停车位", 10, "ON_STREET"),
    ("政务中心", 2, "PARKING_LOT"),
    ("医院", 2, "PARKING_LOT"),
    ("酒店", 3, "PARKING_LOT"),
    ("汽车城", 3, "PARKING_LOT"),
    ("超充中心", 255, "PARKING_LOT"),
    ("加油站", 255, "PARKING_LOT"),
)
_SA_VARIANTS: Final = ("", "东", "西", "南", "北", "新区", "城郊", "枢纽")
_SIDES: Final = ("东区", "西区", "南区", "北区")
_HIGHWAYS: Final = 40


def county_of(country: Country, i: int) -> County:
    """The county (from the shipped table) of station ``i``."""
    county = county_table().get(int(country.station_county[i]))
    assert county is not None
    return county


def _short(name: str) -> str:
    for suffix in ("自治县", "自治旗", "林区", "县", "市", "区", "旗"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _region(county: County) -> str:
    parts = [county.province]
    for part in (county.city, county.name):
        if part != parts[-1] and not part.endswith("直辖"):
            parts.append(part)
    return "".join(parts)


def place_kind(country: Country, s: int) -> int:
    seq = int(country.station_seq[s])
    return (seq * 7 + int(country.station_county[s])) % len(PLACES)


def name_and_address(country: Country, i: int) -> tuple[str, str]:
    s = int(country.station_source[i])
    county = county_of(country, s)
    op = country.operators[int(country.station_operator[s])]
    seq = int(country.station_seq[s])
    offset = int(country.station_county[s]) % 97
    short = _short(county.name)
    if country.station_highway[s]:
        rest = seq // _HIGHWAYS
        area = f"{short}{_SA_VARIANTS[rest % len(_SA_VARIANTS)]}服务区"
        side = _SIDES[(rest // len(_SA_VARIANTS)) % len(_SIDES)]
        road = f"S{(seq + offset) % _HIGHWAYS * 3 + 1}高速"
        name = f"{brand(op)}{area}({side})站"
        address = f"{_region(county)}{road}{area}{side}"
    else:
        road = _ROADS[(seq + offset) % len(_ROADS)]
        number = (seq // len(_ROADS)) * 4 + 1 + (seq + offset) % 4
        place = PLACES[place_kind(country, s)][0]
        # a place that is itself a station (加油站, 高铁站) is not named "…站站"
        name = f"{brand(op)}{short}{road}{place}{'充电站' if place.endswith('站') else '站'}"
        address = f"{_region(county)}{road}{number}号"
    return name, address


def station_name(country: Country, i: int) -> str:
    """The station's name; an aggregator's copy has its original's."""
    return name_and_address(country, i)[0]


def station_address(country: Country, i: int) -> str:
    """The station's address (province, city, county, road and number); unique per county."""
    return name_and_address(country, i)[1]
