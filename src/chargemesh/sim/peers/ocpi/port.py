"""What the CPO's command handlers and its charging may use of the server, and the shape of a
command handler.

The server (:class:`~.server.OcpiCpoServer`) answers the commands receiver from a table,
``server.commands``: one :class:`CommandHandler` per :class:`CommandType` it really carries out
(the charging side, :class:`~.sessions.CpoCharging`, brings START_SESSION and STOP_SESSION). A
handler sees the server only through :class:`CpoPort` — the CPO's data and its calls to the
registered eMSP — never the server object itself, so the modules import one way:
``server → sessions → port, data``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
from pydantic import BaseModel

from chargemesh.protocols.ocpi.enums import (
    CommandResponseType,
    CommandResultType,
    CommandType,
    TokenType,
)
from chargemesh.protocols.ocpi.enums import Status as EvseStatus
from chargemesh.protocols.ocpi.models import (
    AuthorizationInfo,
    Cdr,
    Location,
    LocationReferences,
    Session,
)
from chargemesh.protocols.ocpi.transport import StatusCode
from chargemesh.sim.peers.ocpi.data import CpoData

__all__ = ["CommandHandler", "CommandRefusal", "CpoPort"]


@dataclass(frozen=True, slots=True)
class CommandRefusal:
    """An immediate CommandResponse other than ACCEPTED, with its OCPI status code."""

    result: CommandResponseType
    message: str
    status_code: StatusCode = StatusCode.SUCCESS


@dataclass(frozen=True, slots=True)
class CommandHandler:
    """One command carried out for real: ``check`` gives the immediate answer when it is not
    ACCEPTED (``None``: accepted); ``run`` is what follows an ACCEPTED answer, on the server's
    event loop (it sends the CommandResult itself, through :meth:`CpoPort.send_command_result`).
    Both get the parsed body (the command's model in ``COMMAND_MODELS``)."""

    check: Callable[[BaseModel], CommandRefusal | None]
    run: Callable[[BaseModel], Coroutine[Any, Any, None]]


class CpoPort(Protocol):
    """The CPO as its handlers see it: its data, the delay before a CommandResult, and the calls
    to the registered eMSP. Each call raises ``RuntimeError`` when no eMSP is registered (before
    anything changes) and :class:`~chargemesh.protocols.ocpi.client.OcpiPeerError` when the eMSP
    refuses or cannot be reached; ``http`` is the client to call with (default the server's)."""

    @property
    def network(self) -> CpoData: ...

    @property
    def command_delay_s(self) -> float: ...

    async def send_command_result(
        self,
        kind: CommandType,
        response_url: str,
        outcome: CommandResultType,
        message: str | None = None,
    ) -> bool: ...

    async def push_evse_status(
        self,
        location_id: str,
        evse_uid: str,
        status: EvseStatus | str,
        at: datetime,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> Location: ...

    async def put_session(
        self, session: Session, *, http: httpx.AsyncClient | None = None
    ) -> None: ...

    async def patch_session(
        self,
        session_id: str,
        patch: Mapping[str, Any],
        *,
        http: httpx.AsyncClient | None = None,
    ) -> Session: ...

    async def post_cdr(self, cdr: Cdr, *, http: httpx.AsyncClient | None = None) -> str: ...

    async def authorize(
        self,
        token_uid: str,
        token_type: TokenType | str | None = None,
        location: LocationReferences | None = None,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> AuthorizationInfo: ...
