"""chargemesh sync: one full sync of every feed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from chargemesh.cli.common import (
    EXIT_RUNTIME,
    EXIT_USAGE,
    ConfigOption,
    err,
    fail,
    one_line_errors,
    out,
)
from chargemesh.config import load_config


@one_line_errors
def sync(
    config: ConfigOption = Path("chargemesh.toml"),
    operator: Annotated[
        list[str] | None,
        typer.Option("--operator", "-o", help="Only this operator (repeat for more)."),
    ] = None,
    parallel: Annotated[int, typer.Option(help="Feeds synced at the same time.", min=1)] = 8,
) -> None:
    """One full sync of every feed (or the named ones), then exit. Serves our endpoints at
    server.public_url while it runs (OCPI registration calls back; operators may push)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from chargemesh.bootstrap import build_platform
    from chargemesh.protocols.http_server import LoopbackServer
    from chargemesh.services.feeds.ingest import sync_all

    cfg = load_config(config)
    ids = [cfg.operator(o).id for o in operator] if operator else [o.id for o in cfg.operators]
    if not ids:
        raise fail(f"{config}: no [[operators]] to sync", EXIT_USAGE)
    # one sync and out: no schedule, no polls, never the leader of a serving platform, and no
    # search index (its memory would grow with everything synced)
    with build_platform(
        cfg,
        scheduled_syncs=False,
        status_polls=False,
        singletons=False,
        search=False,
        csms=False,
    ) as platform:
        server = LoopbackServer(platform.app(), host=cfg.server.host, port=cfg.server.port)
        try:
            server.start()
        except RuntimeError:
            raise fail(
                f"cannot serve on {cfg.server.host}:{cfg.server.port} (in use?)", EXIT_RUNTIME
            ) from None
        columns = (
            TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(),
        )  # fmt: skip
        try:
            with Progress(*columns, console=err) as progress:
                tasks = {i: progress.add_task(i, total=None) for i in ids}

                def advance(op_id: str, done: int, total: int | None) -> None:
                    progress.update(tasks[op_id], completed=done, total=total or None)

                coro = sync_all(
                    cfg, platform.store, platform.relay, ocpi=platform.ocpi_side, operators=ids,
                    progress=advance, parallel=parallel,
                )  # fmt: skip
                results = server.call(coro, timeout_s=24 * 3600)
        finally:
            server.stop()
    table = Table("operator", "result", "stations", "seconds", "error", title="sync")
    for r in results:
        table.add_row(
            r.operator_id, "[green]ok[/]" if r.ok else "[red]failed[/]", f"{r.records:,}",
            f"{r.seconds:.1f}", escape(r.error or ""),
        )  # fmt: skip
    out.print(table)
    if not all(r.ok for r in results):
        raise typer.Exit(EXIT_RUNTIME)
