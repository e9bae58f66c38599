"""A full national sync through the protocols: the simulated country in one process, the
platform's ``chargemesh sync`` in another, timed wall-clock, with the sync's peak RSS.

1. ``chargemesh sim --scale S --faults 0 --churn 0`` starts the 26 operators' loopback servers
   in its own process and writes the manifest (``sim.toml``) and its ground truth; we wait for
   both (generation and start-up are timed separately, not part of the sync).
2. ``chargemesh sync --config sim.toml`` runs as a child process: every feed in parallel
   (``--parallel``, the command's default 8), then the cross-feed merge, then it exits. Its
   wall-clock time, CPU time and peak RSS (``wait4``'s ``ru_maxrss``: the platform process's
   own, not the simulator's) are measured; the CPU use of both processes is sampled every
   second from ``/proc`` to show which one is the bottleneck.
3. The store is opened afterwards for the registry counts, each feed's health and what each
   operator holds, checked against the simulator's ground truth.

Issue target at ``--scale 1`` (≈ 1.4 M EVSEs): ≤ 5 minutes, ≤ 2 GB peak RSS for the platform.

    python bench/bench_national_sync.py [--scale 1] [--store sqlite|postgres] [--parallel 8]

Run by hand; it prints figures and asserts nothing about speed. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from benchlib import cpu_s, free_port, machine_s, status_mb, store_url
from chargemesh.store import open_store

DEFAULT_PG = os.environ.get("CHARGEMESH_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
TARGET_S, TARGET_MB = 300.0, 2048.0


@contextmanager
def simulator(scale: float, seed: int, tmp: Path, port: int, url: str) -> Iterator[SimProcess]:
    """``chargemesh sim`` in its own process, up and its manifest written; stopped after."""
    manifest = tmp / "sim.toml"
    truth_file = tmp / "sim.truth.json"
    log = (tmp / "sim.log").open("w", encoding="utf-8")
    command = [
        sys.executable, "-m", "chargemesh", "sim", "--scale", str(scale), "--seed", str(seed),
        "--faults", "0", "--churn", "0", "--manifest", str(manifest),
        "--platform-url", f"http://127.0.0.1:{port}", "--store", url,
        "--csms-port", "0",  # the partner networks' sync alone: no own chargers dialling in
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    try:
        truth: dict[str, Any] | None = None
        while truth is None:
            if proc.poll() is not None:
                lines = (tmp / "sim.log").read_text(encoding="utf-8").strip().splitlines()
                sys.exit(f"the simulator stopped: {lines[-1] if lines else proc.returncode}")
            if truth_file.exists():
                try:  # written after the manifest, and not atomically
                    truth = json.loads(truth_file.read_text(encoding="utf-8"))
                except ValueError:
                    truth = None
            if truth is None:
                time.sleep(0.1)
        yield SimProcess(proc, manifest, truth, time.perf_counter() - started)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


@dataclass
class SimProcess:
    proc: subprocess.Popen[bytes]
    manifest: Path
    truth: dict[str, Any]
    startup_s: float


@dataclass
class SyncRun:
    seconds: float
    exit_code: int
    cpu_s: float
    peak_rss_mb: float
    sim_cpu_s: float
    sim_rss_before_mb: float
    sim_rss_after_mb: float
    sim_hwm_mb: float
    others_cpu_s: float  # CPU other processes on the machine used meanwhile
    # (elapsed s, sync %CPU, simulator %CPU, others' %CPU, sync RSS MB) per sampling interval
    samples: list[tuple[float, ...]] = field(default_factory=list)


def run_sync(sim: SimProcess, parallel: int, out: TextIO, err: TextIO) -> SyncRun:
    """``chargemesh sync`` as a child process, sampled every ``interval`` s until it exits."""
    sim_pid = sim.proc.pid
    sim_rss_before = status_mb(sim_pid, "VmRSS") or 0.0
    sim_cpu0 = cpu_s(sim_pid) or 0.0
    machine0 = machine_s()
    command = [
        sys.executable, "-m", "chargemesh", "sync", "--config", str(sim.manifest),
        "--parallel", str(parallel),
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "120"}
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
    samples: list[tuple[float, ...]] = []
    last_t, last_sync, last_sim, last_machine = started, 0.0, sim_cpu0, machine0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        now = time.perf_counter()
        if pid:
            break
        if now - last_t >= 1.0:
            sync_cpu, sim_cpu, machine = cpu_s(proc.pid), cpu_s(sim_pid), machine_s()
            if sync_cpu is not None and sim_cpu is not None:
                dt = now - last_t
                sync_d, sim_d = sync_cpu - last_sync, sim_cpu - last_sim
                samples.append((
                    now - started,
                    100 * sync_d / dt,
                    100 * sim_d / dt,
                    max(0.0, 100 * (machine - last_machine - sync_d - sim_d) / dt),
                    status_mb(proc.pid, "VmRSS") or 0.0,
                ))  # fmt: skip
                last_t, last_sync, last_sim, last_machine = now, sync_cpu, sim_cpu, machine
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    machine = machine_s() - machine0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4
    sync_cpu = usage.ru_utime + usage.ru_stime
    sim_cpu = (cpu_s(sim_pid) or sim_cpu0) - sim_cpu0
    return SyncRun(
        seconds=seconds,
        exit_code=proc.returncode,
        cpu_s=sync_cpu,
        peak_rss_mb=usage.ru_maxrss / 1024,
        sim_cpu_s=sim_cpu,
        others_cpu_s=max(0.0, machine - sync_cpu - sim_cpu),
        sim_rss_before_mb=sim_rss_before,
        sim_rss_after_mb=status_mb(sim_pid, "VmRSS") or 0.0,
        sim_hwm_mb=status_mb(sim_pid, "VmHWM") or 0.0,
        samples=samples,
    )


def timeline(samples: list[tuple[float, ...]], rows: int = 12) -> None:
    """The samples, averaged into about ``rows`` windows (the RSS: the window's largest)."""
    if not samples:
        return
    size = max(1, -(-len(samples) // rows))
    print("  elapsed   sync %CPU   sim %CPU   others %CPU   sync RSS MB")
    for i in range(0, len(samples), size):
        chunk = samples[i : i + size]
        mean = [sum(c[k] for c in chunk) / len(chunk) for k in (1, 2, 3)]
        print(
            f"  {chunk[-1][0]:6.0f} s   {mean[0]:8.0f}   {mean[1]:8.0f}   {mean[2]:11.0f}   "
            f"{max(c[4] for c in chunk):11,.0f}"
        )


def report(url: str, sim: SimProcess, run: SyncRun, sync_out: str) -> None:
    truth = sim.truth
    with open_store(url) as store:
        counts = store.counts()
        health = store.feed_health()
        by_op = store.counts_by_operator()
    print(sync_out.rstrip())
    listed, distinct = truth["listed"], truth["distinct"]
    print(
        f"registry: {counts.stations:,} stations, {counts.evses:,} EVSEs, "
        f"{counts.connectors:,} connectors, {counts.operators} operators "
        f"(simulator lists {listed['stations']:,} / {listed['evses']:,} / "
        f"{listed['connectors']:,}; distinct {distinct['stations']:,} / {distinct['evses']:,} / "
        f"{distinct['connectors']:,})"
    )
    print(
        f"{'feed':<12} {'state':<7} {'records':>9} {'seconds':>8} {'stations':>9} {'EVSEs':>9} "
        f"{'connectors':>10}  vs truth"
    )
    for op_id, want in truth["operators"].items():
        h = health.get(op_id)
        got = by_op.get(op_id)
        have = (got.stations, got.evses, got.connectors) if got else (0, 0, 0)
        expect = (want["stations"], want["evses"], want["connectors"])
        check = "ok" if have == expect else "expected " + " / ".join(f"{n:,}" for n in expect)
        print(
            f"{op_id:<12} {h.state if h else '-':<7} {h.records if h else 0:>9,} "
            f"{(h.duration_s or 0) if h else 0:>8.1f} {have[0]:>9,} {have[1]:>9,} "
            f"{have[2]:>10,}  {check}" + (f"  error: {h.last_error}" if h and h.last_error else "")
        )
    longest = max((h.duration_s or 0.0 for h in health.values()), default=0.0)
    print(
        f"sync: {run.seconds:.1f} s wall-clock (exit {run.exit_code}; longest feed "
        f"{longest:.1f} s, the rest is start-up, the merge and exit), "
        f"{counts.evses / run.seconds:,.0f} EVSEs/s, {counts.stations / run.seconds:,.0f} "
        f"stations/s; target ≤ {TARGET_S:.0f} s: {'met' if run.seconds <= TARGET_S else 'MISSED'}"
    )
    print(
        f"sync process: peak RSS {run.peak_rss_mb:,.0f} MB (target ≤ {TARGET_MB:,.0f} MB: "
        f"{'met' if run.peak_rss_mb <= TARGET_MB else 'MISSED'}), CPU {run.cpu_s:.1f} s "
        f"= {100 * run.cpu_s / run.seconds:.0f}% of one core"
    )
    print(
        f"simulator process: RSS {run.sim_rss_before_mb:,.0f} MB before the sync, "
        f"{run.sim_rss_after_mb:,.0f} MB after (peak {run.sim_hwm_mb:,.0f} MB), CPU during "
        f"the sync {run.sim_cpu_s:.1f} s = {100 * run.sim_cpu_s / run.seconds:.0f}% of one core "
        f"({os.cpu_count()} cores on this machine; other processes used "
        f"{100 * run.others_cpu_s / run.seconds:.0f}% of one core meanwhile)"
    )
    timeline(run.samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--parallel", type=int, default=8, help="feeds synced at the same time")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        port = free_port()
        with (
            store_url(args.store, tmp, args.postgres_url, "national") as url,
            simulator(args.scale, args.seed, tmp, port, url) as sim,
        ):
            listed = sim.truth["listed"]
            print(
                f"simulator (scale {args.scale:g}, pid {sim.proc.pid}): {listed['stations']:,} "
                f"stations, {listed['evses']:,} EVSEs, {listed['connectors']:,} connectors, "
                f"{len(sim.truth['operators'])} operators; generated and serving in "
                f"{sim.startup_s:.1f} s, RSS {status_mb(sim.proc.pid, 'VmRSS') or 0:,.0f} MB"
            )
            print(f"syncing into {args.store} (sync output in {tmp}) …", flush=True)
            with (
                (tmp / "sync.out").open("w", encoding="utf-8") as out,
                (tmp / "sync.err").open("w", encoding="utf-8") as err,
            ):
                run = run_sync(sim, args.parallel, out, err)
            sync_out = (tmp / "sync.out").read_text(encoding="utf-8")
            if run.exit_code != 0:
                tail = (tmp / "sync.err").read_text(encoding="utf-8").strip().splitlines()[-5:]
                print(f"sync exited {run.exit_code}:", *tail, sep="\n  ")
            report(url, sim, run, sync_out)


if __name__ == "__main__":
    main()
