"""The platform's own network in the simulated country: supercharger sites in the big cities and
home chargers owned by simulated drivers, each charger a real OCPP 1.6J or 2.0.1 charge point
(``chargemesh.sim.peers.ocpp``) once the simulator runs.

* **Superchargers**: sites of :data:`SITE_CHARGERS` 600 kW liquid-cooled GB/T DC chargers (one or
  two connectors each, by model) in the districts of :data:`SUPERCHARGER_CITIES` (Beijing,
  Shanghai and Hangzhou first), public.
* **Home chargers**: 7 or 11 kW GB/T AC, one connector, private to their owner, a simulated
  driver (:class:`OwnDriver`: an email, a password, one car or two with valid VINs, and an EMAID
  for ISO 15118 models, and an RFID charge card). Owners of 2.0.1 home chargers drive ISO 15118
  cars (plug-and-charge by EMAID); owners of 1.6J ones any car (plug-and-charge by VIN).

About a quarter of the chargers are superchargers. Half of each kind speak OCPP 1.6J, half 2.0.1
(:data:`OWN_MODELS`: several vendors, models and firmware versions; about half the 1.6J models
with the security extension, which takes signed firmware updates). ``round(20_000 × scale)``
chargers (one websocket each), at least :data:`MIN_CHARGERS`. Coordinates are GCJ-02, inside the
county, 60 m apart, like the partner networks' stations (``placement.place``). Passwords derive
from the seed and the charger's id or driver's email, as the T/CEC secrets of the manifest do.
:data:`FIRMWARE_FAULTS`: the coming firmware versions that go wrong on a model (what a firmware
campaign should find).

:func:`own_network` is deterministic for (scale, seed) and cached; ``truth()`` is what the
manifest's ground truth lists as ``own_chargers``, ``own_drivers`` and ``firmware_faults``.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

import numpy as np

from chargemesh.geo.counties import county_table
from chargemesh.sim.charging import VEHICLE_MODELS, SimVehicle, make_vehicle
from chargemesh.sim.country.geography import county_geography
from chargemesh.sim.country.placement import place
from chargemesh.sim.firmware import FirmwareFault

__all__ = [
    "FIRMWARE_FAULTS",
    "MIN_CHARGERS",
    "NETWORK_NAME",
    "OPERATOR_ID",
    "OWN_MODELS",
    "SITE_CHARGERS",
    "SUPERCHARGER_CITIES",
    "OwnCharger",
    "OwnConnector",
    "OwnDriver",
    "OwnModel",
    "OwnNetwork",
    "charger_password",
    "own_network",
]

Kind = Literal["supercharger", "home"]
OcppVersion = Literal["1.6", "2.0.1"]

#: How the own network is named on the map, and the registry operator its chargers belong to.
NETWORK_NAME: Final = "chargemesh Supercharge"
OPERATOR_ID: Final = "CN-CMX"
#: Chargers (websocket connections) per unit of scale, and the least a country gets.
CHARGERS_AT_FULL_SCALE: Final = 20_000
MIN_CHARGERS: Final = 20
SUPERCHARGER_SHARE: Final = 0.25
#: Chargers per supercharger site (inclusive range; the last site may get fewer).
SITE_CHARGERS: Final = (4, 8)
#: (city adcode prefix, weight): the cities with supercharger sites.
SUPERCHARGER_CITIES: Final = (
    ("1101", 3.0), ("3101", 3.0), ("3301", 2.5), ("4403", 2.0), ("4401", 1.5), ("5101", 1.5),
    ("4201", 1.0), ("3201", 1.0), ("3205", 1.0), ("6101", 1.0), ("5001", 1.0), ("1201", 1.0),
)  # fmt: skip
SECOND_CAR_SHARE: Final = 0.2


@dataclass(frozen=True, slots=True)
class OwnModel:
    """A charger model of the own network: who makes it, which OCPP it speaks, its power, its
    connectors (each of ``power_kw``) and firmware versions (newer ones more common).
    ``security_extension``: a 1.6J model that implements the OCPP 1.6 security extension
    (whitepaper ed. 2: ``SignedUpdateFirmware``, signatures checked); 2.0.1 has that built in
    and its models leave the flag off."""

    vendor: str
    model: str
    kind: Kind
    ocpp: OcppVersion
    power_kw: float
    connectors: int
    standard: str
    firmwares: tuple[str, ...]
    weight: float = 1.0
    security_extension: bool = False


OWN_MODELS: Final[tuple[OwnModel, ...]] = (
    OwnModel("CMX Power", "CMX-SC600-L1", "supercharger", "1.6", 600, 1, "gbt_dc",
             ("1.4.2", "1.5.0", "1.5.3")),
    OwnModel("CMX Power", "CMX-SC600-L2", "supercharger", "1.6", 600, 2, "gbt_dc",
             ("1.5.0", "1.5.3"), security_extension=True),
    OwnModel("CMX Power", "CMX-SC600-X2", "supercharger", "2.0.1", 600, 2, "gbt_dc",
             ("2.0.0", "2.1.1", "2.2.0")),
    OwnModel("Jinheng Electric", "JH-SC600-LC", "supercharger", "2.0.1", 600, 1, "gbt_dc",
             ("3.0.4", "3.1.0")),
    OwnModel("CMX Power", "CMX-HC7", "home", "1.6", 7, 1, "gbt_ac", ("1.2.0", "1.3.2", "1.3.5"),
             2.0),
    OwnModel("Wochuan Tech", "WC-HOME11", "home", "1.6", 11, 1, "gbt_ac", ("4.0.1", "4.1.0"),
             security_extension=True),
    OwnModel("CMX Power", "CMX-HC11", "home", "2.0.1", 11, 1, "gbt_ac",
             ("2.0.3", "2.1.0", "2.1.4")),
    OwnModel("Wochuan Tech", "WC-HOME7", "home", "2.0.1", 7, 1, "gbt_ac", ("5.0.0", "5.0.2"),
             1.5),
)  # fmt: skip

#: (model, firmware version) → what goes wrong when a charger of that model installs it: coming
#: versions of models in :data:`OWN_MODELS` (the others install fine).
FIRMWARE_FAULTS: Final[Mapping[tuple[str, str], FirmwareFault]] = MappingProxyType({
    ("CMX-SC600-X2", "2.3.0"): "boot_loop",
    ("CMX-HC7", "1.4.0"): "silent",
    ("WC-HOME7", "5.1.0"): "verification_failed",
    ("WC-HOME11", "4.2.0"): "download_failed",
    ("CMX-SC600-L2", "1.6.0"): "installation_failed",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class OwnConnector:
    """A connector as registered: connector *n* is OCPP 1.6 ``connectorId`` *n*, 2.0.1 EVSE *n*."""

    standard: str
    max_power_kw: float


@dataclass(frozen=True, slots=True)
class OwnCharger:
    """One own charger: what it is registered with (id, password, kind, name, place,
    connectors, owner) and what it says at boot (vendor, model, serial, firmware), and whether
    it takes 1.6 signed firmware updates (``security_extension``, see :class:`OwnModel`)."""

    id: str
    password: str
    kind: Kind
    name: str
    lat: float
    lon: float
    connectors: tuple[OwnConnector, ...]
    owner: str | None
    vendor: str
    model: str
    firmware: str
    ocpp: OcppVersion
    serial: str
    site: str | None = None
    security_extension: bool = False

    @property
    def dc(self) -> bool:
        return self.connectors[0].standard == "gbt_dc"

    def truth(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "password": self.password,
            "kind": self.kind,
            "name": self.name,
            "lat": self.lat,
            "lon": self.lon,
            "connectors": [
                {"standard": c.standard, "max_power_kw": c.max_power_kw} for c in self.connectors
            ],
            "owner": self.owner,
            "vendor": self.vendor,
            "model": self.model,
            "firmware": self.firmware,
            "ocpp": self.ocpp,
            "serial": self.serial,
            "site": self.site,
            "security_extension": self.security_extension,
        }


@dataclass(frozen=True, slots=True)
class OwnDriver:
    """A simulated driver who owns a home charger: the account they sign up with and their cars
    (plug-and-charge is theirs to switch on for the own network)."""

    email: str
    password: str
    vehicles: tuple[SimVehicle, ...]
    card: str  # their RFID charge card's UID (7 bytes, NXP's 04 first, as a MIFARE card's)

    def truth(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "password": self.password,
            "card": self.card,
            "vehicles": [
                {"vin": v.vin, "model": v.model.id, "emaid": v.emaid} for v in self.vehicles
            ],
        }


@dataclass(frozen=True)
class OwnNetwork:
    """The own network of one simulated country."""

    scale: float
    seed: int
    chargers: tuple[OwnCharger, ...]
    drivers: tuple[OwnDriver, ...]
    _by_id: dict[str, OwnCharger] = field(init=False, repr=False, compare=False)
    _drivers: dict[str, OwnDriver] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {c.id: c for c in self.chargers})
        object.__setattr__(self, "_drivers", {d.email: d for d in self.drivers})

    def __iter__(self) -> Iterator[OwnCharger]:
        return iter(self.chargers)

    def __len__(self) -> int:
        return len(self.chargers)

    def charger(self, charger_id: str) -> OwnCharger:
        return self._by_id[charger_id]

    def driver(self, email: str) -> OwnDriver:
        return self._drivers[email]

    def truth(self) -> dict[str, Any]:
        return {
            "own_chargers": [c.truth() for c in self.chargers],
            "own_drivers": [d.truth() for d in self.drivers],
            "firmware_faults": [
                {"model": model, "version": version, "fault": fault}
                for (model, version), fault in FIRMWARE_FAULTS.items()
            ],
        }


def _derive(seed: int, who: str, purpose: str) -> str:
    return hashlib.sha256(f"chargemesh-sim/{seed}/{who}/{purpose}".encode()).hexdigest()


def charger_password(seed: int, charger_id: str) -> str:
    """The charger's OCPP Basic auth password: 32 hex characters (2.0.1 wants 16–40)."""
    return _derive(seed, charger_id, "ocpp-password")[:32]


def _driver_password(seed: int, email: str) -> str:
    return "Sim-" + _derive(seed, email, "password")[:16]


def _card_uid(seed: int, email: str) -> str:
    return "04" + _derive(seed, email, "card")[:12].upper()


def _pick(rng: np.random.Generator, models: list[OwnModel]) -> OwnModel:
    weights = np.array([m.weight for m in models])
    return models[int(rng.choice(len(models), p=weights / weights.sum()))]


def _firmware(rng: np.random.Generator, model: OwnModel) -> str:
    w = np.arange(1, len(model.firmwares) + 1, dtype=np.float64) ** 1.5
    return model.firmwares[int(rng.choice(w.size, p=w / w.sum()))]


def _versions(rng: np.random.Generator, n: int) -> list[OcppVersion]:
    """Half 1.6J, half 2.0.1 (one more 1.6J for an odd count), in a seeded order."""
    first: list[OcppVersion] = ["1.6"]
    second: list[OcppVersion] = ["2.0.1"]
    out = first * ((n + 1) // 2) + second * (n // 2)
    order = rng.permutation(n)
    return [out[int(k)] for k in order]


@functools.lru_cache(maxsize=4)
def own_network(scale: float, seed: int) -> OwnNetwork:
    """The own network at ``scale`` (1.0 ≈ 20,000 chargers), deterministic for (scale, seed)."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError("scale must be a positive number")
    total = max(MIN_CHARGERS, round(CHARGERS_AT_FULL_SCALE * scale))
    n_super = max(1, round(total * SUPERCHARGER_SHARE))
    n_home = total - n_super
    geo = county_geography()
    rng = np.random.default_rng([seed, 16, 5])

    # supercharger sites: districts of the big cities
    districts: list[int] = []
    weights: list[float] = []
    for prefix, city_weight in SUPERCHARGER_CITIES:
        ks = [k for k, c in enumerate(geo.counties)
              if c.city_adcode.startswith(prefix) and c.name.endswith("区")]  # fmt: skip
        share = geo.weight[ks] / geo.weight[ks].sum()
        districts += ks
        weights += (city_weight * share).tolist()
    sizes: list[int] = []
    while sum(sizes) < n_super:
        sizes.append(min(int(rng.integers(SITE_CHARGERS[0], SITE_CHARGERS[1] + 1)),
                         n_super - sum(sizes)))  # fmt: skip
    w = np.array(weights)
    site_county = rng.choice(np.array(districts), len(sizes), p=w / w.sum())
    # homes: where people live, cities favoured
    hw = geo.weight**1.3
    home_county = rng.choice(len(geo.counties), n_home, p=hw / hw.sum())
    county = np.concatenate((site_county, home_county)).astype(np.intp)
    clustered = np.concatenate((np.full(len(sizes), 0.3), np.full(n_home, 0.75)))
    lon, lat = place(rng, geo, county_table(), county, clustered, np.zeros(county.size, bool))

    versions = _versions(rng, n_super)
    chargers: list[OwnCharger] = []
    by_version = {v: [m for m in OWN_MODELS if m.kind == "supercharger" and m.ocpp == v]
                  for v in ("1.6", "2.0.1")}  # fmt: skip
    per_district: dict[int, int] = {}
    for s, size in enumerate(sizes):
        c = int(site_county[s])
        per_district[c] = per_district.get(c, 0) + 1
        district = geo.counties[c]
        site_id = f"CMX-S{s + 1:04d}"
        site_name = f"{NETWORK_NAME} {district.name}{per_district[c]}号站"
        for k in range(size):
            model = _pick(rng, by_version[versions[len(chargers)]])
            chargers.append(
                _charger(seed, f"{site_id}-{k + 1}", "supercharger", f"{site_name} {k + 1}号桩",
                         float(lat[s]), float(lon[s]), model, _firmware(rng, model), None,
                         site_id)
            )  # fmt: skip

    drivers: list[OwnDriver] = []
    seen: set[str] = set()
    car_no = 0
    for n, version in enumerate(_versions(rng, n_home)):
        model = _pick(rng, [m for m in OWN_MODELS if m.kind == "home" and m.ocpp == version])
        email = f"home{n + 1:05d}@drivers.sim.example"
        cars: list[SimVehicle] = []
        for j in range(2 if rng.random() < SECOND_CAR_SHARE else 1):
            iso = version == "2.0.1" and j == 0  # the car the 2.0.1 charger was bought for
            pool = [m for m in VEHICLE_MODELS if m.iso15118 or not iso]
            while True:
                car_no += 1
                pick = pool[int(rng.integers(len(pool)))]
                car = make_vehicle(seed, 3_000_000 + car_no, model=pick, emaid=True)
                if car.vin not in seen and (car.emaid is None or car.emaid not in seen):
                    break
            seen.update(x for x in (car.vin, car.emaid) if x is not None)
            cars.append(car)
        drivers.append(
            OwnDriver(email, _driver_password(seed, email), tuple(cars), _card_uid(seed, email))
        )
        i = len(sizes) + n
        chargers.append(
            _charger(seed, f"CMX-H{n + 1:05d}", "home", f"家用充电桩 H{n + 1:05d}",
                     float(lat[i]), float(lon[i]), model, _firmware(rng, model), email)
        )  # fmt: skip
    return OwnNetwork(float(scale), int(seed), tuple(chargers), tuple(drivers))


def _charger(
    seed: int,
    charger_id: str,
    kind: Kind,
    name: str,
    lat: float,
    lon: float,
    model: OwnModel,
    firmware: str,
    owner: str | None,
    site: str | None = None,
) -> OwnCharger:
    serial = f"{model.model.split('-')[0]}{int(_derive(seed, charger_id, 'serial')[:8], 16):010d}"
    return OwnCharger(
        id=charger_id,
        password=charger_password(seed, charger_id),
        kind=kind,
        name=name,
        lat=lat,
        lon=lon,
        connectors=tuple(
            OwnConnector(model.standard, model.power_kw) for _ in range(model.connectors)
        ),
        owner=owner,
        vendor=model.vendor,
        model=model.model,
        firmware=firmware,
        ocpp=model.ocpp,
        serial=serial,
        site=site,
        security_extension=model.security_extension,
    )
