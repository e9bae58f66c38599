"""What several benchmarks need: a free port, a process's CPU and memory from ``/proc``, the
machine's CPU, and a fresh store to write into. Linux only."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a running process (``None`` once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def machine_s() -> float:
    """CPU seconds every process on the machine has used (all cores, idle and iowait left out)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / TICK


def status_mb(pid: int, key: str) -> float | None:
    """``VmRSS`` or ``VmHWM`` of a running process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a supervisor and its worker processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with suppress(OSError):
                todo.extend(int(c) for c in task.read_text().split())
    return found


def pss_mb(pid: int) -> float | None:
    """Proportional set size: the process's own pages plus its share of pages it shares (a
    forked worker's inherited index counts once over the workers), in MB."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


@contextmanager
def store_url(kind: str, tmp: Path, postgres_url: str, name: str) -> Iterator[str]:
    """A fresh store called ``name``: SQLite in ``tmp``, or a schema of its own on
    PostgreSQL, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'{name}.db'}"
        return
    import psycopg

    schema = f"bench_{name}_{os.getpid()}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in postgres_url else "?"
        try:
            yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
