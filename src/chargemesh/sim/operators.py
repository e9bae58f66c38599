"""The simulated country's operator roster: 23 third-party networks and 3 carmaker partners.

All names are fictional. The sizes follow the *shape* of the published national ranking
(reference/tcec.md, "Top operators", August 2025: 821 k, 707 k, 669 k, 277 k, 244 k, 196 k, 147 k,
108 k, 97 k, 90 k, 80 k, 67 k, 55 k, 53 k, 50 k piles), extended by a tail of eight (45 k … 15 k).
Each size is raised to the power 0.85 and the lot scaled to 1,371,000 piles: a platform gets most
but not all of the largest networks' piles, so the top three hold ≈ 49 % of the third-party total
(56 % in the raw ranking) and the tail is long. The three partners have the published 14,000,
9,000 and 6,000 piles; the whole roster sums to 1,400,000 EVSEs at scale 1.

Protocols: 21 operators speak T/CEC 102 (14 in the CEC text's dialect, 7 in Xiaoju's), 5 speak
OCPI 2.2.1. The partner that lets only part of its piles be started by scan speaks OCPI, where
each EVSE says whether it can be started remotely (``REMOTE_START_STOP_CAPABLE``); T/CEC has no
per-pile flag for that. The aggregator (rank 4, Xiaoju dialect) also lists part of the
plug-and-charge partner's stations: the duplicates the platform must merge.

Per-operator generation parameters beyond the brief's fields (all with their meaning at scale 1):
``highway_sites`` (stations in highway service areas), ``dc_share`` (DC piles, superchargers
included, of all piles), ``super_share`` (piles ≥ 250 kW), ``home_provinces`` and ``home_share``
(a regional network puts that share of its stations in its home provinces), ``concentration``
(exponent on the county weights: > 1 favours big cities), ``station_size`` (mean piles per urban DC
station), ``id_prefix`` (prefix of the operator's own station ids) and ``service_tel``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "AGGREGATOR_RESOLD_SHARE",
    "ROSTER",
    "Kind",
    "Protocol",
    "SimOperator",
    "brand",
    "operator_by_id",
]

Protocol = Literal["tcec", "ocpi"]
Kind = Literal["third_party", "partner", "aggregator"]

#: Share of the resold partner's stations the aggregator also lists.
AGGREGATOR_RESOLD_SHARE: Final = 0.6

_ALL: Final = ("realtime", "scan")


@dataclass(frozen=True, slots=True)
class SimOperator:
    """One simulated operator network. ``id`` is a 9-character T/CEC OperatorID or an OCPI
    ``CC-PID``; ``evses_at_full_scale`` its piles at ``--scale 1`` (not counting the stations an
    aggregator resells)."""

    id: str
    name: str
    protocol: Protocol
    dialect: Literal["cec", "xiaoju"] | None
    kind: Kind
    evses_at_full_scale: int
    capabilities: tuple[str, ...]
    scan_share: float = 1.0
    pnc_share: float = 0.0
    resells: str | None = None
    highway_sites: int = 0
    dc_share: float = 0.7
    super_share: float = 0.06
    home_provinces: tuple[str, ...] = ()
    home_share: float = 0.0
    concentration: float = 1.0
    station_size: float = 7.0
    id_prefix: str = ""
    service_tel: str = ""

    @property
    def party(self) -> tuple[str, str]:
        """OCPI (country_code, party_id); only for OCPI operators."""
        if self.protocol != "ocpi":
            raise ValueError(f"{self.id} is not an OCPI operator")
        country, party = self.id.split("-")
        return country, party


def brand(operator: SimOperator) -> str:
    """The Chinese brand name (the part of ``name`` before the English one)."""
    return operator.name.split(" ", 1)[0]


def _tp(
    rank: int,
    op_id: str,
    name: str,
    evses: int,
    *,
    protocol: Protocol = "tcec",
    dialect: Literal["cec", "xiaoju"] | None = "cec",
    dc: float,
    sc: float,
    pnc: float = 0.0,
    highway: int = 0,
    home: tuple[str, ...] = (),
    realtime: bool = True,
    prefix: str,
) -> SimOperator:
    caps = ("realtime", "scan") if realtime else ("scan",)
    if pnc > 0:
        caps = (*caps, "plug_and_charge")
    return SimOperator(
        id=op_id,
        name=name,
        protocol=protocol,
        dialect=dialect if protocol == "tcec" else None,
        kind="third_party",
        evses_at_full_scale=evses,
        capabilities=caps,
        pnc_share=pnc,
        highway_sites=highway,
        dc_share=dc,
        super_share=sc,
        home_provinces=home,
        home_share=0.75 if home else 0.0,
        station_size=7.0,
        id_prefix=prefix,
        service_tel=f"400-{800 + rank * 7:03d}-{(rank * 2917) % 10000:04d}",
    )


_SOUTH: Final = ("广东省", "广西壮族自治区", "云南省", "贵州省", "海南省")

ROSTER: Final[tuple[SimOperator, ...]] = (
    # --- third-party networks, largest first (sizes: see the module docstring) ---
    _tp(1, "MA1QQC017", "青穹充电 Qingqiong Charging", 249_000,
        dc=0.72, sc=0.07, pnc=0.16, highway=680, prefix="QQ"),
    _tp(2, "MA2YLN028", "远岚能源 Yuanlan Energy", 219_300, dialect="xiaoju",
        dc=0.62, sc=0.055, pnc=0.14, highway=450, prefix="3100"),
    _tp(3, "MA3YLK039", "驿联快充 Yilian Fast Charge", 209_300,
        dc=0.70, sc=0.06, pnc=0.13, highway=420, prefix="YL"),
    SimOperator(
        id="MA4JDH041", name="聚点充 Judian Charging Hub", protocol="tcec", dialect="xiaoju",
        kind="aggregator", evses_at_full_scale=98_900, capabilities=_ALL,
        resells="CN-LHA", highway_sites=150, dc_share=0.76, super_share=0.06,
        station_size=6.0, id_prefix="JD", service_tel="400-828-3010",
    ),
    _tp(5, "MA5CCD052", "澄川电能 Chengchuan Power", 88_800,
        dc=0.74, sc=0.08, pnc=0.16, highway=280, prefix="CC"),
    _tp(6, "MA6HYD063", "华垣电力服务 Huayuan Power Services", 73_700,
        dc=0.82, sc=0.05, highway=2_900, prefix="6101"),
    _tp(7, "MA7SLC074", "松岭充电 Songling Charging", 57_700, dialect="xiaoju",
        dc=0.66, sc=0.04, pnc=0.10, highway=180, prefix="SL"),
    _tp(8, "MA8PYD085", "鹏驿电站 Pengyi E-Station", 44_400,
        dc=0.76, sc=0.12, pnc=0.22, home=("广东省",), prefix="PY"),
    _tp(9, "CN-TLN", "汀兰充电 Tinglan Charging", 40_500, protocol="ocpi",
        dc=0.68, sc=0.07, pnc=0.12, highway=60, prefix="TLN"),
    _tp(10, "MA0NYD106", "南屿电力 Nanyu Power", 38_000,
        dc=0.74, sc=0.05, highway=380, home=_SOUTH, prefix="NY"),
    _tp(11, "MA1CXC117", "晨溪充电 Chenxi Charging", 34_400,
        dc=0.60, sc=0.03, pnc=0.06, home=("浙江省", "江苏省", "上海市"), prefix="CX"),
    _tp(12, "MA2DZN128", "岱宗能源 Daizong Energy", 29_600, dialect="xiaoju",
        dc=0.66, sc=0.04, highway=70, home=("山东省",), prefix="3701"),
    _tp(13, "CN-YZN", "雁阵充电 Yanzhen Charging", 25_000, protocol="ocpi",
        dc=0.72, sc=0.10, pnc=0.16, prefix="YZN"),
    _tp(14, "MA4CXN149", "潮汐能源 Chaoxi Energy", 24_300, dialect="xiaoju",
        dc=0.66, sc=0.05, pnc=0.10, home=("广东省", "福建省"), prefix="CXN"),
    _tp(15, "MA5SLC150", "杉林充电 Shanlin Charging", 23_100,
        dc=0.58, sc=0.02, home=("黑龙江省", "吉林省"), realtime=False, prefix="SN"),
    _tp(16, "CN-BCN", "北辰电能 Beichen Power", 21_100, protocol="ocpi",
        dc=0.70, sc=0.06, pnc=0.10, highway=50, prefix="BCN"),
    _tp(17, "MA7XLC172", "西岭充电 Xiling Charging", 19_100,
        dc=0.62, sc=0.03, home=("四川省", "重庆市"), realtime=False, prefix="XL"),
    _tp(18, "MA8CTK183", "楚天快充 Chutian Fast Charge", 17_000,
        dc=0.70, sc=0.05, pnc=0.08, highway=80, home=("湖北省",), prefix="4201"),
    _tp(19, "MA9SDD194", "蜀道电驿 Shudao E-Station", 15_000, dialect="xiaoju",
        dc=0.72, sc=0.05, highway=110, home=("四川省",), prefix="SD"),
    _tp(20, "MA0QCC205", "秦川充电 Qinchuan Charging", 13_200,
        dc=0.68, sc=0.04, highway=90, home=("陕西省",), prefix="QC"),
    _tp(21, "MA1MJD216", "闽江电能 Minjiang Power", 11_500,
        dc=0.66, sc=0.05, pnc=0.10, highway=50, home=("福建省",), prefix="MJ"),
    _tp(22, "MA2LYC227", "辽原充电 Liaoyuan Charging", 9_700,
        dc=0.60, sc=0.02, home=("辽宁省",), realtime=False, prefix="LY"),
    _tp(23, "MA3DHC238", "滇虹充电 Dianhong Charging", 8_400, dialect="xiaoju",
        dc=0.64, sc=0.03, highway=60, home=("云南省",), prefix="5301"),
    # --- carmaker partner networks: all share real-time status ---
    SimOperator(
        id="MA9YCQ901", name="曜川汽车补能 Yaochuan Motors Energy", protocol="tcec",
        dialect="cec", kind="partner", evses_at_full_scale=14_000, capabilities=_ALL,
        highway_sites=300, dc_share=0.86, super_share=0.42, concentration=1.4,
        station_size=4.5, id_prefix="YCQ", service_tel="400-999-0901",
    ),
    SimOperator(
        id="CN-LHA", name="翎航汽车超充 Linghang Motors Supercharging", protocol="ocpi",
        dialect=None, kind="partner", evses_at_full_scale=9_000,
        capabilities=("realtime", "scan", "plug_and_charge"), pnc_share=1.0,
        highway_sites=220, dc_share=0.94, super_share=0.55, concentration=1.4,
        station_size=4.5, id_prefix="LHA", service_tel="400-999-0902",
    ),
    SimOperator(
        id="CN-LTA", name="朗拓汽车超充 Langtuo Motors Supercharging", protocol="ocpi",
        dialect=None, kind="partner", evses_at_full_scale=6_000, capabilities=_ALL,
        scan_share=0.6, highway_sites=270, dc_share=0.96, super_share=0.70,
        concentration=1.3, station_size=4.5, id_prefix="LTA", service_tel="400-999-0903",
    ),
)  # fmt: skip


def operator_by_id(operator_id: str, roster: tuple[SimOperator, ...] = ROSTER) -> SimOperator:
    for op in roster:
        if op.id.upper() == operator_id.upper():
            return op
    raise KeyError(operator_id)
