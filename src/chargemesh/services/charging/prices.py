"""The price a driver is shown — per station (station detail, the map's panel) and per connector
(the preview before a start) — taken from where the operator's bill takes it.

* **T/CEC**: ``query_equip_business_policy`` (time-of-use ``PolicyInfos``) of one connector.
  Networks price per station, so one connector's policy is kept as the station's tariff
  (``<station>:tariff``, beside any fee text the listing publishes) with the time it was
  fetched. Station detail asks only when the station has no fetched price or it is older than
  ``max_age``, in the background of a read that waits at most ``wait_s`` — never one call per
  connector in the sync. The preview always asks the connector it is about (that policy is what
  the bill uses) and keeps the answer as the station's price, so the two agree.
* **OCPI**: the Tariff the CPO published (pulled with the Locations, or pushed), as the
  connector's first ``tariff_ids`` entry names it (the CPO bills by that one); station detail
  shows its first connector's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from chargemesh.domain import OperatorProtocol, Station, Tariff
from chargemesh.protocols.ocpi import mapping as ocpi_mapping
from chargemesh.protocols.ocpi.models import ci
from chargemesh.protocols.tcec import charging as c
from chargemesh.protocols.tcec import mapping as tcec_mapping
from chargemesh.protocols.tcec.client import TcecClient
from chargemesh.services.errors import one_line
from chargemesh.store import Store
from chargemesh.store.repository import ConnectorRef

log = logging.getLogger(__name__)

#: After a failed ask, station detail does not ask the same station again for this long.
RETRY_AFTER_S = 60.0


@dataclass
class Prices:
    store: Store
    tcec_clients: Callable[[str], TcecClient | None]
    new_seq: Callable[[], str]  # a fresh EquipBizSeq
    max_age: timedelta = timedelta(hours=6)
    wait_s: float = 5.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _asking: dict[str, asyncio.Future[Tariff | None]] = field(default_factory=dict)
    _failed: dict[str, float] = field(default_factory=dict)

    # --- per station ---------------------------------------------------------------------------
    async def of_station(self, station: Station) -> Tariff | None:
        """The station's price: what is held, asked again from a T/CEC operator when missing or
        older than ``max_age`` (the held one when the operator cannot say)."""
        operator = await asyncio.to_thread(self.store.get_operator, station.operator_id)
        tcec = operator is not None and operator.protocol is OperatorProtocol.TCEC
        tariff_id = station.tariff_id or (
            tcec_mapping.station_tariff_id(station.id) if tcec else None
        )
        held = await asyncio.to_thread(self.store.get_tariff, tariff_id) if tariff_id else None
        if not tcec or tariff_id is None or self._fresh(held):
            return held
        first = next((x for e in station.evses for x in e.connectors), None)
        failed = self._failed.get(station.id)
        if first is None or (failed is not None and time.monotonic() - failed < RETRY_AFTER_S):
            return held
        asking = self._asking.get(station.id)
        if asking is None:
            asking = asyncio.ensure_future(
                self.business_policy(station.operator_id, first.source_id, station.id)
            )
            self._asking[station.id] = asking
            asking.add_done_callback(lambda done: self._asked(station.id, done))
        try:
            found = await asyncio.wait_for(asyncio.shield(asking), self.wait_s)
        except Exception:  # too slow (it is kept when it comes) or failed (logged once)
            return held
        return found or held

    def _fresh(self, tariff: Tariff | None) -> bool:
        return (
            tariff is not None
            and tariff.fetched_at is not None
            and self.clock() - tariff.fetched_at < self.max_age
        )

    def _asked(self, station_id: str, done: asyncio.Future[Tariff | None]) -> None:
        self._asking.pop(station_id, None)
        error = None if done.cancelled() else done.exception()
        if done.cancelled() or error is not None or done.result() is None:
            self._failed[station_id] = time.monotonic()
            why = one_line(error, 200) if error is not None else "no policy"
            log.info("no business policy for station %s: %s", station_id, why)
        else:
            self._failed.pop(station_id, None)

    # --- per connector -------------------------------------------------------------------------
    async def of_connector(self, target: ConnectorRef) -> Tariff | None:
        """The price the bill will use at this connector: T/CEC asks the operator now (and keeps
        the answer as the station's price); OCPI reads the connector's published Tariff."""
        operator = await asyncio.to_thread(self.store.get_operator, target.operator_id)
        if operator is not None and operator.protocol is OperatorProtocol.TCEC:
            return await self.business_policy(target.operator_id, target.source_id,
                                              target.station_id)  # fmt: skip
        tariff_id = await asyncio.to_thread(self._ocpi_tariff_id, target)
        return await asyncio.to_thread(self.store.get_tariff, tariff_id) if tariff_id else None

    def _ocpi_tariff_id(self, target: ConnectorRef) -> str | None:
        """The connector's first ``tariff_ids`` entry in the Location as the CPO sent it; else
        the station's (its first connector's)."""
        cc, _, pid = target.operator_id.upper().partition("-")
        held = self.store.get_ocpi_object("locations", cc, pid, target.station_source_id)
        for evse in (held.payload.get("evses") or []) if held else []:
            if ci(str(evse.get("uid", ""))) != ci(target.evse_source_id):
                continue
            for connector in evse.get("connectors") or []:
                if str(connector.get("id")) == target.source_id:
                    named = [t for t in connector.get("tariff_ids") or [] if str(t).strip()]
                    if named:
                        return ocpi_mapping.tariff_key(target.operator_id, str(named[0]))
        station = self.store.get_station(target.station_id)
        return station.tariff_id if station else None

    # --- T/CEC ---------------------------------------------------------------------------------
    async def business_policy(
        self, operator_id: str, connector_id: str, station_id: str
    ) -> Tariff | None:
        """Ask ``query_equip_business_policy`` for one connector and keep the answer as the
        station's tariff (fee text and parking kept). ``None`` if the operator gives none."""
        client = self.tcec_clients(operator_id)
        if client is None:
            return None
        answer = await client.business_policy(
            c.QueryEquipBusinessPolicyRequest(equip_biz_seq=self.new_seq(),
                                              connector_id=connector_id)
        )  # fmt: skip
        if answer.succ_stat != 0 or not answer.policy_infos:
            return None
        tariff_id = tcec_mapping.station_tariff_id(station_id)
        held = await asyncio.to_thread(self.store.get_tariff, tariff_id)
        tariff = replace(
            tcec_mapping.tariff_from_policies(
                answer.policy_infos, tariff_id=tariff_id, operator_id=operator_id
            ),
            parking_fee=held.parking_fee if held else None,
            description=held.description if held else None,
            fetched_at=self.clock(),
        )
        await asyncio.to_thread(self.store.upsert_tariffs, [tariff])
        return tariff
