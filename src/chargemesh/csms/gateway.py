"""The OCPP-J gateway: ``ws(s)://host:port/ocpp/{charge_point_id}``, 1.6J and 2.0.1 on one port
chosen by the websocket subprotocol.

The handshake is where a charger is let in: HTTP Basic auth with its id and password (security
profile 2 over TLS when ``tls_cert``/``tls_key`` are set; profile 1, plain ws, only on a
loopback address or with ``allow_insecure``); an unknown id or a wrong password gets 401 there,
before any OCPP. A newer connection for the same id replaces the older."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import logging
import ssl
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request, Response

from chargemesh.config import CsmsConfig
from chargemesh.csms.chargers import Chargers
from chargemesh.csms.links import Links
from chargemesh.csms.network import CHARGER_ID, password_matches
from chargemesh.metrics import OCPP_CONNECTIONS, OCPP_MESSAGES
from chargemesh.protocols.ocpp.common import lenient
from chargemesh.protocols.ocpp.messages import SUBPROTOCOLS, V16, ChargerSide
from chargemesh.protocols.ocpp.v16 import Charger16
from chargemesh.protocols.ocpp.v201 import Charger201

log = logging.getLogger(__name__)

PATH_PREFIX: Final = "/ocpp/"
MAX_MESSAGE: Final = 256 * 1024
BACKLOG: Final = 4096
OPEN_TIMEOUT_S: Final = 60.0
#: permessage-deflate, which OCPP 2.0.1 asks a CSMS to support, with small windows: the
#: default (15 bits, memLevel 8 on our side) cost ~40 KiB per connection of 62 in all
DEFLATE: Final = ServerPerMessageDeflateFactory(
    server_max_window_bits=11, client_max_window_bits=11, compress_settings={"memLevel": 4}
)


class _Counting:
    """Counts each call a charger makes by its action, for /metrics: only actions the
    charger's version defines (an unknown one is ``other``), so the labels stay bounded."""

    route_map: dict[str, Any]

    async def _handle_call(self, msg: Any) -> Any:
        action = msg.action if msg.action in self.route_map else "other"
        OCPP_MESSAGES.labels(action).inc()
        return await super()._handle_call(msg)  # type: ignore[misc]


class _Counted16(_Counting, Charger16):
    pass


class _Counted201(_Counting, Charger201):
    pass


class CsmsConfigError(Exception):
    """The CSMS cannot start as configured (e.g. plain ws on a public address)."""


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(config: CsmsConfig) -> ssl.SSLContext | None:
    """The server's TLS (security profile 2), or None for plain ws — which is refused unless
    the CSMS listens on loopback or the config allows it."""
    if config.tls_cert is not None and config.tls_key is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(config.tls_cert, config.tls_key)
        return context
    if not (_loopback(config.host) or config.allow_insecure):
        raise CsmsConfigError(
            f"[csms] would accept chargers' passwords over plain ws on {config.host}: set "
            "tls_cert and tls_key (wss, security profile 2), listen on a loopback address, or "
            "set allow_insecure = true"
        )
    return None


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        text = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = text.partition(":")
    return (user, password) if sep else None


class Gateway:
    def __init__(
        self,
        config: CsmsConfig,
        chargers: Chargers,
        links: Links,
        side: ChargerSide,
        *,
        on_message: Callable[[str], None],
        on_closed: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.chargers = chargers
        self.links = links
        self.side = side
        self.on_message = on_message
        self.on_closed = on_closed
        self.lenient = {m.lower() for m in config.lenient_models}
        self._server: Server | None = None
        self.refused = 0  # handshakes refused (for tests and metrics)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(next(iter(self._server.sockets)).getsockname()[1])

    async def start(self) -> None:
        context = tls_context(self.config)
        self._server = await serve(
            self._connected, self.config.host, self.config.port, ssl=context,
            subprotocols=list(SUBPROTOCOLS),  # type: ignore[arg-type]
            process_request=self._handshake, max_size=MAX_MESSAGE, ping_interval=60,
            ping_timeout=60, server_header="chargemesh", extensions=[DEFLATE], compression=None,
            # a reconnect storm: the kernel's queue holds what the loop has not accepted yet
            # (asyncio's default of 100 dropped 150k SYNs of 20,000 chargers), and a handshake
            # waiting its turn is not cut off after websockets' 10 s
            backlog=BACKLOG, open_timeout=OPEN_TIMEOUT_S, ssl_handshake_timeout=OPEN_TIMEOUT_S
            if context else None,
        )  # fmt: skip
        log.info("CSMS listening on %s://%s:%d/ocpp", "wss" if context else "ws",
                 self.config.host, self.port)  # fmt: skip

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 10)
            self._server = None

    # --- the handshake ---------------------------------------------------------------------
    @staticmethod
    def charger_id(path: str) -> str | None:
        path = path.split("?", 1)[0]
        if not path.startswith(PATH_PREFIX):
            return None
        cid = unquote(path[len(PATH_PREFIX) :].rstrip("/"))
        return cid if CHARGER_ID.match(cid) else None

    def _refuse(self, connection: ServerConnection, status: HTTPStatus, text: str) -> Response:
        self.refused += 1
        response = connection.respond(status, text + "\n")
        if status is HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Basic realm="chargemesh CSMS"'
        return response

    async def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        cid = self.charger_id(request.path)
        if cid is None:
            return self._refuse(
                connection, HTTPStatus.NOT_FOUND, "connect to /ocpp/{charge_point_id}"
            )
        given = basic_credentials(request.headers.get("Authorization"))
        if given is None or given[0] != cid:
            return self._refuse(connection, HTTPStatus.UNAUTHORIZED,
                                "HTTP Basic auth with the charger's id and password")  # fmt: skip
        charger = await self.chargers.get(cid, fresh=True)
        if charger is None or not password_matches(charger.password_hash, given[1]):
            return self._refuse(
                connection, HTTPStatus.UNAUTHORIZED, "unknown charger or wrong password"
            )
        return None

    # --- a connection ------------------------------------------------------------------------
    async def _connected(self, socket: ServerConnection) -> None:
        cid = self.charger_id(socket.request.path if socket.request else "")
        if cid is None or socket.subprotocol is None:
            await socket.close(1002, "subprotocol required: ocpp1.6 or ocpp2.0.1")
            return
        charger = await self.chargers.get(cid)
        kind = _Counted16 if socket.subprotocol == V16 else _Counted201
        link = kind(cid, _Counted(socket, cid, self.on_message), self.side)
        if charger is not None and f"{charger.vendor}/{charger.model}".lower() in self.lenient:
            link.route_map = lenient(link.route_map)
        await self.links.attach(link, socket)
        OCPP_CONNECTIONS.inc()
        self.on_message(cid)
        try:
            await link.start()
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("charger %s: connection failed", cid)
        finally:
            OCPP_CONNECTIONS.dec()
            if self.links.detach(link) and self.on_closed is not None:
                self.on_closed(cid)


class _Counted:
    """The socket as the ocpp library sees it (``send``/``recv``), noting each message's
    arrival so the silence watchdog knows the charger lives."""

    def __init__(self, socket: ServerConnection, charger_id: str,
                 on_message: Callable[[str], None]) -> None:  # fmt: skip
        self.socket = socket
        self.charger_id = charger_id
        self.on_message = on_message

    async def recv(self) -> Any:
        message = await self.socket.recv()
        self.on_message(self.charger_id)
        return message

    async def send(self, message: Any) -> None:
        await self.socket.send(message)
