"""The filters every search takes, and their codes in the index's arrays.

Connector filters (standard, minimum power, access method, available now) must all hold for
**the same connector**: a station with a 7 kW GB/T AC gun and a 120 kW GB/T DC gun does not
match ``connector=gbt_ac&min_kw=60``.
"""

from __future__ import annotations

from dataclasses import dataclass

from chargemesh.domain import AccessMethod, ConnectorStandard, ConnectorStatus

STANDARDS: tuple[ConnectorStandard, ...] = tuple(ConnectorStandard)
STANDARD_CODE = {s.value: i for i, s in enumerate(STANDARDS)}
ACCESS: tuple[AccessMethod, ...] = tuple(AccessMethod)
ACCESS_BIT = {a.value: 1 << i for i, a in enumerate(ACCESS)}
STATUSES: tuple[ConnectorStatus, ...] = tuple(ConnectorStatus)
STATUS_CODE = {s.value: i for i, s in enumerate(STATUSES)}
AVAILABLE = STATUS_CODE[ConnectorStatus.AVAILABLE.value]


def access_bits(text: str) -> int:
    """The stored comma-separated access methods as a bit mask (unknown words ignored)."""
    bits = 0
    for word in text.split(","):
        bits |= ACCESS_BIT.get(word.strip(), 0)
    return bits


def _names(bits: int) -> tuple[str, ...]:
    return tuple(a.value for a in ACCESS if bits & ACCESS_BIT[a.value])


_ACCESS_NAMES = tuple(_names(bits) for bits in range(1 << len(ACCESS)))


def access_names(bits: int) -> list[str]:
    return list(_ACCESS_NAMES[bits])


@dataclass(frozen=True, slots=True)
class SearchFilter:
    standards: frozenset[ConnectorStandard] = frozenset()  # any of them
    min_kw: float = 0.0
    available: bool = False  # a connector available now (and its status fresh)
    operators: frozenset[str] = frozenset()  # any of them
    access: frozenset[AccessMethod] = frozenset()  # all of them, on the connector

    @property
    def on_connectors(self) -> bool:
        return bool(self.standards or self.min_kw > 0 or self.available or self.access)

    @property
    def empty(self) -> bool:
        return not (self.on_connectors or self.operators)

    @property
    def access_mask(self) -> int:
        bits = 0
        for a in self.access:
            bits |= ACCESS_BIT[a.value]
        return bits
