"""The reports' outputs: Rich tables, JSON and a self-contained HTML page per report kind.

The figures are computed elsewhere (``chargemesh.services.analytics``: ``coverage``,
``compatibility`` and ``reliability``); every renderer here takes a report's JSON form
(``Report.to_json()``), so the terminal, the file and the API show the same numbers. Unknown
keys are ignored and optional ones may be missing: a renderer shows what it is given.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["KINDS", "Kind"]

Kind = Literal["coverage", "compatibility", "reliability"]
KINDS: Final[tuple[Kind, ...]] = ("coverage", "compatibility", "reliability")
