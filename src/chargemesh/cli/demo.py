"""chargemesh demo: the simulated country and the platform, synced and serving."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from chargemesh.cli.common import EXIT_RUNTIME, err, fail, one_line_errors, out
from chargemesh.config import Config, load_config

if TYPE_CHECKING:
    from chargemesh.bootstrap import Platform
    from chargemesh.services.feeds.ingest import FeedResult
    from chargemesh.store.repository import RegistryCounts

#: the demo's driver (made on the first run in a folder, kept after) and the car it drives
DEMO_EMAIL = "driver@demo.example"
DEMO_PASSWORD = "demo-charge-2026"  # noqa: S105 - a local demo's, printed for the user
DEMO_VIN_BODY = "LYCAS7E10RD000001"  # 曜川 Aster; its 9th character is made the check digit
DEMO_EMAID_BODY = "CNCMHD00000001"  # ISO 15118 contract id, before its check character
DEMO_KEY_NAME = "demo"


def demo_sign_ins(platform: Platform) -> str:
    """The demo driver (with a car, plug-and-charge on where a network offers it) and a new
    ops key; the key's previous demo keys are revoked. Returns the new key (shown once)."""
    import contextlib
    from datetime import UTC, datetime

    from chargemesh.domain.vehicle_ids import emaid_with_check_character, vin_with_check_digit
    from chargemesh.services.charging.vehicles import (
        Refused,
        register_vehicle,
        switch_plug_and_charge,
    )

    store = platform.store
    account = store.account_by_email(DEMO_EMAIL)
    if account is None:
        account = platform.accounts.register(DEMO_EMAIL, DEMO_PASSWORD)
    vin = vin_with_check_digit(DEMO_VIN_BODY)
    car = store.vehicle_by_vin(vin)
    if car is None:
        emaid = emaid_with_check_character(DEMO_EMAID_BODY)
        car = register_vehicle(store, account.id, vin, "yc-aster", emaid)
    with contextlib.suppress(Refused):  # no network of this country offers plug-and-charge
        switch_plug_and_charge(
            store.unit_of_work(), store.list_operators(), account.id, car.id, True,
            datetime.now(UTC),
        )  # fmt: skip
    platform.ops_keys.revoke(DEMO_KEY_NAME)
    _kept, key = platform.ops_keys.create(DEMO_KEY_NAME)
    return key


def with_firmware_signing(cfg: Config, keys: Path) -> Config:
    """``cfg`` with a firmware signing key for its CSMS (made in ``keys`` on the first run, kept
    for the next), so the demo's own chargers take signed updates (docs/firmware.md)."""
    from chargemesh.services.firmware.signing import CERT_FILE, KEY_FILE, make_signing_key

    if cfg.csms is None:
        return cfg
    if not (keys / KEY_FILE).exists():
        make_signing_key(keys, "chargemesh demo firmware signing")
    signing = {"firmware_signing_key": keys / KEY_FILE, "firmware_signing_cert": keys / CERT_FILE}
    return cfg.model_copy(update={"csms": cfg.csms.model_copy(update=signing)})


def register_own_network(url: str, key: str, truth: Path) -> str:
    """The simulated own chargers registered through the ops API (their home owners signed up
    first), as an operations team would; a line saying what was registered."""
    import asyncio
    import json

    from chargemesh.cli.chargers import import_chargers

    data = json.loads(truth.read_text(encoding="utf-8"))
    chargers, owners = data.get("own_chargers") or [], data.get("own_drivers") or []
    if not chargers:
        return "own network: none in this country"
    result = asyncio.run(import_chargers(url, key, chargers, owners))
    supers = sum(1 for c in chargers if c.get("kind") == "supercharger")
    line = (
        f"own network: {supers} superchargers and {len(chargers) - supers} home chargers "
        f"registered ({result.existing} already were), connecting over OCPP"
    )
    if result.refused:
        line += f"; {len(result.refused)} refused: {result.refused[0]}"
    return line


def own_online(platform: Platform, timeout_s: float = 60.0) -> tuple[int, int] | None:
    """Wait until (nearly) every registered own charger holds its connection — they retry
    with a back-off after the 401s they met before their registration — then (online, all)."""
    import time

    if platform.csms is None:
        return None
    expected = len(platform.store.own_chargers())
    deadline = time.monotonic() + timeout_s
    with err.status("own chargers connecting over OCPP…"):
        while len(platform.csms.links) < expected and time.monotonic() < deadline:
            time.sleep(0.5)
    return len(platform.csms.links), expected


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def report_demo_sync(
    results: Sequence[FeedResult],
    counts: RegistryCounts,
    url: str,
    seconds: float,
    ops_key: str | None = None,
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
    if ops_key is not None:
        out.print(
            f"driver sign-in (the app at {url}, or POST {url}/api/v1/auth/token): "
            f"{DEMO_EMAIL} / {DEMO_PASSWORD}",
            highlight=False,
        )
        out.print(f"ops key (Authorization: Bearer, {url}/api/v1/ops/...): {ops_key}",
                  highlight=False, soft_wrap=True)  # fmt: skip
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


@one_line_errors
def demo(
    scale: Annotated[
        float, typer.Option(min=0.0001, max=2.0, help="1 is the national 1.4 M EVSEs.")
    ] = 0.01,
    port: Annotated[int, typer.Option(min=1, max=65535, help="The platform's port.")] = 8000,
    csms_port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="The CSMS's port (default: a free one).", show_default=False
        ),
    ] = None,
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

    from chargemesh.bootstrap import build_platform
    from chargemesh.protocols.http_server import LoopbackServer
    from chargemesh.services.feeds.ingest import sync_all

    csms_port = free_port() if csms_port is None else csms_port
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
        "--store", f"sqlite:///{workdir / 'chargemesh.db'}", "--csms-port", str(csms_port),
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
        cfg = with_firmware_signing(load_config(manifest), workdir / "keys")
        # statuses are kept fresh by polling between the operators' pushes (issue 13); the
        # demo syncs once itself, below
        with build_platform(cfg, scheduled_syncs=False) as platform:
            store = platform.store
            server = LoopbackServer(platform.app(), port=port)
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

                    results = server.call(
                        sync_all(
                            cfg, store, platform.relay, ocpi=platform.ocpi_side, progress=advance
                        ),
                        timeout_s=24 * 3600,
                    )
                key = demo_sign_ins(platform)
                out.print(register_own_network(url, key, truth), highlight=False)
                connected = own_online(platform)
                if connected is not None:
                    out.print(f"own chargers online: {connected[0]} of {connected[1]}")
                report_demo_sync(
                    results, store.counts(), url, time.perf_counter() - started, ops_key=key
                )
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
