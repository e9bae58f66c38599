"""The charger models the simulated operators buy: fictional manufacturers and models, which set
a pile's power, guns, standard, voltage and current, each with its firmware versions (newer ones
more common), and the same as columns indexed by family for the generator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from chargemesh.sim.country.arrays import F32, F64, I8, I16, I64, B

#: Connector standards, indexed by ``Country.evse_standard``.
STANDARDS: Final = ("GBT_DC", "GBT_AC", "CHAOJI")
GBT_DC, GBT_AC, CHAOJI = 0, 1, 2
#: Piles of at least this power are superchargers (the platform's default high-power class).
SUPERCHARGER_KW: Final = 250.0
#: Charger classes (``ChargerFamily.cls``); a station is one class.
AC, DC, SUPER = 0, 1, 2


@dataclass(frozen=True, slots=True)
class ChargerFamily:
    """A charger model and its firmware versions. ``voltage_max``/``current`` are the T/CEC
    ``VoltageUpperLimits``/``Current`` (AC: 220 V single phase, 380 V three phases)."""

    manufacturer: str
    model: str
    cls: int  # AC, DC, SUPER
    power_kw: float
    guns: int
    standard: int
    voltage_max: int
    voltage_min: int
    current: int
    firmwares: tuple[str, ...]
    weight: float = 1.0
    owner: str | None = None  # an in-house model of this partner operator
    national_standard: int = 2  # GB/T 20234 edition: 1 = 2011, 2 = 2015

    @property
    def phases(self) -> int:
        return 3 if self.cls == AC and self.voltage_max >= 380 else 1


def _ac(
    mfr: str, model: str, kw: float, fw: tuple[str, ...], w: float, owner: str | None = None
) -> ChargerFamily:
    three = kw > 7.5
    volts = 380 if three else 220
    amps = round(kw * 1000 / (volts * (math.sqrt(3) if three else 1.0)))
    return ChargerFamily(mfr, model, AC, kw, 1, GBT_AC, volts, volts, amps, fw, w, owner)


def _dc(
    mfr: str,
    model: str,
    kw: float,
    guns: int,
    vmax: int,
    amps: int,
    fw: tuple[str, ...],
    w: float,
    *,
    owner: str | None = None,
    standard: int = GBT_DC,
    edition: int = 2,
) -> ChargerFamily:
    cls = SUPER if kw >= SUPERCHARGER_KW else DC
    return ChargerFamily(
        mfr, model, cls, kw, guns, standard, vmax, 200, amps, fw, w, owner, edition
    )


_LX, _WC, _JH = "砺新电气", "沃川科技", "钧衡电气"
_SF, _QY, _TY = "朔风电子", "启域电力", "拓岩新能源"
THIRD_PARTY_MAKERS: Final = (_LX, _WC, _JH, _SF, _QY, _TY)
_YC, _LH, _LT = "MA9YCQ901", "CN-LHA", "CN-LTA"

#: The charger models. ``MODELS`` lists one row per (model, firmware).
FAMILIES: Final[tuple[ChargerFamily, ...]] = (
    _ac(_LX, "LX-AC7-S", 7, ("V1.4.2", "V1.5.0", "V1.5.3"), 3.0),
    _ac(_LX, "LX-AC22-T", 22, ("V1.2.0", "V1.3.1"), 0.6),
    _dc(_LX, "LX-DC60-1", 60, 1, 750, 150, ("V2.0.8", "V2.1.4", "V2.2.0"), 1.0),
    _dc(_LX, "LX-DC120-2", 120, 2, 750, 250, ("V2.1.4", "V2.2.0", "V2.3.1", "V2.3.5"), 3.0),
    _dc(_LX, "LX-DC160-2", 160, 2, 1000, 250, ("V3.0.2", "V3.1.0"), 1.5),
    _dc(_LX, "LX-SC360-LC", 360, 1, 1000, 500, ("V1.0.6", "V1.1.2", "V1.2.0"), 1.0),
    _ac(_WC, "WC-7K-A", 7, ("V3.2.1", "V3.3.0", "V3.4.2"), 3.0),
    _dc(_WC, "WC-D40-S", 40, 1, 750, 100, ("V1.9.0", "V2.0.1"), 0.6, edition=1),
    _dc(_WC, "WC-D120-D", 120, 2, 750, 250, ("V4.0.3", "V4.1.0", "V4.2.2"), 3.0),
    _dc(_WC, "WC-D180-D", 180, 2, 1000, 250, ("V4.1.0", "V4.2.2"), 1.5),
    _dc(_WC, "WC-S480", 480, 1, 1000, 600, ("V1.3.0", "V1.4.1"), 1.0),
    _ac(_JH, "JH-AC7", 7, ("V2.0.0", "V2.0.4"), 2.0),
    _ac(_JH, "JH-AC11", 11, ("V1.1.0", "V1.1.5"), 0.8),
    _dc(_JH, "JH-DC80", 80, 1, 750, 200, ("V3.3.0", "V3.4.1"), 0.8),
    _dc(_JH, "JH-DC120", 120, 2, 750, 250, ("V3.4.1", "V3.5.0", "V3.6.2"), 2.5),
    _dc(_JH, "JH-SC250", 250, 2, 1000, 300, ("V2.0.0", "V2.1.3"), 1.2),
    _ac(_SF, "SF-AC7-M", 7, ("V5.0.1", "V5.1.0"), 2.0),
    _dc(_SF, "SF-DC30", 30, 1, 500, 80, ("V1.0.9", "V1.1.2"), 0.5, edition=1),
    _dc(_SF, "SF-DC60", 60, 1, 750, 150, ("V2.2.0", "V2.3.0", "V2.3.4"), 1.0),
    _dc(_SF, "SF-DC240", 240, 2, 1000, 300, ("V1.0.3", "V1.1.0"), 1.0),
    _dc(_SF, "SF-SC600-LC", 600, 1, 1000, 800, ("V1.0.0", "V1.0.2"), 0.6),
    _dc(_SF, "SF-CJ480", 480, 1, 1000, 600, ("V0.9.5", "V1.0.1"), 0.4, standard=CHAOJI),
    _ac(_QY, "QY-AC7", 7, ("V1.0.8", "V1.1.0", "V1.2.3"), 2.0),
    _ac(_QY, "QY-AC22", 22, ("V1.0.2", "V1.0.5"), 0.5),
    _dc(_QY, "QY-DC120", 120, 2, 750, 250, ("V2.5.0", "V2.6.1"), 2.5),
    _dc(_QY, "QY-DC160", 160, 2, 1000, 250, ("V2.6.1", "V2.7.0"), 1.5),
    _dc(_QY, "QY-SC360", 360, 1, 1000, 500, ("V1.2.0", "V1.3.0"), 1.0),
    _ac(_TY, "TY-AC7", 7, ("V3.0.0", "V3.0.6"), 2.0),
    _dc(_TY, "TY-DC60", 60, 1, 750, 150, ("V1.6.0", "V1.7.2"), 1.0),
    _dc(_TY, "TY-DC120", 120, 2, 750, 250, ("V1.7.2", "V1.8.0", "V1.8.4"), 2.5),
    _dc(_TY, "TY-SC480", 480, 1, 1000, 600, ("V2.0.1", "V2.1.0"), 0.8),
    _dc(_TY, "TY-CJ360", 360, 1, 1000, 500, ("V1.0.0", "V1.0.3"), 0.4, standard=CHAOJI),
    # in-house models of the carmaker partners
    _ac("曜川能源科技", "YC-AC11-D", 11, ("V2.8.0", "V2.9.1"), 1.0, _YC),
    _dc("曜川能源科技", "YC-PS180", 180, 2, 1000, 250, ("V3.1.0", "V3.2.4"), 1.0, owner=_YC),
    _dc("曜川能源科技", "YC-PS640-LC", 640, 1, 1000, 765, ("V4.0.2", "V4.1.0", "V4.1.3"), 1.0,
        owner=_YC),
    _ac("翎航电驱", "LH-AC7-H", 7, ("V1.3.0", "V1.4.0"), 1.0, _LH),
    _dc("翎航电驱", "LH-D160", 160, 2, 1000, 250, ("V2.0.0", "V2.0.3"), 1.0, owner=_LH),
    _dc("翎航电驱", "LH-S4-480", 480, 1, 1000, 670, ("V2.3.0", "V2.4.1", "V2.5.0"), 1.0,
        owner=_LH),
    _dc("翎航电驱", "LH-S5-800", 800, 1, 1000, 800, ("V1.0.4", "V1.1.0"), 0.6, owner=_LH),
    _ac("朗拓智能", "LT-AC7", 7, ("V1.0.0", "V1.0.2"), 1.0, _LT),
    _dc("朗拓智能", "LT-D120", 120, 2, 750, 250, ("V1.0.7", "V1.1.0"), 1.0, owner=_LT),
    _dc("朗拓智能", "LT-5C-520", 520, 1, 1000, 600, ("V1.2.0", "V1.3.1", "V1.3.4"), 1.0,
        owner=_LT),
)  # fmt: skip

#: (manufacturer, model, firmware) per row; ``Country.evse_model`` indexes this.
MODELS: Final[tuple[tuple[str, str, str], ...]] = tuple(
    (f.manufacturer, f.model, fw) for f in FAMILIES for fw in f.firmwares
)
#: The family (index into FAMILIES) of each MODELS row.
MODEL_FAMILY: Final[I16] = np.array(
    [k for k, f in enumerate(FAMILIES) for _ in f.firmwares], dtype=np.int16
)
FAMILY_FIRST_ROW: Final[I64] = np.concatenate(
    ([0], np.cumsum([len(f.firmwares) for f in FAMILIES])[:-1])
).astype(np.int64)
FAMILY_POWER: Final[F32] = np.array([f.power_kw for f in FAMILIES], dtype=np.float32)
FAMILY_GUNS: Final[I8] = np.array([f.guns for f in FAMILIES], dtype=np.int8)
FAMILY_STANDARD: Final[I8] = np.array([f.standard for f in FAMILIES], dtype=np.int8)
FAMILY_DC: Final[B] = np.array([f.cls != AC for f in FAMILIES], dtype=np.bool_)


def _firmware_cdf() -> F64:
    """Cumulative firmware probabilities per family, padded with 1.0: newer versions are more
    common (weights 1, 2^1.5, 3^1.5 … in release order)."""
    width = max(len(f.firmwares) for f in FAMILIES)
    cdf = np.ones((len(FAMILIES), width), dtype=np.float64)
    for k, family in enumerate(FAMILIES):
        w = np.arange(1, len(family.firmwares) + 1, dtype=np.float64) ** 1.5
        cdf[k, : w.size] = np.cumsum(w / w.sum())
        cdf[k, w.size - 1 :] = 1.0
    return cdf


FIRMWARE_CDF: Final[F64] = _firmware_cdf()
