"""The reliability report as one HTML page: NEVI uptime, the UK rapid-charger rule and
first-time charge success."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from chargemesh.report.common import (
    Json,
    count,
    fraction_pct,
    items,
    meets_nevi,
    number,
    obj,
    observed_span,
    parse_time,
    percent,
    reliability_figures,
    text,
)
from chargemesh.report.html import shell
from chargemesh.report.html.shell import BAD_COLOR, BAR_COLOR, GOOD_COLOR
from chargemesh.report.svg import Bar, BarSegment, bar_chart, esc, line_chart

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
                segments=(BarSegment(number(o, "uptime") or 0.0, BAR_COLOR),),
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
                Bar(label=label, segments=(BarSegment(float(n), color),), value_text=count(n))
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
                if meets_nevi(c, threshold)
                else '<span class="badge bad">below</span>',
            ]
            for c in worst
        ]
        listed = "" if complete else f" (of the {len(connectors):,} listed)"
        parts.append(
            f"<h3>Lowest uptime{esc(listed)}</h3>"
            + shell.table(
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
    return shell.card(
        "Uptime per connector (US NEVI)",
        "".join(parts),
        esc(
            "μ = (T − (T_outage − T_excluded)) ÷ T × 100 over each connector's observed minutes "
            f"T; a connector must be above {threshold:g} %."
        ),
        "nevi",
    )


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
        return shell.card("Rapid network reliability (UK 2023 rule)", empty, note, "uk")
    bars = [
        Bar(
            label=_operator(text(o, "operator_id"), names),
            segments=(
                BarSegment(
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
    table = shell.table(
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
    return shell.card("Rapid network reliability (UK 2023 rule)", chart + table, note, "uk")


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
        return shell.card("First-time charge success", empty, note, "ftcsr")
    bars = [
        Bar(
            label=_operator(text(o, "operator_id"), names),
            segments=(BarSegment(number(o, "ftcsr") or 0.0, BAR_COLOR),),
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
    table = shell.table(
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
    return shell.card("First-time charge success", chart + table, note, "ftcsr")


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
    f = reliability_figures(reliability)
    nevi, uk, ftcsr, network, threshold = f.nevi, f.uk, f.ftcsr, f.network, f.threshold
    measured, below, target = f.measured, f.below, f.target
    uk_ops, meeting, overall = f.uk_ops, f.meeting, f.overall
    span = observed_span(period)
    network_uptime = number(network, "uptime")
    kpis = "".join(
        [
            shell.kpi("Connectors measured", count(measured), "NEVI uptime"),
            shell.kpi(
                f"At or below {threshold:g} %",
                count(below),
                fraction_pct(shell.share(below, measured)) + " of connectors",
                "bad" if below else "good",
            ),
            shell.kpi("Network uptime", percent(network_uptime, 2), "time-weighted"),
            shell.kpi(
                f"Operators at {target:g} %",
                f"{meeting} / {len(uk_ops)}",
                f"UK rule, rapid ≥ {number(uk, 'min_kw') or 50:g} kW",
                "good" if uk_ops and meeting == len(uk_ops) else "bad" if uk_ops else "",
            ),
            shell.kpi(
                "First-time success",
                percent(number(overall, "ftcsr")),
                f"{count(number(overall, 'visits'))} visits",
            ),
            shell.kpi("Visit success", percent(number(overall, "visit_success_rate"))),
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
    return shell.page(
        kind="reliability",
        title="Charging reliability",
        generated_at=generated_at or text(reliability, "generated_at") or shell.now(),
        source=source,
        lead=esc(lead),
        kpis=kpis,
        body=[_nevi_section(nevi, names), _uk_section(uk, names), _ftcsr_section(ftcsr, names)],
        notes=notes,
    )
