"""chargemesh serve: the platform against the configured operators."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from chargemesh.cli.common import EXIT_RUNTIME, ConfigOption, fail, one_line_errors, out
from chargemesh.config import Config, load_config
from chargemesh.logs import configure_logging

LogJson = Annotated[
    bool, typer.Option("--log-json", help="Log one JSON object per line (as \\[log] format).")
]


@one_line_errors
def serve(config: ConfigOption = Path("chargemesh.toml"), log_json: LogJson = False) -> None:
    """Run the platform against the configured operators: the API, the map, the OCPI and T/CEC
    endpoints, and the feeds synced at start and then on the \\[sync] schedule. Ctrl-C stops it."""
    import uvicorn

    from chargemesh.bootstrap import build_platform
    from chargemesh.protocols.direct_http import DirectHttp

    cfg = load_config(config)
    # on stderr, secrets redacted; the one line below on stdout stays the way to see it serve
    configure_logging("json" if log_json else cfg.log.format, cfg.log.level)
    if cfg.server.workers > 1:
        serve_workers(cfg)
        return
    with build_platform(cfg) as platform:  # feeds synced on schedule, statuses polled
        server = uvicorn.Server(
            uvicorn.Config(
                platform.app(), host=cfg.server.host, port=cfg.server.port,
                log_level="warning", log_config=None, http=DirectHttp,
                access_log=False,  # one line per request is what /metrics counts, cheaper
            )
        )  # fmt: skip
        out.print(f"chargemesh serving on {cfg.server.base_url} (Ctrl-C stops)")
        # uvicorn shuts down on Ctrl-C, then re-raises the signal: that is the clean way out
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        if not server.started:
            raise fail(f"cannot serve on {cfg.server.host}:{cfg.server.port}", EXIT_RUNTIME)
    out.print("chargemesh stopped")


def serve_workers(cfg: Config) -> None:
    """``[server] workers`` processes on the port, the index built once before they start."""
    from chargemesh.runtime.workers import Supervisor, port_free, prepare

    host, port = cfg.server.host, cfg.server.port
    if not port_free(host, port):
        raise fail(f"cannot serve on {host}:{port}", EXIT_RUNTIME)
    index, outbox_from = prepare(cfg)
    out.print(f"chargemesh serving on {cfg.server.base_url} with {cfg.server.workers} workers "
              "(Ctrl-C stops)")  # fmt: skip
    if Supervisor(cfg, index, outbox_from).run() != 0:
        raise fail(f"cannot serve on {host}:{port}", EXIT_RUNTIME)
    out.print("chargemesh stopped")
