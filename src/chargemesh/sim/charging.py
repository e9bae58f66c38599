"""Simulated vehicles and what happens when one charges: shared by the simulated T/CEC and OCPI
operators.

* :data:`VEHICLE_MODELS` — ten fictional models (battery, DC/AC limits, pack voltage, where the DC
  curve starts to taper, ISO 15118 or not) and :class:`SimVehicle`, one car (VIN, model, SoC,
  optional EMAID, the SoC at which it stops by itself). :func:`make_vin`, :func:`make_emaid` and
  :func:`make_vehicle` build valid (check digit, check character: ``domain/vehicle_ids.py``),
  deterministic ones.
* :func:`charge_power_kw` — the power a car draws at a SoC: on DC its maximum up to
  ``taper_soc`` (50–60 %), then falling off towards a trickle at 100 %; on AC flat until 95 %;
  always capped by the pile's kW.
* :class:`ChargeRun` — one session along that curve: energy, power, SoC, electricity and service
  money (time-of-use :class:`PricePeriod`), per-period details, at any moment. It runs on a
  *simulated clock* that starts at the real start time and goes ``time_scale`` times faster:
  by default 1, real time (a 120 kW charge adds 2 kWh a minute, so a driver can watch, then
  stop); ``chargemesh sim --time-scale 60`` makes a minute of real time an hour of charging, and
  tests use 60–600 to see kWh quickly. Every time the operators report lies on that clock.
* :class:`CompatibilityMatrix` — vehicle model × charger (manufacturer, model, firmware) → the
  chance that a start fails and why, deterministic for a seed: healthy pairs fail ≈ 0.3 % of the
  time, a handful of *bad slices* (one vehicle model on one firmware of one charger model) 20–40 %.
  The bad slices are the ground truth of the compatibility lab (:meth:`CompatibilityMatrix.truth`,
  written to the manifest's truth file).

Nothing here does I/O; every random choice is a hash of the seed and its inputs.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, Final

from chargemesh.domain.vehicle_ids import (
    VIN_ALPHABET,
    emaid_with_check_character,
    normalize_vin,
    vin_check_digit,
    vin_problem,
    vin_with_check_digit,
)
from chargemesh.protocols.tcec.codec import CHINA_TZ

__all__ = [
    "AC_FAILURES",
    "DC_FAILURES",
    "DEFAULT_BASE_FAILURE_RATE",
    "DEFAULT_TARGET_SOC",
    "DEFAULT_TIME_SCALE",
    "SUCCESS_TARGET",
    "VEHICLE_MODELS",
    "VIN_ALPHABET",
    "BadSlice",
    "ChargeRun",
    "ChargeSnapshot",
    "ChargerRef",
    "CompatibilityMatrix",
    "FailureReason",
    "PeriodCharge",
    "PricePeriod",
    "SimVehicle",
    "VehicleModel",
    "charge_power_kw",
    "flat_tariff",
    "is_valid_vin",
    "make_emaid",
    "make_vehicle",
    "make_vin",
    "vehicle_model",
    "vin_check_digit",
]

DEFAULT_TIME_SCALE: Final = 1.0  # real time
DEFAULT_TARGET_SOC: Final = 90.0
#: The share of starts that should succeed on every (vehicle, charger) pair.
SUCCESS_TARGET: Final = 0.99
#: The mean failure rate of a healthy pair (each pair gets 0.1–0.5 %).
DEFAULT_BASE_FAILURE_RATE: Final = 0.003
_CENT: Final = Decimal("0.01")
_MAX_SESSION_S: Final = 48 * 3600.0
_STEP_S: Final = 10.0


# ----------------------------------------------------------------------------- vehicles


@dataclass(frozen=True, slots=True)
class VehicleModel:
    """A fictional car model. ``pack_voltage`` is the nominal class (400 or 800 V);
    ``taper_soc`` where its DC power starts to fall; ``wmi``/``vds`` the VIN's positions 1–3 and
    4–8 for this model."""

    id: str
    maker: str
    name: str
    battery_kwh: float
    max_dc_kw: float
    max_ac_kw: float
    pack_voltage: int
    taper_soc: float
    iso15118: bool
    wmi: str
    vds: str

    @property
    def label(self) -> str:
        return f"{self.maker} {self.name}"


VEHICLE_MODELS: Final[tuple[VehicleModel, ...]] = (
    VehicleModel("yc-aster", "曜川", "Aster", 96, 340, 11, 800, 60, True, "LYC", "AS7E1"),
    VehicleModel("lh-s5", "翎航", "S5", 101, 480, 11, 800, 58, True, "LHG", "S5E2A"),
    VehicleModel("lt-m3", "朗拓", "M3", 74, 170, 7, 400, 55, False, "LTM", "M3E1B"),
    VehicleModel("km-e3", "启明", "E3", 31, 45, 6.6, 400, 50, False, "LKM", "E3A1C"),
    VehicleModel("hw-k60", "瀚威", "K60", 60, 100, 7, 400, 55, False, "LHW", "K6B2D"),
    VehicleModel("by-t9", "北原", "T9", 105, 150, 11, 400, 52, False, "LBY", "T9S3E"),
    VehicleModel("mc-v8", "沐辰", "V8", 90, 120, 7, 400, 55, False, "LMC", "V8M1F"),
    VehicleModel("rx-t5", "瑞行", "T5", 57, 90, 7, 400, 55, False, "LRX", "T5F2G"),
    VehicleModel("dm-9", "道蒙", "9", 116, 500, 11, 800, 60, True, "LDM", "D9E4H"),
    VehicleModel("fy-mini", "飞云", "Mini", 17, 20, 3.3, 400, 50, False, "LFY", "M1A1J"),
)
_MODELS_BY_ID: Final = {m.id: m for m in VEHICLE_MODELS}


def vehicle_model(model_id: str) -> VehicleModel:
    """The model with that id (``KeyError`` if none)."""
    return _MODELS_BY_ID[model_id]


_MODEL_YEARS: Final = "RST"  # 2024, 2025, 2026
#: A simulated EMAID's contract number is drawn from 0 .. this - 1 (``C`` + 8 digits).
_EMAID_SERIALS: Final = 100_000_000


def is_valid_vin(vin: str) -> bool:
    """A VIN as a car carries it: 17 characters of :data:`VIN_ALPHABET` (capitals) with the right
    check digit (:func:`~chargemesh.domain.vehicle_ids.vin_problem` finds none)."""
    return vin == normalize_vin(vin) and vin_problem(vin) is None


def make_vin(model: VehicleModel, serial: int, *, year: str = "S", plant: str = "A") -> str:
    """A valid VIN for ``model``: WMI, VDS, check digit, model year, plant, 6-digit serial."""
    if not 0 <= serial < 1_000_000:
        raise ValueError("serial must be 0..999999")
    return vin_with_check_digit(f"{model.wmi}{model.vds}0{year}{plant}{serial:06d}")


def make_emaid(serial: int, *, provider: tuple[str, str] = ("CN", "CMH")) -> str:
    """A valid e-mobility account id (ISO 15118 / eMI3, compact form) of a contract with the
    platform's eMSP: country and provider (ours, CN-CMH, by default), ``C`` + the 8-digit
    ``serial`` as the contract instance, and the check character."""
    if not 0 <= serial < _EMAID_SERIALS:
        raise ValueError(f"serial must be 0..{_EMAID_SERIALS - 1}")
    return emaid_with_check_character(f"{provider[0]}{provider[1]}C{serial:08d}")


@dataclass(frozen=True, slots=True)
class SimVehicle:
    """One car: its VIN (17 characters, valid check digit), model, state of charge in % when it
    plugs in, EMAID (ISO 15118 cars, when the driver has a contract) and the SoC at which its
    BMS ends the charge."""

    vin: str
    model: VehicleModel
    soc: float
    emaid: str | None = None
    target_soc: float = DEFAULT_TARGET_SOC

    def __post_init__(self) -> None:
        if not is_valid_vin(self.vin):
            raise ValueError(f"not a valid VIN: {self.vin!r}")
        if not 0 <= self.soc <= 100 or not 0 < self.target_soc <= 100:
            raise ValueError("soc must be 0..100 and target_soc 0 < t <= 100")


def make_vehicle(
    seed: int,
    n: int,
    *,
    model: VehicleModel | str | None = None,
    soc: float | None = None,
    target_soc: float = DEFAULT_TARGET_SOC,
    emaid: bool | str | None = None,
) -> SimVehicle:
    """Vehicle ``n`` of a seeded fleet: the model (default: drawn), SoC (default 10–50 %) and
    VIN derive from (``seed``, ``n``). ``emaid=True`` gives an ISO 15118 model a valid EMAID
    (:func:`make_emaid`); a string is taken as the car's EMAID as it is, checked or not (a test
    may want a car whose contract no one knows)."""
    rng = random.Random(f"chargemesh-sim/vehicle/{seed}/{n}")
    picked = rng.choice(VEHICLE_MODELS)
    chosen = vehicle_model(model) if isinstance(model, str) else (model or picked)
    start_soc = round(rng.uniform(10, 50), 1)
    serial = rng.randrange(1_000_000)
    year = rng.choice(_MODEL_YEARS)
    vin = make_vin(chosen, serial, year=year, plant=rng.choice("ABCDEFGH"))
    account: str | None
    if isinstance(emaid, str):
        account = emaid
    elif emaid and chosen.iso15118:
        # its own draw, not the VIN's serial (which cars of different models share)
        account = make_emaid(rng.randrange(_EMAID_SERIALS))
    else:
        account = None
    return SimVehicle(vin, chosen, start_soc if soc is None else soc, account, target_soc)


# ----------------------------------------------------------------------------- the power curve


def _dc_factor(soc: float, taper_soc: float) -> float:
    if soc < 10:  # a short ramp while the pack warms up
        return 0.85 + 0.015 * soc
    if soc <= taper_soc:
        return 1.0
    x = min(1.0, (soc - taper_soc) / (100.0 - taper_soc))
    return 0.05 + 0.95 * float((1.0 - x) ** 1.3)


def _ac_factor(soc: float) -> float:
    if soc <= 95:
        return 1.0
    return max(0.3, 1.0 - 0.14 * (soc - 95))


def charge_power_kw(model: VehicleModel, soc: float, pile_kw: float, *, dc: bool = True) -> float:
    """The power (kW) the car draws at ``soc`` % on a pile of ``pile_kw``: the car's maximum
    along its curve, capped by the pile; 0 at 100 %."""
    if soc >= 100 or pile_kw <= 0:
        return 0.0
    car = (
        model.max_dc_kw * _dc_factor(soc, model.taper_soc)
        if dc
        else model.max_ac_kw * _ac_factor(soc)
    )
    return max(0.0, min(car, pile_kw))


# ----------------------------------------------------------------------------- tariff


@dataclass(frozen=True, slots=True)
class PricePeriod:
    """A time-of-use price (CNY/kWh) from ``start`` (time of day, China time) until the next
    period's start."""

    start: time
    elec_price: Decimal
    service_price: Decimal


def flat_tariff(elec_price: Decimal | str, service_price: Decimal | str) -> tuple[PricePeriod]:
    return (PricePeriod(time(0), Decimal(elec_price), Decimal(service_price)),)


# ----------------------------------------------------------------------------- a session


@dataclass(frozen=True, slots=True)
class PeriodCharge:
    """Energy and money of one tariff period within a session (times on the simulated clock)."""

    start: datetime
    end: datetime
    elec_price: Decimal
    service_price: Decimal
    energy_kwh: float  # 3 decimals
    elec_money: Decimal
    service_money: Decimal


@dataclass(frozen=True, slots=True)
class ChargeSnapshot:
    """A session at one moment. ``at`` is on the simulated clock, ``elapsed_s`` simulated
    seconds. Energy is the sum of the periods' (rounded) energy, money the sum of their money.
    ``voltage_v``/``current_a`` are per phase (``phases`` 1 on DC): kW = phases × V × A / 1000.
    ``finished`` once the car reached its target SoC (power 0 from then on)."""

    started_at: datetime
    at: datetime
    elapsed_s: float
    energy_kwh: float
    power_kw: float
    soc: float
    voltage_v: float
    current_a: float
    phases: int
    elec_money: Decimal
    service_money: Decimal
    total_money: Decimal
    periods: tuple[PeriodCharge, ...]
    finished: bool


def _money(kwh: float, price: Decimal) -> Decimal:
    return (Decimal(repr(kwh)) * price).quantize(_CENT, rounding=ROUND_HALF_UP)


class ChargeRun:
    """One car charging on one pile from ``started_at`` (aware, real time).

    The simulated clock starts at ``started_at`` and runs ``time_scale`` times faster than real
    time; :meth:`snapshot` takes a real time, :meth:`snapshot_after` simulated seconds. Energy is
    integrated along :func:`charge_power_kw` on a fixed 10-second grid (so a snapshot does not
    depend on when earlier ones were taken) and stops at the vehicle's ``target_soc``:
    ``finish_elapsed_s`` (simulated seconds, ``None`` if not within 48 h).
    ``tariff`` prices each period; periods are split at the tariff's times of day in China time.
    """

    def __init__(
        self,
        *,
        started_at: datetime,
        vehicle: SimVehicle,
        pile_kw: float,
        tariff: Sequence[PricePeriod],
        dc: bool = True,
        time_scale: float = DEFAULT_TIME_SCALE,
    ) -> None:
        if started_at.tzinfo is None or started_at.utcoffset() is None:
            raise ValueError("started_at must be timezone-aware")
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if not tariff:
            raise ValueError("a tariff needs at least one period")
        self.started_at = started_at.astimezone(CHINA_TZ)
        self.vehicle = vehicle
        self.pile_kw = float(pile_kw)
        self.dc = dc
        self.time_scale = float(time_scale)
        self.tariff = tuple(sorted(tariff, key=lambda p: p.start))
        self._starts_s = [_seconds_of_day(p.start) for p in self.tariff]
        self._lock = threading.Lock()
        self._grid = [0.0]  # energy (kWh) at k × _STEP_S
        self._target_kwh = max(
            0.0, (vehicle.target_soc - vehicle.soc) / 100.0 * vehicle.model.battery_kwh
        )
        self.finish_elapsed_s = self._find_finish()

    # ------------------------------------------------------------------ energy

    def _soc_of(self, energy_kwh: float) -> float:
        return min(100.0, self.vehicle.soc + 100.0 * energy_kwh / self.vehicle.model.battery_kwh)

    def _power(self, soc: float) -> float:
        return charge_power_kw(self.vehicle.model, soc, self.pile_kw, dc=self.dc)

    def _extend(self, steps: int) -> None:
        grid = self._grid
        battery = self.vehicle.model.battery_kwh
        for _ in range(steps):
            e = grid[-1]
            half = self._power(self._soc_of(e)) * _STEP_S / 7200.0  # kWh over half a step
            mid_soc = self._soc_of(e + half)
            grid.append(min(e + self._power(mid_soc) * _STEP_S / 3600.0, battery))

    def _find_finish(self) -> float | None:
        if self._target_kwh <= 0:
            return 0.0
        limit = int(_MAX_SESSION_S / _STEP_S)
        while len(self._grid) <= limit:
            if self._grid[-1] >= self._target_kwh:
                k = len(self._grid) - 1
                before, after = self._grid[k - 1], self._grid[k]
                share = (self._target_kwh - before) / (after - before) if after > before else 1.0
                return (k - 1 + share) * _STEP_S
            previous = self._grid[-1]
            self._extend(1)
            if self._grid[-1] <= previous:  # no more power: the target cannot be reached
                return None
        return None

    def energy_after(self, elapsed_s: float) -> float:
        """kWh delivered after ``elapsed_s`` simulated seconds (unrounded)."""
        t = max(0.0, elapsed_s)
        if self.finish_elapsed_s is not None and t >= self.finish_elapsed_s:
            return self._target_kwh
        k = int(t // _STEP_S)
        with self._lock:
            if k + 1 >= len(self._grid):
                self._extend(k + 2 - len(self._grid))
            before, after = self._grid[k], self._grid[k + 1]
        return before + (after - before) * (t - k * _STEP_S) / _STEP_S

    # ------------------------------------------------------------------ clock

    def elapsed_at(self, now: datetime) -> float:
        """Simulated seconds since the start at real time ``now``."""
        return max(0.0, (now - self.started_at).total_seconds() * self.time_scale)

    def sim_time(self, elapsed_s: float) -> datetime:
        return self.started_at + timedelta(seconds=elapsed_s)

    def real_seconds(self, elapsed_s: float) -> float:
        """Real seconds that ``elapsed_s`` simulated seconds take."""
        return elapsed_s / self.time_scale

    # ------------------------------------------------------------------ tariff

    def _period_index(self, elapsed_s: float) -> int:
        local = self.sim_time(elapsed_s)
        tod = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        return (bisect.bisect_right(self._starts_s, tod) - 1) % len(self._starts_s)

    def _next_boundary(self, elapsed_s: float) -> float:
        """The elapsed time of the next tariff change strictly after ``elapsed_s``."""
        if len(self._starts_s) == 1:
            return math.inf
        local = self.sim_time(elapsed_s)
        tod = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        later = [s for s in self._starts_s if s > tod + 1e-6]
        wait = (later[0] - tod) if later else (86400 - tod + self._starts_s[0])
        return elapsed_s + wait

    # ------------------------------------------------------------------ snapshots

    def snapshot(self, now: datetime) -> ChargeSnapshot:
        """The session at real time ``now``."""
        return self.snapshot_after(self.elapsed_at(now))

    def snapshot_after(self, elapsed_s: float) -> ChargeSnapshot:
        """The session ``elapsed_s`` simulated seconds after its start."""
        t = max(0.0, elapsed_s)
        periods: list[PeriodCharge] = []
        begin = 0.0
        while begin < t or not periods:
            end = min(t, self._next_boundary(begin))
            price = self.tariff[self._period_index(begin)]
            kwh = round(self.energy_after(end) - self.energy_after(begin), 3)
            periods.append(
                PeriodCharge(
                    start=self.sim_time(begin),
                    end=self.sim_time(end),
                    elec_price=price.elec_price,
                    service_price=price.service_price,
                    energy_kwh=kwh,
                    elec_money=_money(kwh, price.elec_price),
                    service_money=_money(kwh, price.service_price),
                )
            )
            if end >= t:
                break
            begin = end
        energy = self.energy_after(t)
        soc = self._soc_of(energy)
        finished = self.finish_elapsed_s is not None and t >= self.finish_elapsed_s
        power = 0.0 if finished else self._power(soc)
        voltage, current, phases = self._electrics(power, soc)
        elec = sum((p.elec_money for p in periods), Decimal(0))
        service = sum((p.service_money for p in periods), Decimal(0))
        return ChargeSnapshot(
            started_at=self.started_at,
            at=self.sim_time(t),
            elapsed_s=t,
            energy_kwh=round(sum(p.energy_kwh for p in periods), 3),
            power_kw=round(power, 2),
            soc=round(soc, 1),
            voltage_v=voltage,
            current_a=current,
            phases=phases,
            elec_money=elec,
            service_money=service,
            total_money=elec + service,
            periods=tuple(periods),
            finished=finished,
        )

    def _electrics(self, power_kw: float, soc: float) -> tuple[float, float, int]:
        if self.dc:
            volts = self.vehicle.model.pack_voltage * (0.9 + 0.12 * soc / 100.0)
            phases = 1
        else:
            volts = 220.0
            phases = 3 if self.pile_kw > 7.5 and self.vehicle.model.max_ac_kw > 7.5 else 1
        amps = power_kw * 1000.0 / (volts * phases)
        return round(volts, 1), round(amps, 1), phases


def _seconds_of_day(at: time) -> float:
    return at.hour * 3600 + at.minute * 60 + at.second


# ----------------------------------------------------------------------------- compatibility


class FailureReason(StrEnum):
    """Why a start failed at the pile. DC reasons come from the GB/T 27930 handshake (CAN),
    AC ones from the control pilot; ``vehicle_disconnected`` is not a compatibility failure (the
    car was unplugged before the charge began)."""

    BMS_HANDSHAKE_TIMEOUT = "bms_handshake_timeout"
    BMS_PARAMETER_MISMATCH = "bms_parameter_mismatch"
    INSULATION_CHECK_FAILED = "insulation_check_failed"
    CC1_VOLTAGE_OUT_OF_RANGE = "cc1_voltage_out_of_range"
    PRECHARGE_FAILED = "precharge_failed"
    CHARGER_OUTPUT_FAULT = "charger_output_fault"
    CP_SIGNAL_ABNORMAL = "cp_signal_abnormal"
    GUN_LOCK_FAILED = "gun_lock_failed"
    VEHICLE_DISCONNECTED = "vehicle_disconnected"


#: Healthy-pair failures on DC and on AC, with their weights.
DC_FAILURES: Final[Mapping[FailureReason, float]] = {
    FailureReason.BMS_HANDSHAKE_TIMEOUT: 0.32,
    FailureReason.INSULATION_CHECK_FAILED: 0.18,
    FailureReason.PRECHARGE_FAILED: 0.14,
    FailureReason.BMS_PARAMETER_MISMATCH: 0.12,
    FailureReason.CC1_VOLTAGE_OUT_OF_RANGE: 0.10,
    FailureReason.CHARGER_OUTPUT_FAULT: 0.08,
    FailureReason.GUN_LOCK_FAILED: 0.06,
}
AC_FAILURES: Final[Mapping[FailureReason, float]] = {
    FailureReason.CP_SIGNAL_ABNORMAL: 0.6,
    FailureReason.GUN_LOCK_FAILED: 0.25,
    FailureReason.CHARGER_OUTPUT_FAULT: 0.15,
}


@dataclass(frozen=True, slots=True)
class ChargerRef:
    """A charger as the compatibility lab sees it."""

    manufacturer: str
    model: str
    firmware: str
    dc: bool = True


@dataclass(frozen=True, slots=True)
class BadSlice:
    """A vehicle model that fails often on one firmware of one charger model."""

    vehicle_model: str
    manufacturer: str
    model: str
    firmware: str
    failure_rate: float
    reason: FailureReason

    def key(self) -> tuple[str, str, str, str]:
        return (self.vehicle_model, self.manufacturer, self.model, self.firmware)

    def to_json(self) -> dict[str, Any]:
        return {
            "vehicle_model": self.vehicle_model,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "firmware": self.firmware,
            "failure_rate": self.failure_rate,
            "reason": str(self.reason),
        }


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) from ``parts`` (stable across runs and machines)."""
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _pick(weights: Mapping[FailureReason, float], u: float) -> FailureReason:
    total = sum(weights.values())
    acc = 0.0
    for reason, w in weights.items():
        acc += w / total
        if u < acc:
            return reason
    return next(reversed(list(weights)))


def _default_chargers() -> list[ChargerRef]:
    # The simulated country's charger models (imported here: sim.country pulls in numpy, shapely
    # and the county table, which a matrix with explicit slices does not need).
    from chargemesh.sim.country import CHAOJI, FAMILIES, GBT_AC

    return [
        ChargerRef(f.manufacturer, f.model, fw, dc=f.standard != GBT_AC)
        for f in FAMILIES
        if f.standard != CHAOJI
        for fw in f.firmwares
        for _ in range(max(1, round(f.weight * 2)))  # popular models more likely
    ]


@dataclass(frozen=True)
class CompatibilityMatrix:
    """Vehicle model × charger (manufacturer, model, firmware) → how often a start fails, why.

    Every pair fails with its own rate between ⅓ and 1⅔ of ``base_failure_rate`` (hashed from
    the seed and the pair); a :class:`BadSlice` adds its ``failure_rate``, with its reason.
    :meth:`outcome` is deterministic for (seed, vehicle, charger, attempt key).
    """

    seed: int = 0
    base_failure_rate: float = DEFAULT_BASE_FAILURE_RATE
    bad_slices: tuple[BadSlice, ...] = ()
    target: float = SUCCESS_TARGET
    _slices: dict[tuple[str, str, str, str], BadSlice] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_slices", {s.key(): s for s in self.bad_slices})

    @classmethod
    def generate(
        cls,
        seed: int,
        *,
        count: int = 6,
        base_failure_rate: float = DEFAULT_BASE_FAILURE_RATE,
        chargers: Iterable[ChargerRef] | None = None,
        vehicles: Sequence[VehicleModel] = VEHICLE_MODELS,
    ) -> CompatibilityMatrix:
        """The matrix of a simulated country: ``count`` bad slices (all but one on DC piles,
        20–40 % failures) drawn with ``seed`` among ``chargers`` (default: the country's
        models, ChaoJi left out) and ``vehicles``."""
        pool = list(chargers) if chargers is not None else _default_chargers()
        rng = random.Random(f"chargemesh-sim/compatibility/{seed}")
        dc_pool = [c for c in pool if c.dc]
        ac_pool = [c for c in pool if not c.dc]
        slices: dict[tuple[str, str, str, str], BadSlice] = {}
        attempts = 0
        while len(slices) < count and attempts < 1000:
            attempts += 1
            ac = bool(ac_pool) and (len(slices) == count - 1 or not dc_pool)
            charger = rng.choice(ac_pool if ac else dc_pool)
            vehicle = rng.choice(vehicles)
            reasons = AC_FAILURES if ac else DC_FAILURES
            reason = _pick(reasons, rng.random())
            bad = BadSlice(
                vehicle.id,
                charger.manufacturer,
                charger.model,
                charger.firmware,
                round(rng.uniform(0.2, 0.4), 3),
                reason,
            )
            slices.setdefault(bad.key(), bad)
        return cls(seed, base_failure_rate, tuple(slices.values()))

    @classmethod
    def never_failing(cls) -> CompatibilityMatrix:
        """Every start works (for tests)."""
        return cls(0, 0.0, ())

    # ------------------------------------------------------------------ rates

    def bad_slice(
        self, vehicle_model_id: str, manufacturer: str, model: str, firmware: str
    ) -> BadSlice | None:
        return self._slices.get((vehicle_model_id, manufacturer, model, firmware))

    def _pair_rate(
        self, vehicle_model_id: str, manufacturer: str, model: str, firmware: str
    ) -> float:
        u = _unit("pair", self.seed, vehicle_model_id, manufacturer, model, firmware)
        return self.base_failure_rate * (1 / 3 + 4 / 3 * u)

    def failure_rate(
        self, vehicle_model_id: str, manufacturer: str, model: str, firmware: str
    ) -> float:
        """The chance that a start of this vehicle model on this charger fails."""
        bad = self.bad_slice(vehicle_model_id, manufacturer, model, firmware)
        base = self._pair_rate(vehicle_model_id, manufacturer, model, firmware)
        return min(1.0, base + (bad.failure_rate if bad else 0.0))

    def outcome(
        self,
        vehicle: SimVehicle,
        manufacturer: str,
        model: str,
        firmware: str,
        attempt_key: str,
        *,
        dc: bool = True,
    ) -> FailureReason | None:
        """Whether this attempt fails, and why (``None``: it starts). ``attempt_key`` names the
        attempt (e.g. its StartChargeSeq): the same key, the same outcome."""
        u = _unit("attempt", self.seed, vehicle.vin, manufacturer, model, firmware, attempt_key)
        bad = self.bad_slice(vehicle.model.id, manufacturer, model, firmware)
        bad_rate = bad.failure_rate if bad else 0.0
        if bad is not None and u < bad_rate:
            return bad.reason
        base = self._pair_rate(vehicle.model.id, manufacturer, model, firmware)
        if u < bad_rate + base:
            which = _unit("reason", self.seed, vehicle.vin, model, firmware, attempt_key)
            return _pick(DC_FAILURES if dc else AC_FAILURES, which)
        return None

    def truth(self) -> dict[str, Any]:
        """The ground truth for the manifest (JSON-able)."""
        return {
            "target": self.target,
            "seed": self.seed,
            "base_failure_rate": self.base_failure_rate,
            "vehicle_models": [
                {
                    "id": m.id,
                    "maker": m.maker,
                    "name": m.name,
                    "battery_kwh": m.battery_kwh,
                    "max_dc_kw": m.max_dc_kw,
                    "max_ac_kw": m.max_ac_kw,
                    "iso15118": m.iso15118,
                }
                for m in VEHICLE_MODELS
            ],
            "bad_slices": [s.to_json() for s in self.bad_slices],
        }
