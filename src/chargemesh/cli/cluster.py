"""chargemesh cluster: several nodes on one machine behind HAProxy, as docs/deploy.md deploys
them on several — the simulated country, NATS JetStream, a fresh PostgreSQL schema, N
``chargemesh serve`` nodes and the balancer in front; and the HAProxy configuration they share
with production (``deploy/haproxy.cfg.template``, rendered by :func:`haproxy_config`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: the repository's deploy/ folder (the command runs from a source checkout)
DEPLOY: Final = Path(__file__).resolve().parents[3] / "deploy"
TEMPLATE: Final = DEPLOY / "haproxy.cfg.template"


@dataclass(frozen=True, slots=True)
class Node:
    """One chargemesh node as the balancer reaches it: its API and its CSMS (OCPP) port."""

    name: str  # its [cluster] node_id, and its server name in HAProxy
    host: str
    api_port: int
    csms_port: int

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"


def haproxy_config(
    nodes: Sequence[Node],
    *,
    api_bind: str,
    csms_bind: str,
    stats_bind: str,
    maxconn: int = 4096,
    process: Sequence[str] = (),
    csms_tls: bool = False,
    template: Path = TEMPLATE,
) -> str:
    """``template`` for ``nodes``: the bind lines as HAProxy writes them (``127.0.0.1:8000``,
    ``:443 ssl crt /etc/haproxy/certs/chargemesh.pem``); ``process``: global lines such as
    ``user haproxy``; ``csms_tls``: the nodes' CSMS speaks TLS (wss), so its check does too."""
    tls = " check-ssl verify none" if csms_tls else ""
    words = {"MAXCONN": str(maxconn), "API_BIND": api_bind, "CSMS_BIND": csms_bind,
             "STATS_BIND": stats_bind}  # fmt: skip
    blocks = {
        "PROCESS": process,
        "API_SERVERS": [f"server {n.name} {n.host}:{n.api_port} check" for n in nodes],
        "EVENTS_SERVERS": [
            f"server {n.name} {n.host}:{n.api_port} track api/{n.name}" for n in nodes
        ],
        "CSMS_SERVERS": [f"server {n.name} {n.host}:{n.csms_port} check{tls}" for n in nodes],
    }
    text = template.read_text(encoding="utf-8")
    for name, lines in blocks.items():
        text = text.replace(f"@{name}@\n", "".join(f"    {line}\n" for line in lines))
    for name, word in words.items():
        text = text.replace(f"@{name}@", word)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"{template}: unknown placeholders {', '.join(sorted(set(left)))}")
    return text
