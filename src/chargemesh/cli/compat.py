"""chargemesh compat: the compatibility lab's test campaigns."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chargemesh.cli.common import (
    EXIT_USAGE,
    OptionalConfig,
    StoreOption,
    fail,
    one_line_errors,
    out,
    store_url,
)
from chargemesh.store import open_store

app = typer.Typer(help="The compatibility lab's test campaigns.", no_args_is_help=True)


@app.command("import")
@one_line_errors
def compat_import(
    file: Annotated[Path, typer.Argument(help="The campaign: CSV with a header, or JSON.")],
    name: Annotated[
        str | None, typer.Option(help="The campaign's name (default: the file's stem).")
    ] = None,
    config: OptionalConfig = None,
    store: StoreOption = None,
) -> None:
    """Import a test campaign, one row per test charge (columns: at, operator_id,
    vehicle_model, charger_manufacturer, charger_model, firmware, connector_standard,
    start_method, outcome, failure_reason). A bad row refuses the whole file."""
    from chargemesh.services.analytics.compatibility import (
        CampaignError,
        import_campaign,
        read_campaign,
    )

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"{file}: {exc.strerror or exc}", EXIT_USAGE) from None
    fmt = "json" if file.suffix.lower() == ".json" else "csv"
    try:
        attempts = read_campaign(text, name or file.stem, fmt=fmt)
    except CampaignError as exc:
        raise fail(f"{file}: {exc}; nothing imported", EXIT_USAGE) from None
    with open_store(store_url(config, store)) as s:
        n = import_campaign(s, attempts)
    failures = sum(1 for a in attempts if a.outcome != "success")
    out.print(f"[green]imported[/] {n:,} test charges ({failures:,} failed) as {name or file.stem}")
