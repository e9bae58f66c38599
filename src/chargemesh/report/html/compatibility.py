"""The compatibility lab's report as one HTML page: success rates with their intervals by
slice, and the slices flagged below the target."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from chargemesh.report.common import (
    DIMENSIONS,
    Json,
    count,
    fraction_pct,
    items,
    number,
    obj,
    slice_label,
    slice_parts,
    text,
)
from chargemesh.report.html import shell
from chargemesh.report.html.shell import BAD_COLOR, BAR_COLOR
from chargemesh.report.svg import Bar, BarSegment, bar_chart, esc


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
                segments=(BarSegment(rate or 0.0, BAD_COLOR if flagged else BAR_COLOR),),
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
            shell.kpi(
                "Success rate",
                fraction_pct(rate, 2),
                f"{conf} CI {fraction_pct(low, 2)}–{fraction_pct(high, 2)}",
                tone,
            ),
            shell.kpi("Charge attempts", count(attempts), f"{count(failures)} failed"),
            shell.kpi(
                "Target",
                f"{target * 100:g} %",
                f"at least {count(min_samples)} attempts per slice" if min_samples else "",
            ),
            shell.kpi(
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
        content = chart + shell.table(
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
    body.append(shell.card("Flagged slices", content, note, "flagged"))

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
            + shell.table(
                ["Slice", "Attempts", "Rate", f"{conf} interval", "", "Failure reasons"],
                _slice_rows(sorted(slices, key=lambda s: number(s, "rate") or 0.0), names),
                numeric=(1, 2, 3),
            )
        )
    if charts:
        body.append(
            shell.card(
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
    return shell.page(
        kind="compatibility",
        title="Charging compatibility",
        generated_at=generated_at or text(compatibility, "generated_at") or shell.now(),
        source=source,
        lead=esc(lead),
        kpis=kpis,
        body=body,
        notes=notes,
    )
