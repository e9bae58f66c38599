"""Charge point operators (CPOs) and what their feed offers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum


class OperatorProtocol(StrEnum):
    TCEC = "tcec"  # T/CEC 102 / GB/T 44130
    OCPI = "ocpi"  # OCPI 2.2.1, chargemesh as eMSP
    OCPP = "ocpp"  # the platform's own chargers through its CSMS


class Capability(StrEnum):
    REALTIME = "realtime"  # pushes live connector status
    SCAN = "scan"  # a charge can be started by scanning the pile's QR code
    PLUG_AND_CHARGE = "plug_and_charge"
    VIEW_ONLY = "view_only"  # listed on the map, cannot be started from the platform


DEFAULT_STATUS_FRESHNESS = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Operator:
    id: str
    name: str
    protocol: OperatorProtocol
    capabilities: frozenset[Capability] = field(default_factory=frozenset)
    status_freshness: timedelta = DEFAULT_STATUS_FRESHNESS
    """A connector status older than this is shown as unknown."""

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities
