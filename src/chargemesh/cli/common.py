"""What every command shares: the consoles, one-line errors and exit codes, the options."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from chargemesh.config import Config, ConfigError, load_config
from chargemesh.store import StoreError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_RUNTIME = 1  # the work failed (store unreachable or damaged, …)
EXIT_USAGE = 2  # the command line or the configuration is wrong

out = Console()
err = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The TOML configuration file.", show_default=True),
]


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    return typer.Exit(code)


def one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn our known failures into one clear line on stderr and an exit code, never a trace."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        except StoreError as exc:
            raise fail(str(exc), EXIT_RUNTIME) from None

    return run


def store_url(config: Path | None, store: str | None) -> str:
    if store:
        return store
    cfg = load_config(config) if config else Config()
    return cfg.store.url


StoreOption = Annotated[
    str | None, typer.Option("--store", help="A store URL; overrides the config's \\[store] url.")
]
OptionalConfig = Annotated[
    Path | None, typer.Option("--config", "-c", help="The TOML configuration file.")
]


def when(value: str, option: str) -> datetime:
    """An ISO date or date-time from the command line; UTC unless it carries an offset."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(
            f"{option} {value!r}: not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)",
            EXIT_USAGE,
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def write(path: Path, content: str) -> None:
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}", EXIT_RUNTIME) from None
    err.print(f"wrote {path} ({len(content.encode()):,} bytes)", markup=False)
