"""The page every HTML report shares: the stylesheet, the header and footer, and the small
pieces the reports are built of (figures, cards, tables)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Final

from chargemesh import __version__
from chargemesh.report.common import timestamp
from chargemesh.report.countymap import COVERED_COLOR, UNCOVERED_COLOR
from chargemesh.report.svg import esc

BAR_COLOR: Final = "#3f8fc4"
BAD_COLOR: Final = "#d1495b"
GOOD_COLOR: Final = "#52a77f"
NEUTRAL_COLOR: Final = "#9aa5b1"

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


def now() -> str:
    return datetime.now(UTC).isoformat()


def page(
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


def kpi(label: str, value: str, sub: str = "", tone: str = "") -> str:
    cls = f"kpi {tone}".strip()
    sub_html = f'<div class="s">{esc(sub)}</div>' if sub else ""
    return (
        f'<div class="{cls}"><div class="k">{esc(label)}</div>'
        f'<div class="v">{esc(value)}</div>{sub_html}</div>'
    )


def card(title: str, content: str, note: str = "", section_id: str = "") -> str:
    ident = f' id="{esc(section_id)}"' if section_id else ""
    note_html = f'<p class="note">{note}</p>' if note else ""
    return f'<section class="card"{ident}><h2>{esc(title)}</h2>{note_html}{content}</section>'


def table(
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


def share(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return part / whole
