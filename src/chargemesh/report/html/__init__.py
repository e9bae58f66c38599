"""One self-contained HTML page per report: inline CSS, inline SVG charts drawn in Python, and
for coverage the county map. No script and no reference to anything outside the file (no font,
image, stylesheet or link), so it opens the same offline, in a mail attachment or printed.

Every text that comes from the data (operator names, slice keys, failure reasons) is escaped.

One module per report (``coverage``, ``compatibility``, ``reliability``) over the shared page
(``shell``: stylesheet, header, footer, figures, cards, tables).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from chargemesh.report.common import Json
from chargemesh.report.html.compatibility import compatibility_html
from chargemesh.report.html.coverage import coverage_html
from chargemesh.report.html.reliability import reliability_html
from chargemesh.report.html.shell import CSS

__all__ = ["CSS", "compatibility_html", "coverage_html", "reliability_html", "render_html"]

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
