"""The canonical model: no I/O, the words of the charging trade."""

from chargemesh.domain.charger import (
    AccessMethod,
    Connector,
    ConnectorStandard,
    CurrentType,
    Evse,
    Station,
    StationType,
    child_id,
    station_id,
)
from chargemesh.domain.events import (
    Event,
    StationAdded,
    StationChanged,
    StationRemoved,
    StatusChanged,
    StatusConfirmed,
)
from chargemesh.domain.operator import Capability, Operator, OperatorProtocol
from chargemesh.domain.status import ConnectorStatus, effective_status
from chargemesh.domain.tariff import Tariff, TariffPeriod
from chargemesh.domain.token import Token, TokenStanding, TokenType

__all__ = [
    "AccessMethod",
    "Capability",
    "Connector",
    "ConnectorStandard",
    "ConnectorStatus",
    "CurrentType",
    "Event",
    "Evse",
    "Operator",
    "OperatorProtocol",
    "Station",
    "StationAdded",
    "StationChanged",
    "StationRemoved",
    "StationType",
    "StatusChanged",
    "StatusConfirmed",
    "Tariff",
    "TariffPeriod",
    "Token",
    "TokenStanding",
    "TokenType",
    "child_id",
    "effective_status",
    "station_id",
]
