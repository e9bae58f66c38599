"""The ``chargemesh`` command."""

from __future__ import annotations

import contextlib
import gc
import io
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chargemesh import __version__
from chargemesh.config import Config, ConfigError, load_config
from chargemesh.store import StoreError, open_store
from chargemesh.store.postgres import redact

if TYPE_CHECKING:
    from chargemesh.services.ingest import FeedResult
    from chargemesh.store.repository import RegistryCounts

P = ParamSpec("P")
R = TypeVar("R")

EXIT_RUNTIME = 1  # the work failed (store unreachable or damaged, …)
EXIT_USAGE = 2  # the command line or the configuration is wrong

app = typer.Typer(
    help="chargemesh: one map for every charging network.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Check a configuration file.", no_args_is_help=True)
db_app = typer.Typer(help="The registry store: migrate and inspect.", no_args_is_help=True)
geo_app = typer.Typer(help="China's counties and coordinate systems.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(geo_app, name="geo")
ocpi_app = typer.Typer(help="OCPI connections with CPOs.", no_args_is_help=True)
app.add_typer(ocpi_app, name="ocpi")
compat_app = typer.Typer(help="The compatibility lab's test campaigns.", no_args_is_help=True)
app.add_typer(compat_app, name="compat")

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


def version_callback(value: bool) -> None:
    if value:
        out.print(f"chargemesh {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=version_callback, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """chargemesh: one map for every charging network."""


@config_app.command("check")
@one_line_errors
def config_check(config: ConfigOption = Path("chargemesh.toml")) -> None:
    """Validate a configuration file and show what it configures (secrets hidden)."""
    cfg = load_config(config)
    out.print(f"[green]ok[/] {config}: store {redact(cfg.store.url)}, server {cfg.server.base_url}")
    table = Table("id", "name", "protocol", "url", "capabilities", title="operators")
    for op in cfg.operators:
        table.add_row(op.id, op.name or "", op.protocol, op.url, ", ".join(op.capabilities))
    out.print(table)


def _store_url(config: Path | None, store: str | None) -> str:
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


@db_app.command("migrate")
@one_line_errors
def db_migrate(config: OptionalConfig = None, store: StoreOption = None) -> None:
    """Create or upgrade the store's schema."""
    url = _store_url(config, store)
    with open_store(url) as s:
        out.print(f"[green]ok[/] {redact(url)} at schema version {s.schema_version()}")


@compat_app.command("import")
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
    from chargemesh.services.compatibility import CampaignError, import_campaign, read_campaign

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise fail(f"{file}: {exc.strerror or exc}", EXIT_USAGE) from None
    fmt = "json" if file.suffix.lower() == ".json" else "csv"
    try:
        attempts = read_campaign(text, name or file.stem, fmt=fmt)
    except CampaignError as exc:
        raise fail(f"{file}: {exc}; nothing imported", EXIT_USAGE) from None
    with open_store(_store_url(config, store)) as s:
        n = import_campaign(s, attempts)
    failures = sum(1 for a in attempts if a.outcome != "success")
    out.print(f"[green]imported[/] {n:,} test charges ({failures:,} failed) as {name or file.stem}")


@db_app.command("stats")
@one_line_errors
def db_stats(config: OptionalConfig = None, store: StoreOption = None) -> None:
    """Count what the registry holds: physical stations after merge (as the map and the reports
    count them) and the listings the feeds send, duplicates across feeds included."""
    url = _store_url(config, store)
    with open_store(url) as s:
        counts = s.counts()
    out.print(f"store: {escape(redact(url))}", soft_wrap=True, highlight=False)  # never folded
    table = Table("operators", "stations", "EVSEs", "connectors", "listings (all feeds)")
    table.add_row(
        *(f"{n:,}" for n in (counts.operators, counts.stations, counts.evses, counts.connectors,
                             counts.listings))
    )  # fmt: skip
    out.print(table)


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


def _when(value: str, option: str) -> datetime:
    """An ISO date or date-time from the command line; UTC unless it carries an offset."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(
            f"{option} {value!r}: not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)",
            EXIT_USAGE,
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _year_before(at: datetime) -> datetime:
    try:
        return at.replace(year=at.year - 1)
    except ValueError:  # 29 February
        return at.replace(year=at.year - 1, day=28)


def _write(path: Path, content: str) -> None:
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}", EXIT_RUNTIME) from None
    err.print(f"wrote {path} ({len(content.encode()):,} bytes)", markup=False)


@app.command("report")
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
    end = _when(until, "--until") if until else datetime.now(UTC)
    start = _when(since, "--since") if since else _year_before(end)
    if kind is ReportKind.RELIABILITY and end <= start:
        raise fail(f"the period must end after it starts ({start:%Y-%m-%d} → {end:%Y-%m-%d})",
                   EXIT_USAGE)  # fmt: skip
    url = _store_url(config, store)
    with open_store(url) as s, err.status(f"computing the {kind} report…"):
        if kind is ReportKind.COVERAGE:
            from chargemesh.services.coverage import coverage_report

            thresholds = (load_config(config) if config else Config()).coverage  # [coverage]
            data = coverage_report(
                s,
                supercharger_kw=supercharger_kw or thresholds.supercharger_kw,
                rapid_kw=rapid_kw or thresholds.rapid_kw,
            ).to_json()
        elif kind is ReportKind.COMPATIBILITY:
            from chargemesh.services.compatibility import compatibility_report

            data = compatibility_report(
                s, target=0.99 if target is None else target,
                min_samples=30 if min_samples is None else min_samples,
            ).to_json()  # fmt: skip
        else:
            from chargemesh.services.reliability import reliability_report

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
        _write(out_file, content)


@app.command("serve")
@one_line_errors
def serve(config: ConfigOption = Path("chargemesh.toml")) -> None:
    """Run the platform against the configured operators: the API, the map, the OCPI and T/CEC
    endpoints, and the feeds synced at start and then on the \\[sync] schedule. Ctrl-C stops it."""
    import uvicorn

    from chargemesh.api.app import OcpiSettings, Platform, tcec_clients, tcec_peers

    cfg = load_config(config)
    with open_store(cfg.store.url) as store:
        platform = Platform(
            store,
            tcec_peers(cfg),
            ocpi=OcpiSettings.from_config(cfg),
            tcec_clients=tcec_clients(cfg),
        )
        server = uvicorn.Server(
            uvicorn.Config(
                platform.app(schedule=cfg), host=cfg.server.host, port=cfg.server.port,
                log_level="warning", log_config=None,
            )
        )  # fmt: skip
        out.print(f"chargemesh serving on {cfg.server.base_url} (Ctrl-C stops)")
        # uvicorn shuts down on Ctrl-C, then re-raises the signal: that is the clean way out
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        if not server.started:
            raise fail(f"cannot serve on {cfg.server.host}:{cfg.server.port}", EXIT_RUNTIME)
    out.print("chargemesh stopped")


@app.command("sync")
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

    from chargemesh.api.app import OcpiSettings, Platform, tcec_clients, tcec_peers
    from chargemesh.protocols.http_server import LoopbackServer
    from chargemesh.services.ingest import OcpiSide, sync_all

    cfg = load_config(config)
    ids = [cfg.operator(o).id for o in operator] if operator else [o.id for o in cfg.operators]
    if not ids:
        raise fail(f"{config}: no [[operators]] to sync", EXIT_USAGE)
    with open_store(cfg.store.url) as store:
        platform = Platform(
            store,
            tcec_peers(cfg),
            ocpi=OcpiSettings.from_config(cfg),
            tcec_clients=tcec_clients(cfg),
        )
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

                side = OcpiSide(
                    platform.ocpi_connections, platform.ocpi_locations, platform.ocpi_objects
                )
                coro = sync_all(
                    cfg, store, platform.bus, ocpi=side, operators=ids, progress=advance,
                    parallel=parallel,
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


@ocpi_app.command("invite")
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

    from chargemesh.services.ocpi_connections import OcpiConnections

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


@ocpi_app.command("parties")
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


@geo_app.command("county")
def geo_county(
    lon: Annotated[float, typer.Argument(help="Longitude (GCJ-02 unless --wgs84).")],
    lat: Annotated[float, typer.Argument(help="Latitude.")],
    wgs84: Annotated[bool, typer.Option(help="The point is in WGS-84 (GPS).")] = False,
) -> None:
    """Which county-level unit a point lies in."""
    from chargemesh.geo.coords import wgs84_to_gcj02
    from chargemesh.geo.counties import county_table

    if wgs84:
        lon, lat = wgs84_to_gcj02(lon, lat)
    table = county_table()
    adcode = table.lookup_one(lon, lat)
    county = table.get(adcode) if adcode else None
    if county is None:
        raise fail(f"({lon:.6f}, {lat:.6f}) is in no county-level unit of mainland China", 1)
    out.print(f"{county.adcode} {county.province} {county.city} {county.name}")


@geo_app.command("convert")
def geo_convert(
    lon: Annotated[float, typer.Argument(help="Longitude.")],
    lat: Annotated[float, typer.Argument(help="Latitude.")],
    source: Annotated[str, typer.Option("--from", help="wgs84, gcj02 or bd09.")] = "wgs84",
    target: Annotated[str, typer.Option("--to", help="wgs84 or gcj02.")] = "gcj02",
) -> None:
    """Convert a point between WGS-84, GCJ-02 and BD-09 (lon lat order)."""
    from chargemesh.geo import coords

    conversions: dict[tuple[str, str], Callable[[float, float], tuple[float, float]]] = {
        ("wgs84", "gcj02"): coords.wgs84_to_gcj02,
        ("gcj02", "wgs84"): coords.gcj02_to_wgs84,
        ("bd09", "gcj02"): coords.bd09_to_gcj02,
        ("bd09", "wgs84"): coords.bd09_to_wgs84,
        ("gcj02", "bd09"): coords.gcj02_to_bd09,
    }
    convert = conversions.get((source, target))
    if convert is None:
        pairs = ", ".join(f"{a}->{b}" for a, b in conversions)
        raise fail(f"cannot convert {source} to {target}; supported: {pairs}", EXIT_USAGE)
    x, y = convert(lon, lat)
    out.print(f"{x:.6f} {y:.6f}")


def report_demo_sync(
    results: Sequence[FeedResult], counts: RegistryCounts, url: str, seconds: float
) -> None:
    """What the demo synced; failed feeds named with their errors, and then not "ready": a demo
    missing networks says so plainly."""
    failed = [r for r in results if not r.ok]
    out.print(
        f"synced {len(results) - len(failed)} of {len(results)} feeds: "
        f"{counts.stations:,} stations, {counts.evses:,} EVSEs, "
        f"{counts.connectors:,} connectors ({counts.listings:,} listings across feeds, "
        f"duplicates merged) in {seconds:.0f} s"
    )
    if not failed:
        out.print(f"chargemesh demo ready: {url}  (API docs {url}/docs; Ctrl-C stops)")
        return
    out.print(
        f"[bold red]{len(failed)} of {len(results)} feeds FAILED[/]: their stations are missing "
        f"or out of date on the map (feed health: {url}/api/v1/operators)",
        highlight=False,
    )
    for r in failed:
        out.print(f"  {r.operator_id}: {escape(r.error or 'failed')}", highlight=False)
    out.print(f"chargemesh demo serving, degraded: {url}  (Ctrl-C stops)")


@app.command("demo")
@one_line_errors
def demo(
    scale: Annotated[
        float, typer.Option(min=0.0001, max=2.0, help="1 is the national 1.4 M EVSEs.")
    ] = 0.01,
    port: Annotated[int, typer.Option(min=1, max=65535, help="The platform's port.")] = 8000,
    seed: Annotated[int, typer.Option(help="Seed of the simulated country.")] = 7,
    workdir: Annotated[
        Path, typer.Option(help="Where the manifest and the SQLite store go.")
    ] = Path("chargemesh-demo"),
    run_for: Annotated[
        float | None,
        typer.Option(
            "--run-for",
            hidden=True,
            min=0.0,
            envvar="CHARGEMESH_DEMO_RUN_FOR",
            help="Stop after serving this many seconds (CI runs the README's demo this way).",
        ),
    ] = None,
) -> None:
    """Start the simulated country (its own process, `chargemesh sim`) and the platform, sync
    every feed, and serve; prints the URL. Ctrl-C stops everything."""
    import subprocess
    import sys
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from chargemesh.api.app import OcpiSettings, Platform, tcec_clients, tcec_peers
    from chargemesh.protocols.http_server import LoopbackServer
    from chargemesh.services.ingest import OcpiSide, sync_all

    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    manifest = workdir / "chargemesh.toml"
    truth = workdir / "chargemesh.truth.json"
    for stale in (manifest, truth):
        stale.unlink(missing_ok=True)
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "chargemesh", "sim", "--scale", str(scale), "--seed", str(seed),
        "--manifest", str(manifest), "--platform-url", url, "--faults", "0",
        "--store", f"sqlite:///{workdir / 'chargemesh.db'}",
    ]  # fmt: skip
    started = time.perf_counter()
    log_path = workdir / "sim.log"
    log_file = log_path.open("w", encoding="utf-8")
    sim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log_file)  # noqa: S603
    try:
        with err.status(f"starting the simulated country (scale {scale:g})…"):
            while not truth.exists():
                if sim.poll() is not None:
                    detail = log_path.read_text(encoding="utf-8").strip().splitlines()
                    raise fail(f"the simulator stopped: {detail[-1] if detail else sim.returncode}",
                               EXIT_RUNTIME)  # fmt: skip
                time.sleep(0.1)
        cfg = load_config(manifest)
        with open_store(cfg.store.url) as store:
            platform = Platform(
                store,
                tcec_peers(cfg),
                ocpi=OcpiSettings.from_config(cfg),
                tcec_clients=tcec_clients(cfg),
            )
            # statuses are kept fresh by polling between the operators' pushes (issue 13)
            server = LoopbackServer(platform.app(feeds=cfg), port=port)
            try:
                server.start()
            except RuntimeError:
                raise fail(f"cannot serve on port {port} (in use?)", EXIT_RUNTIME) from None
            try:
                columns = (
                    TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(),
                )  # fmt: skip
                with Progress(*columns, console=err, transient=True) as progress:
                    tasks = {op.id: progress.add_task(op.id, total=None) for op in cfg.operators}

                    def advance(op_id: str, done: int, total: int | None) -> None:
                        progress.update(tasks[op_id], completed=done, total=total or None)

                    side = OcpiSide(
                        platform.ocpi_connections, platform.ocpi_locations, platform.ocpi_objects
                    )
                    results = server.call(
                        sync_all(cfg, store, platform.bus, ocpi=side, progress=advance),
                        timeout_s=24 * 3600,
                    )
                report_demo_sync(results, store.counts(), url, time.perf_counter() - started)
                deadline = None if run_for is None else time.monotonic() + run_for
                while deadline is None or time.monotonic() < deadline:
                    if sim.poll() is not None:
                        raise fail("the simulator stopped", EXIT_RUNTIME)
                    time.sleep(0.2)
            except KeyboardInterrupt:
                pass
            finally:
                server.stop()
    finally:
        if sim.poll() is None:
            sim.terminate()
            try:
                sim.wait(timeout=20)
            except subprocess.TimeoutExpired:
                sim.kill()
        log_file.close()
    out.print("chargemesh demo stopped")


@app.command("sim")
def sim(
    scale: Annotated[
        float,
        typer.Option(
            "--scale", min=0.0001, max=2.0, help="Country size: 1 is the national 1.4 M EVSEs."
        ),
    ] = 0.01,
    manifest: Annotated[
        Path,
        typer.Option(
            "--manifest",
            "-m",
            help="Config file to write for `serve`/`sync` (ground truth: <stem>.truth.json).",
        ),
    ] = Path("sim.toml"),
    seed: Annotated[int, typer.Option(help="Seed of the country, its statuses and faults.")] = 7,
    churn: Annotated[
        float | None,
        typer.Option(
            "--churn",
            min=0.0,
            help="Status changes per second, daily mean (default: ~12 per connector a day).",
            show_default=False,
        ),
    ] = None,
    faults: Annotated[
        float,
        typer.Option(
            "--faults", min=0.0, max=1.0, help="Chance of a fault per listing page (0: none)."
        ),
    ] = 0.002,
    fault_delay: Annotated[
        float,
        typer.Option("--fault-delay", min=0.0, help="Seconds a 'timeout' fault holds a page."),
    ] = 35.0,
    platform_url: Annotated[
        str,
        typer.Option(
            "--platform-url",
            help="Where the platform runs (the manifest's server.public_url); realtime "
            "operators push their status changes there.",
        ),
    ] = "http://127.0.0.1:8000",
    store: Annotated[
        str, typer.Option("--store", help="The store URL written into the manifest.")
    ] = "sqlite:///chargemesh.db",
    host: Annotated[str, typer.Option(help="Interface the operators listen on.")] = "127.0.0.1",
    campaign: Annotated[
        Path | None,
        typer.Option(
            help="Also write the compatibility lab's test campaign (CSV, one row per test "
            "charge, outcomes from the simulated matrix) to this file."
        ),
    ] = None,
    campaign_tests: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Test charges in the campaign.")
    ] = 70_000,
    time_scale: Annotated[
        float,
        typer.Option(
            "--time-scale",
            min=0.01,
            max=3600.0,
            help="How much faster than real time charges run: 1 is real time (120 kW adds 2 kWh "
            "a minute); 60 makes a minute an hour. Operators report times on that clock.",
        ),
    ] = 1.0,
    run_for: Annotated[
        float | None, typer.Option("--run-for", hidden=True, min=0.0, help="Stop after seconds.")
    ] = None,
) -> None:
    """Run only the simulated operators (T/CEC and OCPI servers on loopback, with status churn
    and occasional feed faults) and write the --manifest file, a config `serve` and `sync`
    accept as it is, with the ground truth as JSON beside it. Ctrl-C stops."""
    import logging
    import re
    import signal
    import threading
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from chargemesh.sim.country import generate
    from chargemesh.sim.faults import FaultConfig
    from chargemesh.sim.manifest import truth_path
    from chargemesh.sim.runner import Simulator

    if not re.match(r"^https?://[^/\s]+", platform_url):
        raise fail(
            f"--platform-url {platform_url!r}: must be an http:// or https:// URL", EXIT_USAGE
        )
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("chargemesh.sim").setLevel(logging.INFO)  # faults and pushes, no payloads

    with err.status(f"generating the simulated country (scale {scale:g}, seed {seed})…"):
        started = time.perf_counter()
        country = generate(scale, seed)
        generated = time.perf_counter() - started
    err.print(
        f"country: {country.n_stations:,} stations, {country.n_evses:,} EVSEs, "
        f"{country.n_connectors:,} connectors, {len(country.operators)} operators "
        f"({generated:.1f} s)"
    )
    simulator = Simulator(
        country,
        platform_url=platform_url,
        churn_rate=churn,
        faults=FaultConfig(probability=faults, delay_s=fault_delay, seed=seed),
        host=host,
        arriving_cars=True,  # a driver who starts from the app has plugged a car in
        time_scale=time_scale,
    )
    columns = (
        TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(),
    )  # fmt: skip
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("servers", total=len(country.operators))
            simulator.start(on_started=lambda _: progress.advance(task))
        try:
            path = simulator.write_manifest(manifest, store_url=store)
            table = Table(title="simulated operators")
            table.add_column("operator", no_wrap=True)
            table.add_column("protocol", no_wrap=True)
            table.add_column("url", no_wrap=True, overflow="fold")
            table.add_column("name", overflow="fold")
            for op in simulator.operators:
                table.add_row(op.id, op.dialect or op.protocol, simulator.urls[op.id], op.name)
            out.print(table)
            out.print(f"manifest: {path}")
            out.print(f"ground truth: {truth_path(path)}")
            if campaign is not None:
                from chargemesh.sim.campaign import lab_campaign, write_campaign

                rows = lab_campaign(simulator.compatibility, tests=campaign_tests, seed=seed)
                out.print(f"test campaign: {write_campaign(rows, campaign)} ({len(rows):,} rows)")
            out.print(
                f"churn {simulator.churn.rate:.1f} changes/s (realtime ones pushed to "
                f"{simulator.platform_url}), "
                f"faults {'p=' + format(faults, 'g') if faults else 'off'}; Ctrl-C stops"
            )
            try:
                if run_for is not None:
                    stop.wait(run_for)
                while run_for is None and not stop.wait(1.0):
                    pass  # until Ctrl-C or SIGTERM
            except KeyboardInterrupt:
                pass
        finally:
            with err.status("stopping…"):
                simulator.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    stats = simulator.churn.stats
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(simulator.fault_counts().items()))
    out.print(
        f"stopped: {stats['changes']:,} status changes, {stats['pushed']:,} pushed, "
        f"faults: {kinds or 'none'}"
    )


# The collector's defaults (a young collection every 700 allocations) cost a national sync
# about half its CPU: ingest keeps hundreds of thousands of objects in flight, and each young
# and middle collection walks them again. Fewer, larger collections; what was loaded at start
# (modules, config) is frozen out of them. Measured: scale 0.15 sync, 49 s → 26 s of CPU.
GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


def main() -> None:
    tune_gc()
    app(prog_name="chargemesh")


if __name__ == "__main__":
    main()
