"""A small stand-in for the platform's T/CEC endpoints, for the simulated operators' tests: it
authenticates the operators' pushes as the real one does (signature, then bearer token), records
every notification and answers it; ``notification_plug_and_charge`` is answered from
``pnc_answers`` (VIN → answer fields; unknown VINs are refused, FailReason 1)."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chargemesh.protocols.tcec.codec import Ret, Secrets, TcecError, open_request, seal_response
from chargemesh.protocols.tcec.interfaces import Interface
from chargemesh.protocols.tcec.tokens import MemoryTokenBook, TokenIssuer

ECHOED = ("StartChargeSeq", "ConnectorID", "PlugAndChargeSeq")


@dataclass(frozen=True)
class Received:
    interface: str
    payload: dict[str, Any]
    at: float


class StubPlatform:
    """Accepts the pushes of the operators in ``peers`` (OperatorID → the secrets the platform
    issued to it). ``down``: answer HTTP 503 to everything (a platform restarting)."""

    def __init__(self, peers: Mapping[str, Secrets]) -> None:
        self.peers = dict(peers)
        self.tokens = TokenIssuer(MemoryTokenBook())
        self.received: list[Received] = []
        self.pnc_answers: dict[str, dict[str, Any]] = {}
        self.down = False
        self._cond = threading.Condition()

    # ------------------------------------------------------------------ reading

    def all(self, interface: Interface | str, **match: Any) -> list[dict[str, Any]]:
        """The payloads received for ``interface`` whose fields equal ``match``."""
        with self._cond:
            return [
                r.payload
                for r in self.received
                if r.interface == str(interface)
                and all(r.payload.get(k) == v for k, v in match.items())
            ]

    def wait_for(
        self,
        interface: Interface | str,
        count: int = 1,
        timeout_s: float = 10.0,
        **match: Any,
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` matching payloads have arrived; all of them so far."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                found = self.all(interface, **match)
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{interface} {match or ''}: {len(found)} of {count} received; "
                        f"got {[r.interface for r in self.received]}"
                    )
                self._cond.wait(left)

    def names(self) -> list[str]:
        with self._cond:
            return [r.interface for r in self.received]

    # ------------------------------------------------------------------ serving

    def app(self) -> Starlette:
        async def tcec(request: Request) -> Response:
            if self.down:
                return Response("restarting", status_code=503)
            body = await request.body()
            answer = self.handle(
                request.path_params["interface"], body, request.headers.get("authorization")
            )
            return Response(orjson.dumps(answer), media_type="application/json")

        return Starlette(routes=[Route("/tcec/v1/{interface}", tcec, methods=["POST"])])

    def handle(self, interface: str, body: bytes, authorization: str | None) -> dict[str, Any]:
        secrets: Secrets | None = None
        try:
            opened = open_request(body, self.peers.get)
            secrets = self.peers[opened.operator_id]
            if interface == Interface.QUERY_TOKEN:
                token_answer = self._token(opened.operator_id, opened.payload)
                return seal_response(Ret.OK, "", token_answer, secrets)
            scheme, _, token = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or self.tokens.operator_for(token) != opened.operator_id:
                raise TcecError(Ret.BAD_TOKEN, "bad token")
            with self._cond:
                self.received.append(Received(interface, opened.payload, time.monotonic()))
                self._cond.notify_all()
            return seal_response(Ret.OK, "", self._answer(interface, opened.payload), secrets)
        except TcecError as exc:
            if secrets is None:
                return {"Ret": int(exc.ret), "Msg": str(exc), "Data": "", "Sig": ""}
            return seal_response(exc.ret, str(exc), None, secrets)

    def _token(self, operator_id: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        expected = self.peers[operator_id].operator_secret
        given = str(payload.get("OperatorSecret", ""))
        if payload.get("OperatorID") != operator_id or not hmac.compare_digest(given, expected):
            return {"OperatorID": operator_id, "SuccStat": 1, "FailReason": 2}
        return {
            "OperatorID": operator_id,
            "SuccStat": 0,
            "AccessToken": self.tokens.issue(operator_id),
            "TokenAvailableTime": self.tokens.ttl_s,
            "FailReason": 0,
        }

    def _answer(self, interface: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        echo = {k: payload[k] for k in ECHOED if k in payload}
        if interface == Interface.NOTIFICATION_STATION_STATUS:
            return {"Status": 0}
        if interface == Interface.NOTIFICATION_PLUG_AND_CHARGE:
            answer = self.pnc_answers.get(str(payload.get("VIN")))
            return {**echo, **(answer or {"SuccStat": 1, "FailReason": 1})}
        if interface == Interface.NOTIFICATION_CHARGE_ORDER_INFO:
            return {**echo, "ConfirmResult": 0}
        if interface == Interface.CHECK_CHARGE_ORDERS:
            return {
                "CheckOrderSeq": payload.get("CheckOrderSeq"),
                "TotalDisputeOrder": 0,
                "DisputeOrders": [],
            }
        return {**echo, "SuccStat": 0}
