"""The handler table wired in bootstrap: what operators tell us reaches the sessions as events,
and a handler whose repeat would do harm does not do it twice (the outbox delivers at least
once: a process that restarts replays what it had not marked published). On both stores."""

from __future__ import annotations

import asyncio
import logging

import pytest

from chargemesh.bootstrap import assemble
from chargemesh.domain import Capability, Operator, OperatorProtocol
from chargemesh.domain.events import OcpiTokenAuthorized
from chargemesh.domain.session import SessionState, StartMethod, Vehicle
from chargemesh.store import Store
from tests.protocols.ocpi import example

EXAMPLE = "location_example_uc2_destination_charger.json"  # official, tests/data
CPO = Operator(
    "NL-ALF", "Alfen", OperatorProtocol.OCPI,
    frozenset({Capability.REALTIME, Capability.PLUG_AND_CHARGE}),
)  # fmt: skip
EMAID = "NLALFC000000427"


def test_a_repeated_authorization_starts_one_plug_and_charge_session(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        asyncio.run(_authorized_twice(store))
    assert caplog.records == []  # the repeat is recognised as done, not a failure


async def _authorized_twice(store: Store) -> None:
    platform = assemble(store)
    store.upsert_operator(CPO)
    body = example(EXAMPLE)
    cc, pid, lid = body["country_code"], body["party_id"], body["id"]
    await platform.ocpi_locations.put(CPO, CPO.id, cc, pid, lid, None, None, body)
    # plug-and-charge switched on for this network by its driver
    store.save_vehicle(Vehicle("v1", "alice", "LRW3E7EK4NC000001", "Model Y", EMAID,
                               networks=frozenset({CPO.id})))  # fmt: skip
    where = {"location_id": lid, "evse_uids": [body["evses"][0]["uid"]]}
    authorized = OcpiTokenAuthorized(CPO.id, EMAID, "REF-PNC-1", where, event_id=41)

    await platform.handlers.handle(authorized)
    await platform.handlers.handle(authorized)  # relayed again after a restart

    (session,) = store.account_sessions("alice")
    assert (session.method, session.state) == (StartMethod.PLUG_AND_CHARGE, SessionState.STARTING)
    assert (session.protocol_ref, session.vehicle_id) == ("REF-PNC-1", "v1")
