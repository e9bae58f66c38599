"""The own network as the registry knows it: its operator, its tariff, each registered
charger's station (one EVSE per connector), and the charger's password check."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Final

from chargemesh.config import CsmsConfig
from chargemesh.domain import (
    AccessMethod,
    Capability,
    Connector,
    ConnectorStandard,
    CurrentType,
    Evse,
    Operator,
    OperatorProtocol,
    Station,
    StationType,
    Tariff,
    TariffPeriod,
    child_id,
    station_id,
)
from chargemesh.domain.own import ChargerKind, OwnCharger

#: what an OCPP charge point id may be (OCPP 2.0.1 identity: up to 48 printable, no ':' '/')
CHARGER_ID: Final = re.compile(r"^[A-Za-z0-9*_=+|@.-]{1,48}$")
PASSWORD_LENGTH: Final = (16, 40)  # OCPP 2.0.1 / 1.6 security whitepaper BasicAuthPassword
#: the own network's statuses stay fresh while chargers are connected; a silent charger is
#: marked offline by the watchdog instead (docs/csms.md)
STATUS_FRESHNESS: Final = timedelta(days=1)
AC_STANDARDS: Final = frozenset(
    {ConnectorStandard.GBT_AC, ConnectorStandard.TYPE2, ConnectorStandard.TYPE1}
)
ACCESS: Final = frozenset({AccessMethod.SCAN, AccessMethod.APP_START, AccessMethod.PLUG_AND_CHARGE})


def hash_password(password: str, salt: str | None = None) -> str:
    """A charger password as kept: ``sha256$salt$digest``. Charger passwords are random 16-40
    character secrets, so a fast salted hash suffices and a reconnect storm of 20,000 chargers
    costs milliseconds, not the minutes argon2 would."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()
    return f"sha256${salt}${digest}"


def password_matches(kept: str, password: str) -> bool:
    try:
        kind, salt, _ = kept.split("$", 2)
    except ValueError:
        return False
    return kind == "sha256" and hmac.compare_digest(kept, hash_password(password, salt))


@dataclass(frozen=True, slots=True)
class OwnNetwork:
    """The own network's identity and price, from ``[csms]``."""

    operator_id: str
    name: str
    tariff: Tariff

    @classmethod
    def from_config(cls, config: CsmsConfig) -> OwnNetwork:
        starts = sorted(config.tariff, key=lambda p: p.start)
        periods = []
        for i, p in enumerate(starts):
            nxt = starts[(i + 1) % len(starts)].start
            periods.append(TariffPeriod(
                time.fromisoformat(p.start), time.fromisoformat(nxt) if len(starts) > 1
                else time(0, 0), Decimal(str(p.electricity_fee)), Decimal(str(p.service_fee)),
            ))  # fmt: skip
        tariff = Tariff(
            f"{config.operator_id}:standard",
            config.operator_id,
            "CNY",
            tuple(periods),
            description=f"{config.network_name} standard price",
        )
        return cls(config.operator_id, config.network_name, tariff)

    @property
    def operator(self) -> Operator:
        return Operator(
            self.operator_id, self.name, OperatorProtocol.OCPP,
            frozenset({Capability.REALTIME, Capability.SCAN, Capability.PLUG_AND_CHARGE}),
            status_freshness=STATUS_FRESHNESS,
        )  # fmt: skip

    def station_id(self, charger_id: str) -> str:
        return station_id(self.operator_id, charger_id)

    def connector_id(self, charger_id: str, connector: int) -> str:
        return child_id(child_id(self.station_id(charger_id), str(connector)), "1")

    def station(
        self, charger: OwnCharger, lon: float, lat: float, standards: list[tuple[str, float]],
        county: str | None, at: datetime,
    ) -> Station:  # fmt: skip
        """The registry's station of a charger: connector *n* is EVSE *n* with one connector."""
        sid = self.station_id(charger.id)
        evses = []
        for n, (standard, kw) in enumerate(standards, start=1):
            std = ConnectorStandard(standard)
            current = CurrentType.AC if std in AC_STANDARDS else CurrentType.DC
            eid = child_id(sid, str(n))
            evses.append(Evse(
                eid, str(n), (Connector(child_id(eid, "1"), "1", std, current, kw,
                                        access_methods=ACCESS),),
                manufacturer=charger.vendor, model=charger.model, firmware=charger.firmware,
                max_power_kw=kw, evse_code=f"{charger.id}*{n}",
            ))  # fmt: skip
        return Station(
            sid, self.operator_id, charger.id, charger.name, lon, lat, tuple(evses),
            county_adcode=county, opening_hours="24/7",
            station_type=StationType.PUBLIC if charger.kind is ChargerKind.SUPERCHARGER
            else StationType.PRIVATE, tariff_id=self.tariff.id, updated_at=at,
        )  # fmt: skip
