"""What the three outputs share: reading a report's JSON leniently, number formats, labels."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

__all__ = [
    "ACCESS_METHODS",
    "DIMENSIONS",
    "OPERATOR_DIMENSIONS",
    "POWER_CLASSES",
    "Json",
    "count",
    "fraction_pct",
    "headline",
    "items",
    "number",
    "obj",
    "percent",
    "slice_label",
    "slice_parts",
    "text",
    "timestamp",
    "to_json_text",
]

Json = Mapping[str, Any]

#: The power classes, in the order they are shown, with their labels.
POWER_CLASSES: Final = (("supercharger", "Supercharger"), ("dc_fast", "DC fast"), ("ac", "AC"))
#: How a pile can be started, in the order they are shown.
ACCESS_METHODS: Final = (
    ("scan", "QR scan"),
    ("app_start", "App start"),
    ("plug_and_charge", "Plug & charge"),
    ("rfid", "RFID card"),
    ("view_only", "View only"),
)
#: The compatibility lab's slice dimensions.
DIMENSIONS: Final = (
    ("vehicle_model", "Vehicle model"),
    ("charger_manufacturer", "Charger maker"),
    ("charger_model", "Charger model"),
    ("firmware", "Firmware"),
    ("operator_id", "Operator"),
    ("operator", "Operator"),
    ("connector_standard", "Connector"),
)
#: Slice dimensions whose values are operator ids.
OPERATOR_DIMENSIONS: Final = frozenset({"operator_id", "operator"})
DASH: Final = "–"


def obj(data: object, key: str) -> Json:
    """``data[key]`` if it is an object, else an empty one."""
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def items(data: object, key: str) -> list[Json]:
    """The objects in the list ``data[key]`` (anything else in it is skipped)."""
    value = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(value, list | tuple):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def number(data: object, key: str) -> float | None:
    """``data[key]`` if it is a finite number (not a bool), else ``None``."""
    value = data.get(key) if isinstance(data, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def text(data: object, key: str, default: str = "") -> str:
    value = data.get(key) if isinstance(data, Mapping) else None
    if value is None:
        return default
    return value if isinstance(value, str) else str(value)


def count(value: float | None) -> str:
    """``1400000`` → ``1,400,000``; missing → an en dash."""
    if value is None:
        return DASH
    return f"{round(value):,}"


def percent(value: float | None, digits: int = 1) -> str:
    """A value already in percent: ``96.14`` → ``96.1 %``."""
    if value is None:
        return DASH
    return f"{value:.{digits}f} %"


def fraction_pct(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.9614`` → ``96.1 %``."""
    return percent(None if value is None else value * 100.0, digits)


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 date or date-time (``Z`` allowed); naive ones are taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def timestamp(value: object) -> str:
    """``2026-11-30T15:03:12+00:00`` → ``2026-11-30 15:03 UTC``; unparsable text as it is."""
    parsed = parse_time(value)
    if parsed is None:
        return value if isinstance(value, str) else ""
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def observed_span(period: Mapping[str, object]) -> str:
    """The reliability period as a reader should take it: what was asked for, and what was
    actually observed of it when that is less (a registry watched for 17 minutes shows that,
    not a year)."""
    text = f"{timestamp(period.get('start'))} – {timestamp(period.get('end'))}"
    first, last = period.get("observed_from", period.get("start")), period.get("observed_until")
    if first is None:
        return f"{text} (nothing observed in this period)"
    if last is not None and (first != period.get("start") or last != period.get("end")):
        observed = parse_time(first), parse_time(last)
        length = ""
        if observed[0] is not None and observed[1] is not None:
            length = f", {duration(observed[1] - observed[0])}"
        text += f" (observed {timestamp(first)} – {timestamp(last)}{length})"
    return text


def meets_nevi(connector: Json, threshold: float) -> bool:
    """Whether a listed connector meets the NEVI threshold: its own verdict, else its uptime
    strictly above the threshold."""
    meets = connector.get("meets_threshold")
    if isinstance(meets, bool):
        return meets
    return (number(connector, "uptime") or 0.0) > threshold


@dataclass(frozen=True, slots=True)
class ReliabilityFigures:
    """The reliability report's headline figures, read once for the tables and the HTML page."""

    nevi: Json
    uk: Json
    ftcsr: Json
    network: Json
    threshold: float
    listed: list[Json]  # connectors with an uptime
    measured: float  # connectors measured in the network
    below: float  # at or below the threshold
    target: float
    uk_ops: list[Json]  # operators with a reliability figure
    meeting: int  # of them, meeting the target
    overall: Json  # first-time charge success, all operators


def reliability_figures(reliability: Json) -> ReliabilityFigures:
    nevi, uk, ftcsr = obj(reliability, "nevi"), obj(reliability, "uk"), obj(reliability, "ftcsr")
    threshold = number(nevi, "threshold") or 97.0
    network = obj(nevi, "network")
    listed = [c for c in items(nevi, "connectors") if number(c, "uptime") is not None]
    measured = number(network, "connectors")
    if measured is None:
        measured = float(len(listed))
    below = number(nevi, "below_threshold")
    if below is None:
        below = float(sum(1 for c in listed if not meets_nevi(c, threshold)))
    uk_ops = [o for o in items(uk, "operators") if number(o, "reliability") is not None]
    return ReliabilityFigures(
        nevi=nevi,
        uk=uk,
        ftcsr=ftcsr,
        network=network,
        threshold=threshold,
        listed=listed,
        measured=measured,
        below=below,
        target=number(uk, "target") or 99.0,
        uk_ops=uk_ops,
        meeting=sum(1 for o in uk_ops if o.get("meets_target") is True),
        overall=obj(ftcsr, "overall"),
    )


def duration(delta: timedelta) -> str:
    """``17 min``, ``5.2 h``, ``12.0 days``: a length of time at a glance."""
    seconds = delta.total_seconds()
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def slice_parts(key: object, names: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """A compatibility slice's key as (dimension label, value) pairs, in dimension order. A
    dimension the slice fixes to no value (null) reads ``unknown``. ``names`` (operator id →
    name) shows an operator by name."""
    if not isinstance(key, Mapping):
        return [("", str(key))] if key not in (None, "") else []
    labels = dict(DIMENSIONS)
    order = [d for d, _ in DIMENSIONS] + sorted(str(k) for k in key if k not in labels)
    names = names or {}
    parts = []
    for d in order:
        if d not in key:
            continue
        value = key[d]
        shown = "unknown" if value in (None, "") else str(value)
        if d in OPERATOR_DIMENSIONS:
            shown = names.get(shown, shown)
        parts.append((labels.get(d, d.replace("_", " ")), shown))
    return parts


def slice_label(
    key: object, *, with_dimensions: bool = False, names: Mapping[str, str] | None = None
) -> str:
    """``Xiaomi SU7 · HX-120 · 2.4.1``, or with ``with_dimensions``
    ``Vehicle model Xiaomi SU7 · Charger model HX-120 · …``; ``all`` for the empty key."""
    parts = slice_parts(key, names)
    if not parts:
        return "all"
    if with_dimensions:
        return " · ".join(f"{label}: {value}" for label, value in parts)
    return " · ".join(value for _, value in parts)


def headline(coverage: Json) -> str:
    """The coverage report in one line: "26 operators · 1,400,000 EVSEs · 2,738 of 2,848
    counties (96.1 %) · 6,856 highway service areas"."""
    totals, counties = obj(coverage, "totals"), obj(coverage, "counties")
    parts = [
        f"{count(number(totals, 'operators'))} operators",
        f"{count(number(totals, 'evses'))} EVSEs",
    ]
    covered, total = number(counties, "covered"), number(counties, "total")
    if covered is not None and total is not None:
        share = number(counties, "share")
        if share is None and total:
            share = covered / total
        parts.append(f"{count(covered)} of {count(total)} counties ({fraction_pct(share)})")
    areas = number(obj(coverage, "highway"), "service_areas")
    if areas is not None:
        parts.append(f"{count(areas)} highway service areas")
    return " · ".join(parts)


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"not JSON: {type(value).__name__}")


def to_json_text(data: Json) -> str:
    """The report as pretty JSON (UTF-8 names kept readable), ending in a newline."""
    return json.dumps(data, ensure_ascii=False, indent=2, default=_plain) + "\n"
