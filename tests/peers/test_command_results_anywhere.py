"""An OCPI CommandResult may reach any process of the platform: two platforms over one database
(each its own connection), with one event bus between them (what NATS will be between nodes).
The CPO posts the result of the first one's START_SESSION to the second one, which finds whose
command it is in the store and keeps the result with its ``OcpiCommandResult`` event; the first
one's waiter, fed by that event, completes the command. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chargemesh.bootstrap import OcpiSettings, assemble
from chargemesh.bus import EventBus
from chargemesh.config import BusConfig
from chargemesh.domain.events import OcpiCommandResult
from chargemesh.events.nats_bus import NatsBus
from chargemesh.protocols.address_guard import AddressPolicy
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.ocpi.enums import CommandType
from chargemesh.protocols.ocpi.models import StartSession
from chargemesh.services.charging.ocpi_commands import INBOX_RESULT, CommandOutcome
from chargemesh.services.feeds.ocpi_sync import sync_ocpi_operator
from chargemesh.sim.peers.ocpi.data import CpoNetwork
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
from chargemesh.store import Store, open_store
from tests.helpers import free_port
from tests.peers.ocpi_samples import CPO_PARTY, EMSP_PARTY, TOKEN_A, locations
from tests.peers.test_ocpi_cpo_sessions import CAR, DC, LOC, OPERATOR, PARTY, app_token


@pytest.fixture
def second(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    try:
        yield s
    finally:
        s.close()


def test_a_result_posted_to_another_process_completes_the_command(
    store: Store, second: Store
) -> None:
    bus = EventBus()  # between the two processes
    result_reaches_the_sender(store, second, bus, bus)


def test_a_result_posted_to_another_node_reaches_the_sender_over_nats(
    postgres_url: str, nats_url: str
) -> None:
    """The same over two nodes' NATS buses: the result is news every node's handler hears
    (the sender's waiter is on another node than the one that committed it)."""
    with open_store(postgres_url) as first, open_store(postgres_url) as other:
        result_reaches_the_sender(
            first, other, NatsBus(BusConfig(url=nats_url), "node-a"),
            NatsBus(BusConfig(url=nats_url), "node-b"),
        )  # fmt: skip


def result_reaches_the_sender(
    store: Store, second: Store, bus: EventBus, other_bus: EventBus
) -> None:
    port = free_port()  # the second process: the CPO posts its results here
    settings = OcpiSettings(
        public_url=f"http://127.0.0.1:{port}", country_code=EMSP_PARTY[0],
        party_id=EMSP_PARTY[1], operators={PARTY: OPERATOR}, command_min_wait_s=5.0,
        fetch_policy=AddressPolicy.of(allow_loopback=True),  # the CPO listens on loopback
    )  # fmt: skip
    sender, receiver = (
        assemble(store, bus=bus, ocpi=settings),
        assemble(second, bus=other_bus, ocpi=settings),
    )
    # a third serves our versions and credentials while the sender registers (its connections
    # cache the party as it was then: a process of its own, stopped after)
    registrar = assemble(second, ocpi=settings)
    heard: list[OcpiCommandResult] = []
    bus.subscribe(OcpiCommandResult, heard.append)
    cpo = OcpiCpoServer(
        CpoNetwork(*CPO_PARTY, locations=locations(3)), token_a=TOKEN_A, command_delay_s=0.01,
        backoff_s=0.01, session_update_s=0.1, time_scale=600,
    )  # fmt: skip
    with LoopbackServer(sender.app()) as one, LoopbackServer(cpo.app) as cpo_server:
        cpo.set_base_url(cpo_server.url)
        with LoopbackServer(registrar.app(), port=port):
            versions = f"{cpo_server.url}/ocpi/versions"
            one.call(sender.ocpi_connections.register_with(PARTY, versions, TOKEN_A))
        connections = sender.ocpi_connections
        one.call(sync_ocpi_operator(connections, sender.ocpi_locations, sender.ocpi_objects, PARTY))
        cpo_server.call(cpo.plug_in(LOC, DC, CAR))
        fields = {
            "token": app_token(), "location_id": LOC, "evse_uid": DC, "connector_id": "1",
            "authorization_reference": "REF-ELSEWHERE",
        }  # fmt: skip
        with LoopbackServer(receiver.app(), port=port):
            outcome: CommandOutcome = one.call(
                sender.ocpi_commands.send(
                    PARTY, CommandType.START_SESSION, fields, model=StartSession
                )
            )
            for session in cpo.charging.active_sessions():
                cpo_server.call(cpo.charging.stop(session.id))
            cpo_server.call(cpo.close())
    assert (outcome.response, outcome.result, outcome.timed_out) == ("ACCEPTED", "ACCEPTED", False)
    # the result went to the second process only: kept there, with its event from the outbox
    (kept,) = [m for m in store.inbox("ocpi", INBOX_RESULT) if m.payload["uid"] == outcome.uid]
    assert kept.operator_id == PARTY
    (said,) = [e for e in heard if e.uid == outcome.uid]
    assert (said.party_id, said.command, said.result) == (PARTY, "START_SESSION", "ACCEPTED")
    assert said.event_id is not None
    assert sender.ocpi_commands._owner(outcome.uid) == PARTY  # the sender's own command
    assert receiver.ocpi_commands._owner(outcome.uid) is None  # never known in the second
