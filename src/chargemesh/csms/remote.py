"""Remote control: the sessions' adapter for the own network (a QR or app start asks the
charger over OCPP: 1.6 RemoteStart/StopTransaction, 2.0.1 RequestStart/StopTransaction), and
the operations team's commands (ChangeAvailability, Reset, UnlockConnector)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Final

from chargemesh.csms.links import ChargerLink, Links
from chargemesh.csms.network import OwnNetwork
from chargemesh.domain.session import ChargeSession, Vehicle
from chargemesh.services.charging.sessions import Progress, Quote, Reply
from chargemesh.store import Store
from chargemesh.store.repository import ConnectorRef

CALL_TIMEOUT_S: Final = 20.0


class ChargerOffline(Exception):
    """The charger holds no connection to this node: nothing can be asked of it now."""


class OcppCharging:
    """``ChargingAdapter`` of the own network."""

    protocol = "ocpp"

    def __init__(self, store: Store, network: OwnNetwork, links: Links) -> None:
        self.store = store
        self.network = network
        self.links = links

    def new_ref(self) -> str:
        """The idTag/idToken of a start we ask for: 20 characters (1.6's CiString20)."""
        return "CM" + secrets.token_hex(9).upper()

    def _link(self, target: ConnectorRef) -> ChargerLink | None:
        return self.links.get(target.station_source_id)

    async def start(
        self, session: ChargeSession, target: ConnectorRef, vehicle: Vehicle | None
    ) -> Reply:
        link = self._link(target)
        if link is None:
            return Reply(False, "the charger is offline")
        token = session.protocol_ref or ""
        try:
            ok = await asyncio.wait_for(
                link.remote_start(int(target.evse_source_id), token, int(token[2:9], 16)),
                CALL_TIMEOUT_S,
            )
        except (TimeoutError, ConnectionError) as exc:
            return Reply(False, f"the charger did not answer ({type(exc).__name__})")
        return Reply(True) if ok else Reply(False, "the charger refused to start")

    async def stop(self, session: ChargeSession, target: ConnectorRef) -> Reply:
        link = self._link(target)
        if link is None:
            return Reply(False, "the charger is offline")
        transaction = await asyncio.to_thread(
            self.store.ocpp_transaction_of_session, session.protocol_ref or ""
        )
        if transaction is None:
            return Reply(False, "the charger has not started the transaction yet")
        try:
            ok = await asyncio.wait_for(link.remote_stop(transaction.transaction_id),
                                        CALL_TIMEOUT_S)  # fmt: skip
        except (TimeoutError, ConnectionError) as exc:
            return Reply(False, f"the charger did not answer ({type(exc).__name__})")
        return Reply(True) if ok else Reply(False, "the charger refused to stop")

    async def probe(self, session: ChargeSession) -> Progress | None:
        return None  # chargers send their readings themselves

    async def quote(self, target: ConnectorRef) -> Quote | None:
        return Quote(tariff=self.network.tariff)


class Commands:
    """What operations may ask an own charger; ``ChargerOffline`` if it is not connected here."""

    def __init__(self, links: Links) -> None:
        self.links = links

    def _link(self, charger_id: str) -> ChargerLink:
        link = self.links.get(charger_id)
        if link is None:
            raise ChargerOffline(charger_id)
        return link

    async def change_availability(self, charger_id: str, connector: int, operative: bool) -> str:
        answer = await asyncio.wait_for(
            self._link(charger_id).change_availability(connector, operative), CALL_TIMEOUT_S
        )
        return answer or "no answer"

    async def reset(self, charger_id: str, hard: bool) -> str:
        answer = await asyncio.wait_for(self._link(charger_id).reset(hard), CALL_TIMEOUT_S)
        return answer or "no answer"

    async def unlock(self, charger_id: str, connector: int) -> str:
        answer = await asyncio.wait_for(self._link(charger_id).unlock(connector), CALL_TIMEOUT_S)
        return answer or "no answer"
