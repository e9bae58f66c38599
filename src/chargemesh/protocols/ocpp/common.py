"""What both versions' charge point classes share: time on the wire, the per-model schema
escape hatch, and the connection they keep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import ocpp.messages
from ocpp.exceptions import TypeConstraintViolationError

from chargemesh.protocols.ocpp.messages import Reading

# The library validates each message in a thread of the default executor unless told not to;
# on a small machine that halves the throughput (reference: ocpp.md §6). Validators are cached:
# validate inline.
ocpp.messages.ASYNC_VALIDATION = False


def wire_time(at: datetime) -> str:
    """A timestamp as OCPP sends it: UTC, ISO 8601 with a Z."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime:
    """A charger's timestamp (ISO 8601); a missing one is now. One that is not a date and time
    is the charger's error, answered as OCPP says (a CALLERROR TypeConstraintViolation, which
    the library sends), not our InternalError: the schemas say ``date-time`` but the library
    does not check formats."""
    if not text:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise TypeConstraintViolationError(
            description="a timestamp is not an ISO 8601 date and time"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def lenient(route_map: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The route map of a charger whose firmware is known not to follow the schemas: every
    message's schema validation skipped (``[csms] lenient_models``)."""
    return {action: {**handlers, "_skip_schema_validation": True}
            for action, handlers in route_map.items()}  # fmt: skip


def number(value: Any) -> float | None:
    """A sampled value (a string on the wire) as a number, or None."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def scaled(value: float | None, unit: str | None) -> float | None:
    """Wh and W from a sampled value in kWh/kW or Wh/W."""
    if value is None:
        return None
    return value * 1000 if unit in ("kWh", "kW") else value


def readings(
    meter_value: list[dict[str, Any]] | None, value_of: Callable[[dict[str, Any]], float | None]
) -> tuple[Reading, ...]:
    """A transaction's meter samples, whatever the version: ``value_of`` reads one sampled
    value in Wh or W (each version writes units its own way); SoC is the number as sent."""
    out = []
    for mv in meter_value or ():
        wh = w = soc = None
        for sv in mv.get("sampled_value", ()):
            measurand = sv.get("measurand", "Energy.Active.Import.Register")
            if measurand == "Energy.Active.Import.Register":
                wh = value_of(sv)
            elif measurand == "Power.Active.Import":
                w = value_of(sv)
            elif measurand == "SoC":
                soc = number(sv.get("value"))
        out.append(Reading(parse_time(mv.get("timestamp")), wh, w, soc))
    return tuple(out)
