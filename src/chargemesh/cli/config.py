"""chargemesh config: check a configuration file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from chargemesh.cli.common import ConfigOption, one_line_errors, out
from chargemesh.config import load_config
from chargemesh.store.postgres import redact

app = typer.Typer(help="Check a configuration file.", no_args_is_help=True)


@app.command("check")
@one_line_errors
def config_check(config: ConfigOption = Path("chargemesh.toml")) -> None:
    """Validate a configuration file and show what it configures (secrets hidden)."""
    cfg = load_config(config)
    out.print(f"[green]ok[/] {config}: store {redact(cfg.store.url)}, server {cfg.server.base_url}")
    table = Table("id", "name", "protocol", "url", "capabilities", title="operators")
    for op in cfg.operators:
        table.add_row(op.id, op.name or "", op.protocol, op.url, ", ".join(op.capabilities))
    out.print(table)
