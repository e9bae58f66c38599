"""chargemesh ocpi: OCPI connections with CPOs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chargemesh.cli.common import (
    EXIT_USAGE,
    OptionalConfig,
    StoreOption,
    fail,
    one_line_errors,
    out,
)
from chargemesh.config import Config, load_config
from chargemesh.store import open_store

app = typer.Typer(help="OCPI connections with CPOs.", no_args_is_help=True)


@app.command("invite")
@one_line_errors
def ocpi_invite(
    operator: Annotated[str, typer.Option("--operator", help="The CPO, as CC-PID (e.g. CN-ABC).")],
    config: OptionalConfig = None,
    store: StoreOption = None,
) -> None:
    """Issue a registration token A for a CPO to register with us (give it, with our versions
    URL, to the CPO out of band). It replaces any registration the CPO had."""
    import asyncio
    import re

    from chargemesh.services.feeds.ocpi_connections import OcpiConnections

    if not re.fullmatch(r"[A-Za-z]{2}-[0-9A-Za-z]{3}", operator):
        raise fail(f"--operator {operator!r}: an OCPI party is CC-PID, e.g. CN-ABC", EXIT_USAGE)
    cfg = load_config(config) if config else Config()
    versions_url = f"{cfg.server.base_url}/ocpi/versions"
    with open_store(store or cfg.store.url) as s:
        own = (cfg.ocpi.country_code, cfg.ocpi.party_id)
        connections = OcpiConnections(s, versions_url=versions_url, own_party=own)
        token = asyncio.run(connections.invite(operator))
    out.print(f"versions URL: {versions_url}")
    out.print(f"token A for {operator.upper()}: {token}")


@app.command("parties")
@one_line_errors
def ocpi_parties(config: OptionalConfig = None, store: StoreOption = None) -> None:
    """The OCPI connections and where each stands (tokens are never shown)."""
    cfg = load_config(config) if config else Config()
    with open_store(store or cfg.store.url) as s:
        parties = s.list_ocpi_parties()
    table = Table("party", "stage", "version", "endpoints", "versions URL", "last pull from")
    for p in parties:
        state = p.sync_state.get("locations") or {}
        table.add_row(
            p.id, p.stage, p.version or "", str(len(p.endpoints)), p.versions_url or "",
            str(state.get("date_from") or ""),
        )  # fmt: skip
    out.print(table)
