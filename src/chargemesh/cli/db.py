"""chargemesh db: the registry store, migrate and inspect."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from chargemesh.cli.common import OptionalConfig, StoreOption, one_line_errors, out, store_url
from chargemesh.store import open_store
from chargemesh.store.postgres import redact

app = typer.Typer(help="The registry store: migrate and inspect.", no_args_is_help=True)


@app.command("migrate")
@one_line_errors
def db_migrate(config: OptionalConfig = None, store: StoreOption = None) -> None:
    """Create or upgrade the store's schema."""
    url = store_url(config, store)
    with open_store(url) as s:
        out.print(f"[green]ok[/] {redact(url)} at schema version {s.schema_version()}")


@app.command("stats")
@one_line_errors
def db_stats(config: OptionalConfig = None, store: StoreOption = None) -> None:
    """Count what the registry holds: physical stations after merge (as the map and the reports
    count them) and the listings the feeds send, duplicates across feeds included."""
    url = store_url(config, store)
    with open_store(url) as s:
        counts = s.counts()
    out.print(f"store: {escape(redact(url))}", soft_wrap=True, highlight=False)  # never folded
    table = Table("operators", "stations", "EVSEs", "connectors", "listings (all feeds)")
    table.add_row(
        *(f"{n:,}" for n in (counts.operators, counts.stations, counts.evses, counts.connectors,
                             counts.listings))
    )  # fmt: skip
    out.print(table)
