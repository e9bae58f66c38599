"""OCPI objects a CPO pushes to us besides Locations: Tariffs (PUT/DELETE), Sessions (PUT/PATCH)
and CDRs (POST). Each is kept in its wire form, owned by the party it came through; Tariffs are
mapped into the registry's tariffs as well. The sessions work builds on the stored Sessions and
CDRs (``Store.list_ocpi_objects("sessions"|"cdrs")``): a kept Session or CDR and its event
(``OcpiSessionReceived``, ``OcpiCdrReceived``) are one unit of work, and the sessions' handlers
(wired in bootstrap) take it from there.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from pydantic import BaseModel

from chargemesh.domain import Operator
from chargemesh.domain.events import Event, OcpiCdrReceived, OcpiSessionReceived
from chargemesh.events.relay import OutboxRelay
from chargemesh.protocols.ocpi import mapping
from chargemesh.protocols.ocpi.models import Cdr, Session, Tariff, ci, dump, merge_patch, parse
from chargemesh.protocols.ocpi.transport import OcpiError, StatusCode
from chargemesh.services.feeds.ocpi_locations import patch_time
from chargemesh.store import OcpiObject, Store
from chargemesh.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

TARIFFS: Final = "tariffs"
SESSIONS: Final = "sessions"
CDRS: Final = "cdrs"


def _ids_match(obj: Any, cc: str, pid: str, object_id: str) -> None:
    if (ci(obj.country_code), ci(obj.party_id), ci(obj.id)) != (ci(cc), ci(pid), ci(object_id)):
        raise OcpiError(
            StatusCode.INVALID_PARAMETERS, "country_code, party_id and id must match the URL"
        )


class ObjectIngest:
    def __init__(self, store: Store, relay: OutboxRelay) -> None:
        self._store = store
        self._relay = relay
        self._lock = asyncio.Lock()  # read-modify-write of one object at a time

    async def get(self, module: str, cc: str, pid: str, object_id: str) -> dict[str, Any]:
        held = await asyncio.to_thread(self._store.get_ocpi_object, module, cc, pid, object_id)
        if held is None:
            raise OcpiError.not_found(f"unknown {module[:-1]}")
        return held.payload

    async def _keep(self, module: str, operator: Operator, obj: Any, raw: dict[str, Any]) -> None:
        """Keep the object, with the event saying it came (Sessions and CDRs) in one unit."""
        record = OcpiObject(
            module, obj.country_code, obj.party_id, obj.id, operator.id, obj.last_updated, raw
        )
        said: list[Event] = []
        if module == SESSIONS:
            said.append(OcpiSessionReceived(operator.id, raw))
        elif module == CDRS:
            said.append(OcpiCdrReceived(operator.id, raw))

        def work(uow: UnitOfWork) -> None:
            uow.ocpi.put_ocpi_objects([record])
            uow.collect(said)

        await self._relay.write(work)

    async def _put(
        self,
        module: str,
        model: type[BaseModel],
        operator: Operator,
        cc: str,
        pid: str,
        object_id: str,
        body: Any,
    ) -> tuple[Any, bool]:
        """Parse, check, keep; returns the object and whether it was stale (then not kept)."""
        obj: Any = parse(model, body)
        _ids_match(obj, cc, pid, object_id)
        async with self._lock:
            held = await asyncio.to_thread(self._store.get_ocpi_object, module, cc, pid, object_id)
            if held is not None and held.last_updated > obj.last_updated:
                return obj, True
            await self._keep(module, operator, obj, dump(obj))
        return obj, False

    # --- tariffs ----------------------------------------------------------------------------
    async def put_tariff(
        self, operator: Operator, cc: str, pid: str, tariff_id: str, body: Any
    ) -> bool:
        tariff, stale = await self._put(TARIFFS, Tariff, operator, cc, pid, tariff_id, body)
        if not stale:
            await asyncio.to_thread(
                self._store.upsert_tariffs, [mapping.to_tariff(tariff, operator.id)]
            )
        return stale

    async def delete_tariff(self, cc: str, pid: str, tariff_id: str) -> None:
        if not await asyncio.to_thread(self._store.delete_ocpi_object, TARIFFS, cc, pid, tariff_id):
            raise OcpiError.not_found("unknown tariff")

    async def ingest_tariffs(self, operator: Operator, tariffs: list[Tariff]) -> int:
        records = [
            OcpiObject(
                TARIFFS, t.country_code, t.party_id, t.id, operator.id, t.last_updated, dump(t)
            )
            for t in tariffs
        ]
        await asyncio.to_thread(self._store.put_ocpi_objects, records)
        return await asyncio.to_thread(
            self._store.upsert_tariffs, [mapping.to_tariff(t, operator.id) for t in tariffs]
        )

    # --- sessions ---------------------------------------------------------------------------
    async def put_session(
        self, operator: Operator, cc: str, pid: str, session_id: str, body: Any
    ) -> bool:
        _, stale = await self._put(SESSIONS, Session, operator, cc, pid, session_id, body)
        return stale

    async def patch_session(
        self, operator: Operator, cc: str, pid: str, session_id: str, body: Any
    ) -> bool:
        """Fields replaced, except ``charging_periods``, which a PATCH *appends* (spec)."""
        if not isinstance(body, dict):
            raise OcpiError(StatusCode.INVALID_PARAMETERS, "the body must be a JSON object")
        at = patch_time(body)
        async with self._lock:
            held = await asyncio.to_thread(
                self._store.get_ocpi_object, SESSIONS, cc, pid, session_id
            )
            if held is None:
                raise OcpiError.not_found("unknown session")
            if held.last_updated > at:
                return True
            merged = merge_patch(held.payload, body, append=("charging_periods",))
            session = parse(Session, merged)
            _ids_match(session, cc, pid, session_id)
            await self._keep(SESSIONS, operator, session, dump(session))
        return False

    # --- CDRs -------------------------------------------------------------------------------
    async def post_cdr(self, operator: Operator, owned: set[tuple[str, str]], body: Any) -> Cdr:
        """Keep a CDR. CDRs are immutable: the same one again is fine, a different one under a
        known id is refused (corrections come as credit CDRs with an id of their own)."""
        cdr = parse(Cdr, body)
        if (ci(cdr.country_code), ci(cdr.party_id)) not in owned:
            raise OcpiError(
                StatusCode.INVALID_PARAMETERS, "the CDR's country_code/party_id is not yours"
            )
        raw = dump(cdr)
        async with self._lock:
            held = await asyncio.to_thread(
                self._store.get_ocpi_object, CDRS, cdr.country_code, cdr.party_id, cdr.id
            )
            if held is not None:
                if held.payload != raw:
                    raise OcpiError(
                        StatusCode.INVALID_PARAMETERS,
                        "a different CDR with this id was already received; CDRs are immutable",
                    )
                return cdr
            await self._keep(CDRS, operator, cdr, raw)
        return cdr
