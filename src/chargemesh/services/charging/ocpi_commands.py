"""OCPI Commands, sent by us: START_SESSION, STOP_SESSION, RESERVE_NOW, CANCEL_RESERVATION and
UNLOCK_CONNECTOR, each answered at once with a CommandResponse and later, asynchronously, with a
CommandResult POSTed to the ``response_url`` we gave.

Each command gets its own ``response_url`` (``…/commands/{COMMAND}/{uid}``). We wait for the
result for the ``timeout`` the CPO announced (at least ``min_wait_s``); with none by then the
command is reported as timed out (the spec: no retries, treat it as lost). A result that comes
later is still accepted and recorded — peers do send late ``FAILED`` results.

A result is an event: whichever process the CPO POSTs it to keeps it with an
``OcpiCommandResult`` in one unit of work (the command's owner found in the store, where each
command sent is recorded), and the sender waits on a waiter keyed by the command's uid that the
event feeds (:meth:`CommandSender.on_result`, in the handler table), not on a future only the
receiving process could complete.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel

from chargemesh.domain.events import OcpiCommandResult
from chargemesh.events.relay import OutboxRelay
from chargemesh.protocols.ocpi.client import OcpiPeerError
from chargemesh.protocols.ocpi.enums import CommandResponseType, CommandType
from chargemesh.protocols.ocpi.models import CommandResult, dump, parse
from chargemesh.protocols.ocpi.transport import OcpiError
from chargemesh.services.feeds.ocpi_connections import OcpiConnections, _find
from chargemesh.store import Store
from chargemesh.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

INBOX_RESULT: Final = "command_result"
INBOX_SENT: Final = "command_sent"  # whose command a uid is, for any process a result reaches
LATE_KEPT: Final = 10_000


@dataclass(slots=True)
class CommandOutcome:
    """What became of one command. ``result`` is the CommandResult's (``None`` when none came
    in time: ``timed_out``), ``response`` the CPO's immediate answer."""

    uid: str
    command: CommandType
    party_id: str
    response: str | None = None
    result: str | None = None
    timed_out: bool = False
    message: str | None = None
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def accepted(self) -> bool:
        return self.result == "ACCEPTED"


@dataclass(slots=True)
class _Pending:
    outcome: CommandOutcome
    done: asyncio.Future[OcpiCommandResult]


class CommandSender:
    def __init__(
        self,
        connections: OcpiConnections,
        store: Store,
        relay: OutboxRelay,
        *,
        callback_base: str,
        min_wait_s: float = 1.0,
        max_wait_s: float = 300.0,
    ) -> None:
        self._connections = connections
        self._store = store
        self._relay = relay
        self._callback_base = callback_base.rstrip("/")
        self._min_wait_s = min_wait_s
        self._max_wait_s = max_wait_s
        self._pending: dict[str, _Pending] = {}
        # Commands no longer awaited, so a late result is still taken (bounded, oldest out).
        self._late: OrderedDict[str, str] = OrderedDict()

    def response_url(self, command: CommandType, uid: str) -> str:
        return f"{self._callback_base}/{command.value}/{uid}"

    async def send(
        self, party_id: str, command: CommandType, fields: dict[str, Any], *, model: type[BaseModel]
    ) -> CommandOutcome:
        """Send ``command`` (``fields`` without ``response_url``) and wait for its result."""
        party = await self._connections.party(party_id)
        if party is None or not party.registered or party.token_out is None:
            raise OcpiPeerError(f"{party_id} is not registered", url="")
        commands_url = _find(party.endpoints, "commands", "RECEIVER")
        uid = secrets.token_hex(12)
        body = parse(model, {**fields, "response_url": self.response_url(command, uid)})
        outcome = CommandOutcome(uid, command, party.id)
        pending = _Pending(outcome, asyncio.get_running_loop().create_future())
        self._pending[uid] = pending
        sent = {"uid": uid, "command": command.value}
        await self._relay.write(
            lambda uow: uow.inbox.append_inbox(
                party.id, "ocpi", INBOX_SENT, sent, at=datetime.now(UTC)
            )
        )
        try:
            client = self._connections.client_for(party)
            cc, _, pid = party.id.partition("-")
            response = await client.command(commands_url, command, body, to_party=(cc, pid))
            outcome.response = str(response.result)
            if response.result != CommandResponseType.ACCEPTED:
                outcome.message = _text(response.message)
                return outcome
            wait = min(max(float(response.timeout), self._min_wait_s), self._max_wait_s)
            try:
                result = await asyncio.wait_for(asyncio.shield(pending.done), wait)
            except TimeoutError:
                outcome.timed_out = True
                log.info("OCPI %s %s to %s: no result in %.0f s", command, uid, party.id, wait)
                return outcome
            outcome.result, outcome.message = result.result, result.message
            return outcome
        finally:
            if not pending.done.done():
                pending.done.cancel()  # a late result is still recorded, just not awaited
            self._pending.pop(uid, None)
            self._late[uid] = party.id
            while len(self._late) > LATE_KEPT:
                self._late.popitem(last=False)

    async def receive_result(
        self, party_id: str, command: str, uid: str, body: Any
    ) -> CommandResult:
        """The CPO's CommandResult for one of our commands (or a late one), sent by this
        process or another: recorded with its event, which the sender waits for."""
        owner = self._owner(uid) or await asyncio.to_thread(self._owner_in_store, party_id, uid)
        if owner is None or owner != party_id.upper():
            raise OcpiError.not_found("unknown command")
        result = parse(CommandResult, body)
        record = {"uid": uid, "command": command.upper(), **dump(result)}
        said = OcpiCommandResult(
            owner, uid, command.upper(), str(result.result), _text(result.message)
        )

        def work(uow: UnitOfWork) -> None:
            uow.inbox.append_inbox(owner, "ocpi", INBOX_RESULT, record, at=datetime.now(UTC))
            uow.collect([said])

        await self._relay.write(work)
        return result

    async def on_result(self, event: OcpiCommandResult) -> None:
        """A command's result, whichever process received it: to the sender waiting here."""
        pending = self._pending.get(event.uid)
        if pending is not None and not pending.done.done():
            pending.done.set_result(event)

    def _owner(self, uid: str) -> str | None:
        pending = self._pending.get(uid)
        return pending.outcome.party_id if pending else self._late.get(uid)

    def _owner_in_store(self, party_id: str, uid: str) -> str | None:
        """The party a command was sent to, as recorded by the process that sent it."""
        for sent in reversed(self._store.inbox("ocpi", INBOX_SENT, party_id.upper())):
            if sent.payload.get("uid") == uid:
                return sent.operator_id
        return None


def _text(messages: Any) -> str | None:
    if not messages:
        return None
    first = messages[0]
    return str(getattr(first, "text", first))
