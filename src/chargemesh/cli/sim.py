"""chargemesh sim: only the simulated operators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chargemesh.cli.common import EXIT_USAGE, err, fail, out


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
    csms_port: Annotated[
        int,
        typer.Option(
            "--csms-port",
            min=0,
            max=65535,
            help="Port of the platform's CSMS (\\[csms] in the manifest) that the simulated own "
            "chargers (OCPP 1.6J / 2.0.1) keep trying to reach; 0 leaves them out.",
        ),
    ] = 9000,
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
    from collections import Counter

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
        csms_port=csms_port or None,
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
            if simulator.own is not None and simulator.fleet is not None:
                own_kinds = Counter(c.kind for c in simulator.own)
                out.print(
                    f"own network: {len(simulator.own):,} chargers ({own_kinds['supercharger']:,} "
                    f"superchargers, {own_kinds['home']:,} home) connecting to "
                    f"{simulator.fleet.url} (refused until registered)"
                )
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
    if simulator.fleet is not None:
        own = simulator.fleet.stats()
        out.print(
            f"own chargers: {own['boots']:,} boots, {own['refused_401']:,} refused (401), "
            f"{own['charges']:,} charges, {own['drops']:,} dropped connections"
        )
