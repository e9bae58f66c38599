"""Several worker processes serving one port (``[server] workers = N``).

One Python process answers on one core. With ``workers`` above 1, ``chargemesh serve`` is a
supervisor:

1. It opens the store (migrating it), notes the outbox's end and builds the stations index
   once, then closes the store. Nothing else runs yet: no threads, no connections, no loop.
2. It forks the workers. Each binds the port with ``SO_REUSEPORT`` (the kernel spreads the
   connections over them) and runs the whole platform over its own store connection, with the
   index it inherited: the national segment's arrays are the supervisor's pages, shared
   copy-on-write (``gc.freeze`` keeps the collector from touching them), so N workers do not
   hold N indexes. Only what a worker changes becomes its own: the pages of the status arrays
   its events touch, and the small segments of stations added or changed since.
3. Each worker's own commits reach its bus at once (its relay); the others' reach it through
   the shared outbox (:class:`~chargemesh.events.tail.OutboxTail`, every 20 ms), as another
   node's events reach a node of a cluster. So every worker's index applies every status,
   and a driver's event stream hears every worker's session updates.
4. One worker leads (the syncs, timeouts, the status refresher): on SQLite the one holding the
   lock file beside the database (``<db>.leader``), on PostgreSQL the advisory lock's holder.
5. A worker that dies is started again (its index built anew from the store: the copy the
   supervisor holds is as old as the start). Ctrl-C or SIGTERM stops them all.

What stays per process: rate-limit buckets (a caller spread over N workers may get up to N
times its rate), ``/metrics`` (each answer is one worker's counters), the OCPI token cache
(rechecked every second). ``[csms]`` and ``[bus]`` need one process per node (config.py says why).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from chargemesh.config import Config
from chargemesh.search.index import StationIndex

log = logging.getLogger(__name__)

EXIT_CANNOT_BIND = 98  # a worker could not listen: the supervisor gives up
RESTART_PAUSE_S = 1.0  # a worker that died within STARTING_S is started again after this
STARTING_S = 10.0


@dataclass(frozen=True, slots=True)
class WorkerSeat:
    """One worker's place among the workers."""

    number: int  # 0 … count - 1
    count: int
    index: StationIndex | None  # built before the fork; None: the worker builds its own
    outbox_from: int  # the outbox's end before the index was built: the others' events after
    lock_file: Path | None  # SQLite: the leadership lock

    @property
    def relay_name(self) -> str:
        """Worker 0 keeps the single process's relay (its backlog published on start)."""
        return "local" if self.number == 0 else f"local-w{self.number}"


def sqlite_lock_file(store_url: str, base_dir: Path | None = None) -> Path | None:
    """The leadership lock beside a SQLite database (None on PostgreSQL)."""
    if not store_url.startswith("sqlite:///"):
        return None
    path = Path(store_url.removeprefix("sqlite:///"))
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    return path.with_name(path.name + ".leader")


def prepare(config: Config) -> tuple[StationIndex, int]:
    """The index, built once for every worker, and the outbox's end before it was built."""
    from chargemesh.store import open_store

    store = open_store(config.store.url)
    try:
        outbox_from = store.outbox_end()
        index = StationIndex(store)
        index.build()
    finally:
        store.close()
    return index, outbox_from


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket on the port shared with the other workers (the kernel balances connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def run_worker(config: Config, seat: WorkerSeat) -> int:
    """In the forked child: the platform over its own store connection, on the shared port."""
    import uvicorn

    from chargemesh.bootstrap import build_platform
    from chargemesh.protocols.direct_http import DirectHttp

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)  # uvicorn installs its own while it serves
    try:
        sock = listening_socket(config.server.host, config.server.port)
    except OSError as exc:
        log.error("worker %d cannot listen on %s:%d: %s", seat.number, config.server.host,
                  config.server.port, exc)  # fmt: skip
        return EXIT_CANNOT_BIND
    with build_platform(config, worker=seat) as platform:
        server = uvicorn.Server(
            uvicorn.Config(
                platform.app(),
                log_level="warning",
                log_config=None,
                access_log=False,
                http=DirectHttp,
            )
        )
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    return 0


class Supervisor:
    """Forks the workers, starts again one that dies, stops them all on SIGINT/SIGTERM."""

    def __init__(self, config: Config, index: StationIndex, outbox_from: int) -> None:
        self.config = config
        self.index = index
        self.outbox_from = outbox_from
        self.lock_file = sqlite_lock_file(config.store.url)
        self.children: dict[int, tuple[int, float]] = {}  # pid → (worker number, started)
        self.stopping = False

    def fork(self, number: int, *, first: bool) -> None:
        seat = WorkerSeat(
            number=number, count=self.config.server.workers,
            index=self.index if first else None, outbox_from=self.outbox_from,
            lock_file=self.lock_file,
        )  # fmt: skip
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                code = run_worker(self.config, seat)
            except BaseException:
                log.exception("worker %d failed", number)
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = (number, time.monotonic())

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def run(self) -> int:
        """Until every worker has stopped; 0, or EXIT_CANNOT_BIND if the port was lost."""
        gc.collect()
        gc.freeze()  # what the workers inherit stays out of the collector's sight (and unwritten)
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for number in range(self.config.server.workers):
                self.fork(number, first=True)
            code = 0
            while self.children:
                try:
                    pid, status = os.wait()
                except ChildProcessError:
                    break
                except InterruptedError:
                    continue
                number, started = self.children.pop(pid, (-1, 0.0))
                if number < 0:
                    continue
                exit_code = os.waitstatus_to_exitcode(status)
                if exit_code == EXIT_CANNOT_BIND:
                    code = EXIT_CANNOT_BIND
                    self._stop(signal.SIGTERM, None)
                if self.stopping:
                    continue
                log.error("worker %d (pid %d) ended with %d: starting it again", number, pid,
                          exit_code)  # fmt: skip
                if time.monotonic() - started < STARTING_S:
                    time.sleep(RESTART_PAUSE_S)
                self.fork(number, first=False)
            return code
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
