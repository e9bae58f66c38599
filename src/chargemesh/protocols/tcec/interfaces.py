"""The T/CEC interfaces: who implements each, its request and response models, its URL path.

``INTERFACES[name]`` gives the models the HTTP layer needs for one handler per message; ``paths``
and ``endpoint_url`` say where to POST. "Operator" is the infrastructure operator (the data
provider), "platform" is us, the customer-owning platform.

Paths are relative to the implementer's base URL:

* ``cec`` — the interface name itself: base ``https://op.example/evcs/v20160701/`` +
  ``query_stations_info``.
* ``xiaoju`` (小桔 1.4.0) — absolute paths: ``/evcs/v1/<name>`` on the operator, except
  ``/evcs/sdk/query_token``; the platform serves bare ``/<name>`` (``/notification_stationStatus``,
  ``/check_charge_orders``). Absolute paths replace the base URL's path, as ``urljoin`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal
from urllib.parse import urljoin

from chargemesh.protocols.tcec import charging as c
from chargemesh.protocols.tcec import stations as s
from chargemesh.protocols.tcec import token as t
from chargemesh.protocols.tcec.wire import Dialect, WireModel, dialect_of

__all__ = ["INTERFACES", "Interface", "InterfaceSpec", "endpoint_url", "paths"]

Implementer = Literal["operator", "platform", "both"]


class Interface(StrEnum):
    QUERY_TOKEN = "query_token"  # noqa: S105 - an interface name, not a secret
    QUERY_STATIONS_INFO = "query_stations_info"
    NOTIFICATION_STATION_STATUS = "notification_stationStatus"
    QUERY_STATION_STATUS = "query_station_status"
    QUERY_STATION_STATS = "query_station_stats"
    QUERY_EQUIP_AUTH = "query_equip_auth"
    QUERY_EQUIP_BUSINESS_POLICY = "query_equip_business_policy"
    QUERY_START_CHARGE = "query_start_charge"
    NOTIFICATION_START_CHARGE_RESULT = "notification_start_charge_result"
    QUERY_EQUIP_CHARGE_STATUS = "query_equip_charge_status"
    NOTIFICATION_EQUIP_CHARGE_STATUS = "notification_equip_charge_status"
    QUERY_STOP_CHARGE = "query_stop_charge"
    NOTIFICATION_STOP_CHARGE_RESULT = "notification_stop_charge_result"
    NOTIFICATION_CHARGE_ORDER_INFO = "notification_charge_order_info"
    CHECK_CHARGE_ORDERS = "check_charge_orders"
    # our extension (docs/tcec-extensions.md), not in T/CEC 102-2016
    NOTIFICATION_PLUG_AND_CHARGE = "notification_plug_and_charge"


@dataclass(frozen=True, slots=True)
class InterfaceSpec:
    name: Interface
    implementer: Implementer
    request: type[WireModel]
    response: type[WireModel]


_SPECS = (
    InterfaceSpec(Interface.QUERY_TOKEN, "both", t.QueryTokenRequest, t.QueryTokenResponse),
    InterfaceSpec(
        Interface.QUERY_STATIONS_INFO,
        "operator",
        s.QueryStationsInfoRequest,
        s.QueryStationsInfoResponse,
    ),
    InterfaceSpec(
        Interface.NOTIFICATION_STATION_STATUS,
        "platform",
        s.NotificationStationStatusRequest,
        s.NotificationStationStatusResponse,
    ),
    InterfaceSpec(
        Interface.QUERY_STATION_STATUS,
        "operator",
        s.QueryStationStatusRequest,
        s.QueryStationStatusResponse,
    ),
    InterfaceSpec(
        Interface.QUERY_STATION_STATS,
        "operator",
        s.QueryStationStatsRequest,
        s.QueryStationStatsResponse,
    ),
    InterfaceSpec(
        Interface.QUERY_EQUIP_AUTH, "operator", c.QueryEquipAuthRequest, c.QueryEquipAuthResponse
    ),
    InterfaceSpec(
        Interface.QUERY_EQUIP_BUSINESS_POLICY,
        "operator",
        c.QueryEquipBusinessPolicyRequest,
        c.QueryEquipBusinessPolicyResponse,
    ),
    InterfaceSpec(
        Interface.QUERY_START_CHARGE,
        "operator",
        c.QueryStartChargeRequest,
        c.QueryStartChargeResponse,
    ),
    InterfaceSpec(
        Interface.NOTIFICATION_START_CHARGE_RESULT,
        "platform",
        c.NotificationStartChargeResultRequest,
        c.NotificationStartChargeResultResponse,
    ),
    InterfaceSpec(
        Interface.QUERY_EQUIP_CHARGE_STATUS,
        "operator",
        c.QueryEquipChargeStatusRequest,
        c.QueryEquipChargeStatusResponse,
    ),
    InterfaceSpec(
        Interface.NOTIFICATION_EQUIP_CHARGE_STATUS,
        "platform",
        c.NotificationEquipChargeStatusRequest,
        c.NotificationEquipChargeStatusResponse,
    ),
    InterfaceSpec(
        Interface.QUERY_STOP_CHARGE, "operator", c.QueryStopChargeRequest, c.QueryStopChargeResponse
    ),
    InterfaceSpec(
        Interface.NOTIFICATION_STOP_CHARGE_RESULT,
        "platform",
        c.NotificationStopChargeResultRequest,
        c.NotificationStopChargeResultResponse,
    ),
    InterfaceSpec(
        Interface.NOTIFICATION_CHARGE_ORDER_INFO,
        "platform",
        c.NotificationChargeOrderInfoRequest,
        c.NotificationChargeOrderInfoResponse,
    ),
    InterfaceSpec(
        Interface.CHECK_CHARGE_ORDERS,
        "platform",
        c.CheckChargeOrdersRequest,
        c.CheckChargeOrdersResponse,
    ),
    InterfaceSpec(
        Interface.NOTIFICATION_PLUG_AND_CHARGE,
        "platform",
        c.NotificationPlugAndChargeRequest,
        c.NotificationPlugAndChargeResponse,
    ),
)

INTERFACES: Mapping[Interface, InterfaceSpec] = MappingProxyType(
    {spec.name: spec for spec in _SPECS}
)


def _xiaoju_path(spec: InterfaceSpec) -> str:
    if spec.name is Interface.QUERY_TOKEN:
        return "/evcs/sdk/query_token"
    if spec.implementer == "platform":
        return f"/{spec.name}"
    return f"/evcs/v1/{spec.name}"


_PATHS: Mapping[Dialect, Mapping[Interface, str]] = MappingProxyType(
    {
        "cec": MappingProxyType({name: str(name) for name in INTERFACES}),
        "xiaoju": MappingProxyType({name: _xiaoju_path(spec) for name, spec in INTERFACES.items()}),
    }
)


def paths(dialect: Dialect) -> Mapping[Interface, str]:
    """Interface → URL path relative to the implementer's base URL, in ``dialect``."""
    return _PATHS[dialect_of(dialect)]


def endpoint_url(base_url: str, interface: Interface | str, dialect: Dialect) -> str:
    """The URL to POST ``interface`` to, given the implementer's configured base URL.

    ``query_token`` is implemented by both sides, at the same path in each dialect.
    """
    path = paths(dialect)[Interface(interface)]
    base = base_url if base_url.endswith("/") else base_url + "/"
    return urljoin(base, path)
