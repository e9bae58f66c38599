"""The reports as Rich tables for the terminal: the headline figures first, then the detail.

Data strings (operator names, slice keys, failure reasons) are passed as ``Text``, never as
markup, so a name with brackets prints as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from chargemesh.report.common import (
    ACCESS_METHODS,
    DIMENSIONS,
    POWER_CLASSES,
    Json,
    count,
    fraction_pct,
    headline,
    items,
    meets_nevi,
    number,
    obj,
    observed_span,
    percent,
    reliability_figures,
    slice_label,
    slice_parts,
    text,
    timestamp,
)

__all__ = [
    "compatibility_tables",
    "coverage_tables",
    "print_report",
    "reliability_tables",
    "render_tables",
]

#: Uncovered counties listed one by one; the rest are counted.
UNCOVERED_LISTED: Final = 50
#: Slices per dimension, lowest rates first.
DIMENSION_ROWS: Final = 8
#: Connectors with the lowest uptime listed.
WORST_CONNECTORS: Final = 20

Names = Mapping[str, str]


def _table(
    title: str,
    *columns: str,
    numeric: Iterable[int] = (),
    caption: str = "",
    footer: Sequence[str] | None = None,
    lines: bool = False,
) -> Table:
    right = set(numeric)
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        caption=caption or None,
        caption_justify="left",
        show_footer=footer is not None,
        show_lines=lines,
        header_style="bold cyan",
    )
    for i, name in enumerate(columns):
        table.add_column(
            name,
            justify="right" if i in right else "left",
            footer=(footer[i] if footer is not None and i < len(footer) else ""),
            # On a narrow terminal Rich squeezes columns: names keep a readable width and
            # figures fold rather than lose digits to an ellipsis.
            min_width=None if i in right else 10,
            overflow="fold",
        )
    return table


def _share(part: float | None, whole: float | None) -> float | None:
    return None if part is None or not whole else part / whole


def _op(op_id: str, names: Names) -> str:
    name = names.get(op_id)
    return f"{name} ({op_id})" if name and name != op_id else op_id


# ------------------------------------------------------------------------------ coverage


def coverage_tables(coverage: Json, names: Names | None = None) -> list[RenderableType]:
    """Headline; operators; power classes; access methods; counties by province; uncovered
    counties (the first 50 and a count); the timeline."""
    totals, counties = obj(coverage, "totals"), obj(coverage, "counties")
    evses = number(totals, "evses")
    classes = obj(coverage, "power_classes")
    pnc = number(totals, "plug_and_charge_evses")
    lines = Text(headline(coverage), style="bold")
    sub = [
        f"{count(number(totals, 'stations'))} stations",
        f"{count(number(totals, 'connectors'))} connectors",
        f"{count(number(classes, 'supercharger'))} superchargers",
        f"{count(pnc)} plug-and-charge EVSEs ({fraction_pct(_share(pnc, evses))})",
    ]
    generated = text(coverage, "generated_at")
    out: list[RenderableType] = [
        Group(
            lines,
            Text(" · ".join(sub)),
            Text(f"generated {timestamp(generated)}", style="dim") if generated else Text(""),
        ),
    ]

    operators = sorted(items(coverage, "operators"), key=lambda o: -(number(o, "evses") or 0))
    keys = ("stations", "evses", "connectors", "supercharger", "dc_fast", "ac", "plug_and_charge")

    def total(key: str) -> str:
        return count(sum(number(o, key) or 0 for o in operators))

    if not operators:
        out.append(Text("No operator has any charger in the registry.", style="yellow"))
    ops = _table(
        "Operators",
        "operator",
        "id",
        "stations",
        "EVSEs",
        "connectors",
        "supercharger",
        "DC fast",
        "AC",
        "plug & charge",
        numeric=range(2, 9),
        footer=[f"{len(operators)} operators", "", *(total(k) for k in keys)],
    )
    for o in operators:
        ops.add_row(
            Text(text(o, "name") or text(o, "id")),
            Text(text(o, "id")),
            *(count(number(o, k)) for k in keys),
        )
    if operators:
        out.append(ops)

    thresholds = obj(coverage, "thresholds")
    sc, rapid = number(thresholds, "supercharger_kw"), number(thresholds, "rapid_kw")
    caption = "per EVSE"
    if sc is not None:
        caption = f"supercharger: DC ≥ {sc:g} kW" + (
            f"; rapid: ≥ {rapid:g} kW" if rapid is not None else ""
        )
    power = _table("Power classes", "class", "EVSEs", "share", numeric=(1, 2), caption=caption)
    for key, label in POWER_CLASSES:
        value = number(classes, key)
        power.add_row(label, count(value), fraction_pct(_share(value, evses)))
    out.append(power)

    methods = obj(coverage, "access_methods")
    access = _table(
        "Access methods",
        "method",
        "EVSEs",
        "share",
        numeric=(1, 2),
        caption="an EVSE can offer several",
    )
    for key, label in ACCESS_METHODS:
        if key in methods:
            value = number(methods, key)
            access.add_row(label, count(value), fraction_pct(_share(value, evses)))
    out.append(access)

    provinces = _table(
        "Counties by province",
        "province",
        "covered",
        "units",
        "share",
        numeric=(1, 2, 3),
        footer=[
            "all",
            count(number(counties, "covered")),
            count(number(counties, "total")),
            fraction_pct(number(counties, "share")),
        ],
    )
    for p in items(counties, "by_province"):
        covered, units = number(p, "covered"), number(p, "total")
        share = _share(covered, units)
        style = "yellow" if share is not None and share < 1 else ""
        provinces.add_row(
            Text(text(p, "name")),
            count(covered),
            count(units),
            Text(fraction_pct(share), style=style),
        )
    out.append(provinces)

    uncovered = items(counties, "uncovered")
    if uncovered:
        covered, units = number(counties, "covered"), number(counties, "total")
        missing = units - covered if covered is not None and units is not None else len(uncovered)
        more = int(missing) - min(len(uncovered), UNCOVERED_LISTED)
        table = _table(
            f"Counties not covered ({count(missing)})",
            "adcode",
            "county",
            "province",
            caption=f"… and {more:,} more" if more > 0 else "",
        )
        for c in uncovered[:UNCOVERED_LISTED]:
            table.add_row(Text(text(c, "adcode")), Text(text(c, "name")), Text(text(c, "province")))
        out.append(table)
    else:
        out.append(Text("Every county-level unit has at least one station.", style="green"))

    timeline = items(coverage, "timeline")
    if timeline:
        columns = (
            "operators",
            "stations",
            "evses",
            "connectors",
            "counties",
            "highway_service_areas",
        )
        table = _table(
            "Over time",
            "at",
            "operators",
            "stations",
            "EVSEs",
            "connectors",
            "counties",
            "highway areas",
            numeric=range(1, 7),
        )
        for point in timeline:
            table.add_row(timestamp(point.get("at")), *(count(number(point, k)) for k in columns))
        out.append(table)
    return out


# ------------------------------------------------------------------------- compatibility


def _interval(s: Json, digits: int = 2) -> str:
    low, high = number(s, "low"), number(s, "high")
    if low is None or high is None:
        return "–"
    return f"{fraction_pct(low, digits)} – {fraction_pct(high, digits)}"


def _slice_lines(key: object, names: Names) -> str:
    """One ``dimension: value`` line per dimension the slice fixes."""
    return "\n".join(f"{label}: {value}" for label, value in slice_parts(key, names)) or "all"


def _top_reasons(reasons: object, limit: int = 3) -> Text:
    if not isinstance(reasons, Mapping) or not reasons:
        return Text("")
    ranked = sorted(reasons.items(), key=lambda kv: -(kv[1] if isinstance(kv[1], int) else 0))
    shown = "\n".join(f"{r} ({n})" for r, n in ranked[:limit])
    if len(ranked) > limit:
        shown += f"\n+{len(ranked) - limit} more"
    return Text(shown)


def compatibility_tables(compatibility: Json, names: Names | None = None) -> list[RenderableType]:
    """Overall rate with its interval; flagged slices with reasons; each dimension's lowest."""
    names = names or {}
    target = number(compatibility, "target") or 0.99
    confidence = number(compatibility, "confidence") or 0.95
    min_samples = number(compatibility, "min_samples")
    overall = obj(compatibility, "overall")
    attempts = number(overall, "attempts")
    flagged = sorted(items(compatibility, "flagged"), key=lambda s: number(s, "rate") or 0.0)
    conf = f"{confidence * 100:g} %"
    if attempts:
        line = (
            f"{fraction_pct(number(overall, 'rate'), 2)} of {count(attempts)} charge attempts "
            f"succeeded ({conf} interval {_interval(overall)}) · target {target * 100:g} % · "
            f"{len(flagged)} slice{'s' if len(flagged) != 1 else ''} flagged"
        )
    else:
        line = "No charge attempt recorded yet."
    detail = (
        f"slices need at least {count(min_samples)} attempts to be flagged"
        if (min_samples is not None)
        else ""
    )
    out: list[RenderableType] = [Group(Text(line, style="bold"), Text(detail, style="dim"))]

    if flagged:
        table = _table(
            "Flagged slices",
            "slice",
            "attempts",
            "rate",
            f"{conf} interval",
            "top failure reasons",
            numeric=(1, 2, 3),
            lines=True,
        )
        for s in flagged:
            table.add_row(
                Text(_slice_lines(s.get("key"), names)),
                count(number(s, "attempts")),
                Text(fraction_pct(number(s, "rate"), 2), "red"),
                _interval(s),
                _top_reasons(s.get("reasons")),
            )
        out.append(table)
    else:
        out.append(Text("No slice is significantly below the target.", style="green"))

    dims = obj(compatibility, "dimensions")
    for dim, label in [*DIMENSIONS, *((d, d) for d in dims if d not in dict(DIMENSIONS))]:
        slices = sorted(items(dims, dim), key=lambda s: number(s, "rate") or 0.0)
        if not slices:
            continue
        more = len(slices) - DIMENSION_ROWS
        table = _table(
            f"{label}: lowest rates",
            label.lower(),
            "attempts",
            "rate",
            f"{conf} interval",
            "",
            numeric=(1, 2, 3),
            caption=f"… and {more:,} more" if more > 0 else "",
        )
        for s in slices[:DIMENSION_ROWS]:
            is_flagged = s.get("flagged") is True
            table.add_row(
                Text(slice_label(s.get("key"), names=names)),
                count(number(s, "attempts")),
                Text(fraction_pct(number(s, "rate"), 2), "red" if is_flagged else ""),
                _interval(s),
                Text("flagged", "bold red") if is_flagged else "",
            )
        out.append(table)
    return out


# --------------------------------------------------------------------------- reliability


def _meets(ok: object) -> Text:
    if ok is True:
        return Text("meets", "green")
    if ok is False:
        return Text("misses", "bold red")
    return Text("–", "dim")


def reliability_tables(reliability: Json, names: Names | None = None) -> list[RenderableType]:
    """NEVI summary (per operator, worst connectors); UK reliability per operator; FTCSR."""
    names = names or {}
    period = obj(reliability, "period")
    f = reliability_figures(reliability)
    nevi, uk, ftcsr, network, threshold = f.nevi, f.uk, f.ftcsr, f.network, f.threshold
    listed, measured, below, target = f.listed, f.measured, f.below, f.target
    uk_ops, meeting, overall = f.uk_ops, f.meeting, f.overall
    line = (
        f"NEVI: {count(below)} of {count(measured)} connectors at or below {threshold:g} % "
        f"uptime (network {percent(number(network, 'uptime'), 2)}) · UK: {meeting} of "
        f"{len(uk_ops)} operators meet {target:g} % · FTCSR "
        f"{percent(number(overall, 'ftcsr'))} of {count(number(overall, 'visits'))} visits"
    )
    out: list[RenderableType] = [
        Group(Text(line, style="bold"), Text(observed_span(period), style="dim"))
    ]

    operators = items(nevi, "operators")
    if operators:
        table = _table(
            "NEVI uptime per operator",
            "operator",
            "connectors",
            f"≤ {threshold:g} %",
            "uptime",
            numeric=(1, 2, 3),
        )
        for o in sorted(operators, key=lambda o: number(o, "uptime") or 0.0):
            table.add_row(
                Text(_op(text(o, "operator_id"), names)),
                count(number(o, "connectors")),
                count(number(o, "below_threshold")),
                percent(number(o, "uptime"), 2),
            )
        out.append(table)
    # connectors that were down at all, the lowest first: fully up ones tell nothing
    worst = sorted(
        (c for c in listed if (number(c, "uptime") or 0.0) < 100.0),
        key=lambda c: number(c, "uptime") or 0.0,
    )[:WORST_CONNECTORS]
    if listed and not worst:
        out.append(Text("No listed connector had an outage.", style="green"))
    if worst:
        table = _table(
            "Lowest NEVI uptime",
            "connector",
            "operator",
            "uptime",
            "outage min",
            "excluded min",
            "observed min",
            f"> {threshold:g} %",
            numeric=(2, 3, 4, 5),
        )
        for c in worst:
            table.add_row(
                Text(text(c, "connector_id")),
                Text(_op(text(c, "operator_id"), names)),
                percent(number(c, "uptime"), 2),
                count(number(c, "outage_min")),
                count(number(c, "excluded_min")),
                count(number(c, "observed_min")),
                _meets(meets_nevi(c, threshold)),
            )
        out.append(table)

    if uk_ops:
        table = _table(
            f"UK reliability (rapid ≥ {number(uk, 'min_kw') or 50:g} kW)",
            "operator",
            "connectors",
            "reliability",
            "reliable min",
            "unreliable min",
            "ineligible min",
            f"{target:g} %",
            numeric=(1, 2, 3, 4, 5),
        )
        for o in sorted(uk_ops, key=lambda o: number(o, "reliability") or 0.0):
            table.add_row(
                Text(_op(text(o, "operator_id"), names)),
                count(number(o, "connectors")),
                percent(number(o, "reliability"), 2),
                count(number(o, "reliable_min")),
                count(number(o, "unreliable_min")),
                count(number(o, "ineligible_min")),
                _meets(o.get("meets_target")),
            )
        out.append(table)

    ops = items(ftcsr, "operators")
    if ops or number(overall, "visits"):
        table = _table(
            "First-time charge success",
            "operator",
            "visits",
            "first-time successes",
            "FTCSR",
            "visit success",
            numeric=(1, 2, 3, 4),
            footer=[
                "all",
                count(number(overall, "visits")),
                count(number(overall, "first_time_successes")),
                percent(number(overall, "ftcsr")),
                percent(number(overall, "visit_success_rate")),
            ],
        )
        for o in sorted(ops, key=lambda o: number(o, "ftcsr") or 0.0):
            table.add_row(
                Text(_op(text(o, "operator_id"), names)),
                count(number(o, "visits")),
                count(number(o, "first_time_successes")),
                percent(number(o, "ftcsr")),
                percent(number(o, "visit_success_rate")),
            )
        out.append(table)
    return out


_RENDERERS: Final[dict[str, Callable[[Json, Names | None], list[RenderableType]]]] = {
    "coverage": coverage_tables,
    "compatibility": compatibility_tables,
    "reliability": reliability_tables,
}


def render_tables(kind: str, data: Json, names: Names | None = None) -> list[RenderableType]:
    """A report kind's renderables, in the order they are printed."""
    return _RENDERERS[kind](data, names)


def print_report(console: Console, kind: str, data: Json, names: Names | None = None) -> None:
    for i, renderable in enumerate(render_tables(kind, data, names)):
        if i:
            console.print()
        console.print(renderable)
