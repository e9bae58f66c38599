"""chargemesh ops: the operations team's keys for the routes under ``/api/v1/ops/``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from chargemesh.cli.common import (
    EXIT_RUNTIME,
    EXIT_USAGE,
    OptionalConfig,
    StoreOption,
    fail,
    one_line_errors,
    out,
    store_url,
)
from chargemesh.cli.firmware import campaign_app, firmware_app
from chargemesh.store import open_store

app = typer.Typer(help="Operations: keys for the /api/v1/ops/ routes, own chargers.",
                  no_args_is_help=True)  # fmt: skip
key_app = typer.Typer(help="Operations keys (shown once, kept as their SHA-256).")
app.add_typer(key_app, name="key", no_args_is_help=True)
chargers_app = typer.Typer(help="The own network's chargers (through the ops API).")
app.add_typer(chargers_app, name="chargers", no_args_is_help=True)
app.add_typer(firmware_app, name="firmware", no_args_is_help=True)
app.add_typer(campaign_app, name="campaign", no_args_is_help=True)


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if at else ""


@key_app.command("create")
@one_line_errors
def key_create(
    name: Annotated[str, typer.Option("--name", help="Who or what holds the key (1-100 chars).")],
    config: OptionalConfig = None,
    store: StoreOption = None,
) -> None:
    """Make a key for the operations routes. It is printed once, alone on the last line: keep
    it now, it cannot be shown again (only its SHA-256 is stored)."""
    from chargemesh.services.accounts.ops_keys import OpsKeys

    with open_store(store_url(config, store)) as s:
        try:
            kept, key = OpsKeys(s).create(name)
        except ValueError as exc:
            raise fail(f"--name {name!r}: {exc}", EXIT_USAGE) from None
    out.print(
        f"ops key {kept.name!r} (prefix {kept.prefix}); shown once, keep it now:",
        markup=False, highlight=False,
    )  # fmt: skip
    # alone on its line, never wrapped, whatever the terminal's width: a script reads it
    out.print(key, markup=False, highlight=False, soft_wrap=True)


@key_app.command("list")
@one_line_errors
def key_list(config: OptionalConfig = None, store: StoreOption = None) -> None:
    """Every key: its name, prefix, when made, last used and revoked (never the key itself)."""
    from chargemesh.services.accounts.ops_keys import OpsKeys

    with open_store(store_url(config, store)) as s:
        keys = OpsKeys(s).list()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, caption="times in UTC")
    table.add_column("name", overflow="fold", min_width=10)
    for column in ("prefix", "created", "last used", "revoked"):
        table.add_column(column, no_wrap=True)
    for k in keys:
        table.add_row(
            k.name, k.prefix, _when(k.created_at), _when(k.last_used_at), _when(k.revoked_at)
        )
    out.print(table)


@key_app.command("revoke")
@one_line_errors
def key_revoke(
    prefix_or_name: Annotated[
        str, typer.Argument(help="A key's prefix, or a name (every live key of that name).")
    ],
    config: OptionalConfig = None,
    store: StoreOption = None,
) -> None:
    """Revoke keys at once: every node refuses them from their next request."""
    from chargemesh.services.accounts.ops_keys import OpsKeys

    with open_store(store_url(config, store)) as s:
        n = OpsKeys(s).revoke(prefix_or_name)
    if n == 0:
        raise fail(
            f"no live ops key has the prefix or name {prefix_or_name!r} "
            "(see chargemesh ops key list)",
            EXIT_RUNTIME,
        )
    out.print(f"revoked {n} ops key{'s' if n != 1 else ''} matching {prefix_or_name!r}",
              markup=False, highlight=False)  # fmt: skip


@chargers_app.command("import")
@one_line_errors
def chargers_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON: a list of chargers as POST "
            "/api/v1/ops/chargers takes them, or a simulator's "
            "truth file (its own_chargers)."
        ),
    ],
    api: Annotated[str, typer.Option(help="The platform's URL.")] = "http://127.0.0.1:8000",
    key: Annotated[
        str | None,
        typer.Option(help="An ops key (default: $CHARGEMESH_OPS_KEY).", show_default=False),
    ] = None,
    owners: Annotated[
        bool,
        typer.Option(
            help="Sign up the truth file's own_drivers first (the home chargers' owners)."
        ),
    ] = False,
) -> None:
    """Register own chargers through the operations API, as an operations team does; chargers
    registered already are left as they are."""
    import asyncio

    from chargemesh.cli.chargers import import_chargers, ops_key_from_env, read_chargers

    ops_key = ops_key_from_env(key)
    if not ops_key:
        raise fail("give an ops key: --key or CHARGEMESH_OPS_KEY", EXIT_USAGE)
    try:
        chargers, drivers = read_chargers(file)
    except (OSError, ValueError) as exc:
        raise fail(f"{file}: {exc}", EXIT_USAGE) from None
    result = asyncio.run(import_chargers(api, ops_key, chargers, drivers if owners else ()))
    out.print(f"registered {result.registered} chargers ({result.existing} already were)"
              + (f", {result.owners} owners signed up or known" if owners else ""))  # fmt: skip
    for line in result.refused[:20]:
        out.print(f"  refused {line}", highlight=False)
    if result.refused:
        raise fail(f"{len(result.refused)} refused", EXIT_RUNTIME)
