"""A CSMS stand-in for the simulated charge points' tests: the ``ocpp`` library's server side on a
real loopback websocket, both subprotocols, HTTP Basic auth against the chargers it knows, every
message recorded in arrival order, and its ``ChargePoint`` per charger at hand to send commands.

It decides nothing the tests do not tell it: ``accepted`` tokens are Accepted on Authorize (others
Invalid), boots are ``boot_status`` (``Pending`` once per charger with ``pending_first``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Recording:
    stub: CsmsStub

    def record(self, action: str, payload: dict[str, Any]) -> None:
        self.stub.messages.append((self.id, action, payload))  # type: ignore[attr-defined]

    def boot_answer(self) -> tuple[str, int]:
        cp_id: str = self.id  # type: ignore[attr-defined]
        if self.stub.pending_first and cp_id not in self.stub.pended:
            self.stub.pended.add(cp_id)
            return "Pending", 1
        return self.stub.boot_status, self.stub.heartbeat_s


class Csms16(_Recording, Cp16):  # type: ignore[misc]
    @on(Action16.boot_notification)
    def on_boot(self, **kw: Any) -> Any:
        self.record("BootNotification", kw)
        status, interval = self.boot_answer()
        return result16.BootNotification(current_time=_now(), interval=interval, status=status)

    @on(Action16.heartbeat)
    def on_heartbeat(self, **kw: Any) -> Any:
        self.record("Heartbeat", kw)
        return result16.Heartbeat(current_time=_now())

    @on(Action16.status_notification)
    def on_status(self, **kw: Any) -> Any:
        self.record("StatusNotification", kw)
        return result16.StatusNotification()

    @on(Action16.authorize)
    def on_authorize(self, id_tag: str, **kw: Any) -> Any:
        self.record("Authorize", {"id_tag": id_tag, **kw})
        status = "Accepted" if id_tag in self.stub.accepted else "Invalid"
        return result16.Authorize(id_tag_info={"status": status})

    @on(Action16.start_transaction)
    def on_start(self, **kw: Any) -> Any:
        tx_id = next(self.stub.tx_ids)
        self.record("StartTransaction", {**kw, "assigned": tx_id})
        return result16.StartTransaction(transaction_id=tx_id, id_tag_info={"status": "Accepted"})

    @on(Action16.meter_values)
    def on_meter(self, **kw: Any) -> Any:
        self.record("MeterValues", kw)
        return result16.MeterValues()

    @on(Action16.stop_transaction)
    def on_stop(self, **kw: Any) -> Any:
        self.record("StopTransaction", kw)
        return result16.StopTransaction()


class Csms201(_Recording, Cp201):  # type: ignore[misc]
    @on(Action201.boot_notification)
    def on_boot(self, **kw: Any) -> Any:
        self.record("BootNotification", kw)
        status, interval = self.boot_answer()
        return result201.BootNotification(current_time=_now(), interval=interval, status=status)

    @on(Action201.heartbeat)
    def on_heartbeat(self, **kw: Any) -> Any:
        self.record("Heartbeat", kw)
        return result201.Heartbeat(current_time=_now())

    @on(Action201.status_notification)
    def on_status(self, **kw: Any) -> Any:
        self.record("StatusNotification", kw)
        return result201.StatusNotification()

    @on(Action201.authorize)
    def on_authorize(self, id_token: dict[str, Any], **kw: Any) -> Any:
        self.record("Authorize", {"id_token": id_token, **kw})
        status = "Accepted" if id_token["id_token"] in self.stub.accepted else "Invalid"
        return result201.Authorize(id_token_info={"status": status})

    @on(Action201.transaction_event)
    def on_transaction_event(self, **kw: Any) -> Any:
        self.record("TransactionEvent", kw)
        info = {"status": "Accepted"} if "id_token" in kw else None
        return result201.TransactionEvent(id_token_info=info)


class CsmsStub:
    """The stand-in (see the module docstring). ``chargers``: id → password."""

    def __init__(
        self,
        chargers: dict[str, str],
        *,
        accepted: set[str] | None = None,
        boot_status: str = "Accepted",
        heartbeat_s: int = 300,
        pending_first: bool = False,
    ) -> None:
        self.chargers = dict(chargers)
        self.accepted = set(accepted or ())
        self.boot_status = boot_status
        self.heartbeat_s = heartbeat_s
        self.pending_first = pending_first
        self.pended: set[str] = set()
        self.messages: list[tuple[str, str, dict[str, Any]]] = []
        self.links: dict[str, Any] = {}
        self.refused: list[str] = []
        self.tx_ids = itertools.count(1001)
        self._server: Server | None = None

    # ------------------------------------------------------------------ serving

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        cp_id = request.path.rstrip("/").split("/")[-1]
        header = request.headers.get("Authorization", "")
        given = ""
        if header.startswith("Basic "):
            given = base64.b64decode(header[6:]).decode()
        if cp_id not in self.chargers or given != f"{cp_id}:{self.chargers[cp_id]}":
            self.refused.append(cp_id)
            return connection.respond(HTTPStatus.UNAUTHORIZED, "unknown charger\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        cp_id = ws.request.path.rstrip("/").split("/")[-1] if ws.request else "?"
        cls = Csms16 if ws.subprotocol == "ocpp1.6" else Csms201
        cp = cls(cp_id, ws)
        cp.stub = self
        self.links[cp_id] = cp
        with contextlib.suppress(ConnectionClosed):
            await cp.start()

    async def start(self, port: int) -> CsmsStub:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            port,
            subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
            process_request=self._check,
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # ------------------------------------------------------------------ reading

    def of(self, cp_id: str, action: str) -> list[dict[str, Any]]:
        return [p for i, a, p in self.messages if i == cp_id and a == action]

    def statuses(self, cp_id: str) -> list[tuple[int, str]]:
        """(connector, status) in arrival order (2.0.1: EVSE id, connectorStatus)."""
        out = []
        for p in self.of(cp_id, "StatusNotification"):
            if "connector_status" in p:
                out.append((int(p["evse_id"]), str(p["connector_status"])))
            else:
                out.append((int(p["connector_id"]), str(p["status"])))
        return out


async def until(check: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """Poll ``check`` on the running loop until it is truthy; its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


def energy_wh(meter_value: list[dict[str, Any]]) -> float:
    """The Energy.Active.Import.Register of a 1.6 or 2.0.1 meterValue list (the last sample)."""
    for sample in meter_value[-1]["sampled_value"]:
        if sample.get("measurand") == "Energy.Active.Import.Register":
            return float(sample["value"])
    raise AssertionError("no energy register in the meter value")
