"""chargemesh report: coverage, compatibility or reliability."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from chargemesh.cli.common import (
    EXIT_USAGE,
    OptionalConfig,
    StoreOption,
    err,
    fail,
    one_line_errors,
    out,
    store_url,
    when,
    write,
)
from chargemesh.config import Config, load_config
from chargemesh.store import open_store
from chargemesh.store.postgres import redact


class ReportKind(StrEnum):
    COVERAGE = "coverage"
    COMPATIBILITY = "compatibility"
    RELIABILITY = "reliability"


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    HTML = "html"


class ConnectorDetail(StrEnum):
    ALL = "all"
    BELOW_THRESHOLD = "below_threshold"
    NONE = "none"


CONNECTOR_DETAIL: dict[ConnectorDetail, Literal["all", "below_threshold", "none"]] = {
    ConnectorDetail.ALL: "all",
    ConnectorDetail.BELOW_THRESHOLD: "below_threshold",
    ConnectorDetail.NONE: "none",
}


def _year_before(at: datetime) -> datetime:
    try:
        return at.replace(year=at.year - 1)
    except ValueError:  # 29 February
        return at.replace(year=at.year - 1, day=28)


@one_line_errors
def report(
    kind: Annotated[ReportKind, typer.Argument(help="Which report.", show_default=False)],
    config: OptionalConfig = None,
    store: StoreOption = None,
    fmt: Annotated[
        ReportFormat,
        typer.Option(
            "--format",
            "-f",
            help="table: for the terminal; json: every figure; html: one self-contained page "
            "with charts (and the county map for coverage).",
        ),
    ] = ReportFormat.TABLE,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write to this file instead of standard output.", dir_okay=False
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="reliability: start of the period, YYYY-MM-DD[THH:MM] (UTC unless "
            "an offset is given); default: 12 months before --until.",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="reliability: end of the period (excluded); default: now.", show_default=False
        ),
    ] = None,
    connectors: Annotated[
        ConnectorDetail | None,
        typer.Option(
            help="reliability: which connectors are listed one by one (the operator, month and "
            "network figures always cover them all) [default: below_threshold]",
            show_default=False,
        ),
    ] = None,
    supercharger_kw: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="coverage: DC EVSEs from this power are superchargers [default: the "
            "config's coverage.supercharger_kw, 250]",
            show_default=False,
        ),
    ] = None,
    rapid_kw: Annotated[
        float | None,
        typer.Option(
            min=0.0, help="coverage: the rapid threshold [default: 50]", show_default=False
        ),
    ] = None,
    target: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="compatibility: target success rate [default: 0.99]",
            show_default=False,
        ),
    ] = None,
    min_samples: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="compatibility: attempts a slice needs to be flagged [default: 30]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Coverage, compatibility or reliability, computed from the registry now: Rich tables,
    JSON, or a self-contained HTML report (charts, and the county map for coverage, that
    render offline)."""
    options: dict[ReportKind, dict[str, object]] = {
        ReportKind.COVERAGE: {"--supercharger-kw": supercharger_kw, "--rapid-kw": rapid_kw},
        ReportKind.COMPATIBILITY: {"--target": target, "--min-samples": min_samples},
        ReportKind.RELIABILITY: {"--since": since, "--until": until, "--connectors": connectors},
    }
    for other, given in options.items():
        for name, value in given.items():
            if other != kind and value is not None:
                raise fail(f"{name} is an option of `report {other}`, not of `report {kind}`",
                           EXIT_USAGE)  # fmt: skip
    end = when(until, "--until") if until else datetime.now(UTC)
    start = when(since, "--since") if since else _year_before(end)
    if kind is ReportKind.RELIABILITY and end <= start:
        raise fail(f"the period must end after it starts ({start:%Y-%m-%d} → {end:%Y-%m-%d})",
                   EXIT_USAGE)  # fmt: skip
    url = store_url(config, store)
    with open_store(url) as s, err.status(f"computing the {kind} report…"):
        if kind is ReportKind.COVERAGE:
            from chargemesh.services.analytics.coverage import coverage_report

            thresholds = (load_config(config) if config else Config()).coverage  # [coverage]
            data = coverage_report(
                s,
                supercharger_kw=supercharger_kw or thresholds.supercharger_kw,
                rapid_kw=rapid_kw or thresholds.rapid_kw,
            ).to_json()
        elif kind is ReportKind.COMPATIBILITY:
            from chargemesh.services.analytics.compatibility import compatibility_report

            data = compatibility_report(
                s, target=0.99 if target is None else target,
                min_samples=30 if min_samples is None else min_samples,
            ).to_json()  # fmt: skip
        else:
            from chargemesh.services.analytics.reliability import reliability_report

            detail = CONNECTOR_DETAIL[connectors or ConnectorDetail.BELOW_THRESHOLD]
            data = reliability_report(s, start, end, connector_detail=detail).to_json()
        names = {op.id: op.name for op in s.list_operators() if op.name}
    if fmt is ReportFormat.JSON:
        from chargemesh.report.common import to_json_text

        content = to_json_text(data)
    elif fmt is ReportFormat.HTML:
        from chargemesh.report.html import render_html

        content = render_html(kind.value, data, source=redact(url), names=names)
    else:
        from chargemesh.report.tables import print_report

        if out_file is None:
            # a terminal's own width; piped, the width a file gets (Rich would assume 80)
            console = out if out.is_terminal else Console(width=160, color_system=None)
            print_report(console, kind.value, data, names)
            return
        buffer = io.StringIO()
        print_report(Console(file=buffer, width=160, color_system=None), kind.value, data, names)
        content = buffer.getvalue()
    if out_file is None:
        sys.stdout.write(content)
        sys.stdout.flush()
    else:
        write(out_file, content)
