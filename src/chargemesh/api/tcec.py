"""Our T/CEC endpoints under ``/tcec/v1/``: the calls operators make to the platform.

One handler per message. Every request is authenticated before anything else (signature with the
secrets we issued to that operator, then — except for ``query_token`` — a bearer token bound to
the same OperatorID, then the replay guard); a refused request changes nothing and is answered
with the protocol's Ret code. Operators get HTTP 200 with a T/CEC envelope in every case.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from chargemesh.api.ratelimit import TokenBuckets
from chargemesh.domain.events import TcecNotificationReceived
from chargemesh.domain.session import ChargeSession
from chargemesh.metrics import PUSHES, UNKNOWN
from chargemesh.protocols.tcec import mapping
from chargemesh.protocols.tcec.charging import (
    ChargeOrder,
    CheckChargeOrdersRequest,
    CheckChargeOrdersResponse,
    DisputeOrder,
    NotificationPlugAndChargeRequest,
    NotificationPlugAndChargeResponse,
    PlugAndChargeRefusal,
)
from chargemesh.protocols.tcec.codec import (
    OpenedRequest,
    Ret,
    Secrets,
    TcecError,
    open_request,
    seal_response,
)
from chargemesh.protocols.tcec.interfaces import INTERFACES, Interface
from chargemesh.protocols.tcec.stations import (
    NotificationStationStatusRequest,
    NotificationStationStatusResponse,
)
from chargemesh.protocols.tcec.token import QueryTokenRequest, QueryTokenResponse
from chargemesh.protocols.tcec.tokens import ReplayGuard, TokenIssuer
from chargemesh.protocols.tcec.wire import Dialect, WireModel, dump, parse
from chargemesh.services.charging.sessions import dispute_of
from chargemesh.services.feeds.status import StatusWriter
from chargemesh.store import Outcome, StatusUpdate, Store
from chargemesh.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

# Notifications kept in the protocol inbox for the session state machine (answered SuccStat 0).
INBOX_MESSAGES = (
    Interface.NOTIFICATION_START_CHARGE_RESULT,
    Interface.NOTIFICATION_EQUIP_CHARGE_STATUS,
    Interface.NOTIFICATION_STOP_CHARGE_RESULT,
    Interface.NOTIFICATION_CHARGE_ORDER_INFO,
)

ECHOED = ("StartChargeSeq", "ConnectorID")  # what the acknowledgements repeat back

# Our DisputeReason codes (partner-defined in practice): 1 no bill received, 2 energy differs,
# 3 money differs.
NO_BILL, ENERGY_DIFFERS, MONEY_DIFFERS = 1, 2, 3


def dispute_reason(order: ChargeOrder, bill: Mapping[str, Any] | None) -> int | None:
    if bill is None:
        return NO_BILL
    if abs(float(bill.get("TotalPower", 0)) - order.total_power) > 0.01:
        return ENERGY_DIFFERS
    if abs(Decimal(str(bill.get("TotalMoney", 0))) - order.total_money) > Decimal("0.01"):
        return MONEY_DIFFERS
    return None


def record_dispute(order: ChargeOrder, session: ChargeSession | None) -> int | None:
    """An order that disagrees with our record of the session (its live readings)."""
    if session is None or session.bill is None:
        return None
    billed = replace(session.bill, kwh=order.total_power, total=order.total_money)
    why = dispute_of(replace(session, bill=billed))
    if why is None:
        return None
    return ENERGY_DIFFERS if why.startswith("energy") else MONEY_DIFFERS


class ConnectorLookups:
    """Our connector ids for operators' ConnectorIDs not yet cached, looked up together: the
    pushes that miss the cache meanwhile (a first wave after a start: every connector once)
    share one store query per operator and one hand-off to a thread, instead of one each."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._waiting: dict[str, dict[str, list[asyncio.Future[str | None]]]] = {}
        self._looking: asyncio.Task[None] | None = None

    async def find(self, operator_id: str, source_id: str) -> str | None:
        found: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(operator_id, {}).setdefault(source_id, []).append(found)
        if self._looking is None or self._looking.done():
            self._looking = asyncio.create_task(self._look_up(), name="tcec-connector-lookups")
        return await found

    async def _look_up(self) -> None:
        """Look up what waits, operator by operator, until nothing does."""
        while self._waiting:
            operator_id, waiting = self._waiting.popitem()
            try:
                ids = await asyncio.to_thread(
                    self._store.connector_ids_by_source, operator_id, list(waiting)
                )
            except Exception as exc:  # each waiting push fails; the next operator's may not
                for futures in waiting.values():
                    for f in futures:
                        if not f.done():
                            f.set_exception(exc)
                continue
            for source_id, futures in waiting.items():
                for f in futures:
                    if not f.done():
                        f.set_result(ids.get(source_id))


CALLS = "/tcec/v1/"  # the T/CEC interfaces, each by its name: /tcec/v1/{interface}


class TcecCall:
    """One T/CEC call as a bare ASGI app: the body read whole, the interface named by the
    path, the envelope answered (429 with ``Retry-After`` when the operator's allowance is
    spent, Ret BUSY inside). The route serves it, and so does the hot lane (api/lanes.py)."""

    def __init__(self, endpoints: TcecPlatformEndpoints) -> None:
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        interface = scope["path"][len(CALLS) :]
        answer, wait = await self.endpoints.answer(interface, b"".join(chunks), authorization)
        body = orjson.dumps(answer)
        headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
        ]
        if wait:
            headers.append((b"retry-after", str(wait).encode()))
        await send({"type": "http.response.start", "status": 429 if wait else 200,
                    "headers": headers})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True, slots=True)
class TcecPeer:
    """One operator as seen by our endpoints."""

    operator_id: str
    inbound: Secrets  # the secrets we issued to it ([operators.inbound])
    dialect: Dialect


Handler = Callable[[TcecPeer, OpenedRequest], Awaitable[WireModel | dict[str, Any]]]
PlugAndCharge = Callable[
    [str, NotificationPlugAndChargeRequest], Awaitable[NotificationPlugAndChargeResponse]
]


class TcecPlatformEndpoints:
    def __init__(
        self,
        *,
        peers: Mapping[str, TcecPeer],
        store: Store,
        writer: StatusWriter,
        tokens: TokenIssuer | None = None,
        replay: ReplayGuard | None = None,
        plug_and_charge: PlugAndCharge | None = None,
        rate_limit: TokenBuckets | None = None,
    ) -> None:
        # our extension's authority (the sessions): a question answered in the response, so a
        # call, not an event; the notifications are events (TcecNotificationReceived)
        self.plug_and_charge = plug_and_charge
        self.rate_limit = rate_limit  # per OperatorID, once signed and with its token
        self._peers = dict(peers)
        self._store = store
        self._writer = writer
        # Kept in the store: every process over it accepts the tokens any of them issued and
        # refuses the requests any of them saw, across restarts (docs/tcec.md).
        self.tokens = tokens or TokenIssuer(store)
        self.replay = replay or ReplayGuard(store)
        self._connectors: dict[tuple[str, str], str] = {}  # (operator, ConnectorID) -> ours
        self._counters: dict[tuple[str, str, str], Any] = {}  # PUSHES by its labels
        self._lookups = ConnectorLookups(store)
        self.call = TcecCall(self)  # the calls' ASGI app, for the route and the hot lane
        self._handlers: dict[Interface, Handler] = {
            Interface.QUERY_TOKEN: self._query_token,
            Interface.NOTIFICATION_STATION_STATUS: self._station_status,
            **{name: self._inbox_handler(name) for name in INBOX_MESSAGES},
            Interface.CHECK_CHARGE_ORDERS: self._check_charge_orders,
            Interface.NOTIFICATION_PLUG_AND_CHARGE: self._plug_and_charge,
        }

    def routes(self) -> list[Route]:
        """A plain Starlette route: operators' pushes are the hottest path, and FastAPI's
        parameter machinery adds nothing for a body that must be decrypted by hand."""
        return [Route(f"{CALLS}{{interface}}", self.call, methods=["POST"])]

    async def handle(
        self, interface: str, body: bytes, authorization: str | None
    ) -> dict[str, Any]:
        return (await self.answer(interface, body, authorization))[0]

    async def answer(
        self, interface: str, body: bytes, authorization: str | None
    ) -> tuple[dict[str, Any], int]:
        """The envelope to answer, and the seconds to wait when the operator's rate limit
        refused it (0 otherwise). The limit counts only authenticated requests: nobody can
        spend an operator's allowance by naming its OperatorID."""
        peer: TcecPeer | None = None
        name: Interface | None = None
        try:
            opened = open_request(body, self._secrets_for)
            peer = self._peers[opened.operator_id]
            name = self._interface(interface)
            if name is not Interface.QUERY_TOKEN:
                await self._check_token(peer, authorization)
            if self.rate_limit is not None and (wait := self.rate_limit.wait_s(peer.operator_id)):
                self._count(peer, name, "rate_limited")
                message = f"too many requests from this operator: retry after {wait} s"
                return seal_response(Ret.BUSY, message, None, peer.inbound), wait
            await self.replay.check(
                peer.operator_id, opened.seq, opened.timestamp, datetime.now(UTC)
            )
            answer = await self._handlers[name](peer, opened)
        except TcecError as exc:
            log.info(
                "T/CEC %s from %s refused: Ret %d (%s)",
                interface,
                peer.operator_id if peer else "an unknown operator",
                int(exc.ret),
                exc.reason or exc.ret.name,
            )
            self._count(peer, name, exc.reason or exc.ret.name.lower())
            if peer is None:  # no agreed secrets: the answer cannot be signed
                return {"Ret": int(exc.ret), "Msg": str(exc), "Data": "", "Sig": ""}, 0
            return seal_response(exc.ret, str(exc), None, peer.inbound), 0
        payload = dump(answer, peer.dialect) if isinstance(answer, WireModel) else answer
        self._count(peer, name, "ok")
        return seal_response(Ret.OK, "", payload, peer.inbound), 0

    def _count(self, peer: TcecPeer | None, name: Interface | None, outcome: str) -> None:
        """One push counted for /metrics: by operator (unknown before its signature is
        verified), known interface and outcome (Ret's fixed reason tags): bounded labels, so
        each counter is looked up once and kept (``labels()`` cost every push ~5 µs)."""
        operator = peer.operator_id if peer is not None else UNKNOWN
        key = (operator, str(name) if name is not None else UNKNOWN, outcome)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = PUSHES.labels("tcec", *key)
        counter.inc()

    # --- checks --------------------------------------------------------------------------------
    def _secrets_for(self, operator_id: str) -> Secrets | None:
        peer = self._peers.get(operator_id)
        return peer.inbound if peer else None

    def _interface(self, name: str) -> Interface:
        try:
            interface = Interface(name)
        except ValueError:
            raise TcecError(Ret.INVALID_PARAMETER, f"no such interface: {name[:60]}") from None
        if interface not in self._handlers:
            raise TcecError(
                Ret.INVALID_PARAMETER, f"{interface} is not implemented by the platform side"
            )
        return interface

    async def _check_token(self, peer: TcecPeer, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        owner = None
        if scheme.lower() == "bearer" and token:
            owner = self.tokens.known(token) or await asyncio.to_thread(
                self.tokens.operator_for, token
            )
        if owner is None:
            raise TcecError(Ret.BAD_TOKEN, "missing or expired token", reason="token")
        if owner != peer.operator_id:
            raise TcecError(Ret.BAD_TOKEN, "token was issued to another operator", reason="token")

    # --- handlers ------------------------------------------------------------------------------
    async def _query_token(self, peer: TcecPeer, opened: OpenedRequest) -> QueryTokenResponse:
        request = parse(QueryTokenRequest, opened.payload)
        secret_ok = hmac.compare_digest(
            request.operator_secret.encode(), peer.inbound.operator_secret.encode()
        )
        if request.operator_id != peer.operator_id or not secret_ok:
            return QueryTokenResponse(operator_id=request.operator_id, succ_stat=1, fail_reason=2)
        return QueryTokenResponse(
            operator_id=peer.operator_id,
            succ_stat=0,
            access_token=await asyncio.to_thread(self.tokens.issue, peer.operator_id),
            token_available_time=self.tokens.ttl_s,
        )

    async def _station_status(
        self, peer: TcecPeer, opened: OpenedRequest
    ) -> NotificationStationStatusResponse:
        push = parse(NotificationStationStatusRequest, opened.payload)
        reported = mapping.status_update(push.connector_status_info)
        connector_id = await self._connector(peer.operator_id, reported.connector_source_id)
        if connector_id is None:
            raise TcecError(
                Ret.INVALID_PARAMETER,
                f"unknown ConnectorID {reported.connector_source_id[:40]}",
                reason="unknown_connector",
            )
        # Observed when it reached us: the envelope's TimeStamp has whole seconds on the operator's
        # clock, and ordering it against our own polls would drop fresh pushes as stale.
        update = StatusUpdate(
            connector_id,
            reported.status,
            datetime.now(UTC),
            source="tcec:push",
            source_code=reported.source_code,
        )
        result = await self._writer.apply([update])
        if result.outcomes[0] is Outcome.UNKNOWN:  # removed since we cached it
            self._connectors.pop((peer.operator_id, reported.connector_source_id), None)
            raise TcecError(
                Ret.INVALID_PARAMETER, "unknown ConnectorID", reason="unknown_connector"
            )
        return NotificationStationStatusResponse(status=0)

    async def _connector(self, operator_id: str, source_id: str) -> str | None:
        key = (operator_id, source_id)
        found = self._connectors.get(key)
        if found is None:
            found = await self._lookups.find(operator_id, source_id)
            if found is not None:
                self._connectors[key] = found
        return found

    async def _check_charge_orders(
        self, peer: TcecPeer, opened: OpenedRequest
    ) -> CheckChargeOrdersResponse:
        """Daily reconciliation against the bills this operator sent us: an order we never
        received a bill for, or whose energy or money differs, is disputed."""
        check = parse(CheckChargeOrdersRequest, opened.payload)
        bills = await asyncio.to_thread(
            self._store.inbox,
            "tcec",
            str(Interface.NOTIFICATION_CHARGE_ORDER_INFO),
            peer.operator_id,
        )
        ours = {b.payload.get("StartChargeSeq"): b.payload for b in bills}
        disputes = []
        for order in check.charge_orders:
            bill = ours.get(order.start_charge_seq)
            reason = dispute_reason(order, bill)
            if reason is None:  # the bill matches its order: does it match what we metered?
                session = await asyncio.to_thread(
                    self._store.session_by_ref, peer.operator_id, order.start_charge_seq
                )
                reason = record_dispute(order, session)
            if reason is not None:
                disputes.append(
                    DisputeOrder(
                        start_charge_seq=order.start_charge_seq,
                        total_power=order.total_power,
                        total_money=order.total_money,
                        dispute_reason=reason,
                    )
                )
        await asyncio.to_thread(
            self._store.append_inbox, peer.operator_id, "tcec",
            str(Interface.CHECK_CHARGE_ORDERS), opened.payload, at=datetime.now(UTC),
        )  # fmt: skip
        return CheckChargeOrdersResponse(
            check_order_seq=check.check_order_seq,
            start_time=check.start_time,
            end_time=check.end_time,
            total_dispute_order=len(disputes),
            total_dispute_power=round(sum(d.total_power for d in disputes), 3),
            total_dispute_money=sum((d.total_money or Decimal(0) for d in disputes), Decimal(0)),
            dispute_orders=tuple(disputes),
        )

    async def _plug_and_charge(
        self, peer: TcecPeer, opened: OpenedRequest
    ) -> NotificationPlugAndChargeResponse:
        """Our extension (docs/tcec-extensions.md): may this VIN charge here? Kept in the
        inbox, then answered by the sessions (no authority configured: refused)."""
        request = parse(NotificationPlugAndChargeRequest, opened.payload)
        await asyncio.to_thread(
            self._store.append_inbox, peer.operator_id, "tcec",
            str(Interface.NOTIFICATION_PLUG_AND_CHARGE), opened.payload, at=datetime.now(UTC),
        )  # fmt: skip
        if self.plug_and_charge is None:
            return NotificationPlugAndChargeResponse(
                plug_and_charge_seq=request.plug_and_charge_seq,
                connector_id=request.connector_id,
                succ_stat=1,
                fail_reason=int(PlugAndChargeRefusal.ACCOUNT_CANNOT_CHARGE),
            )
        return await self.plug_and_charge(peer.operator_id, request)

    def _inbox_handler(self, interface: Interface) -> Handler:
        spec = INTERFACES[interface]

        async def keep(peer: TcecPeer, opened: OpenedRequest) -> WireModel:
            parse(spec.request, opened.payload)  # refuse what its consumer could not read
            said = TcecNotificationReceived(peer.operator_id, str(interface), opened.payload)

            def work(uow: UnitOfWork) -> None:  # kept with its event: acknowledged, never lost
                uow.inbox.append_inbox(
                    peer.operator_id, "tcec", str(interface), opened.payload,
                    at=datetime.now(UTC),
                )  # fmt: skip
                uow.collect([said])

            await self._writer.relay.write(work)
            echo = {k: opened.payload[k] for k in ECHOED if k in opened.payload}
            return spec.response.model_validate(echo)

        return keep
