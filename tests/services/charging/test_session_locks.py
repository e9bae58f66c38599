"""No per-session state is kept in the process for ids that do not exist (issue 19, item 10):
a session's changes are serialized by the store (its row held in the unit of work), so a
flood of stops and reads for unknown or other accounts' session ids — answered 404 — leaves
the session service exactly as it was, while concurrent stops of one real session are still
serialized: one moves it to stopping and sends the stop, the others find it stopping."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest

from chargemesh.bootstrap import assemble
from chargemesh.bus import EventBus
from chargemesh.domain.session import ChargeSession, SessionState, StartMethod
from chargemesh.events.relay import OutboxRelay
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.services.charging.sessions import Reply, SessionService
from chargemesh.store import Store
from tests.drivers import bearer
from tests.factories import T0, make_operator, make_station

OPERATOR = "313744932"


def _footprint(service: SessionService) -> dict[str, int]:
    """The size of every container the service holds: what would grow per session id."""
    return {
        name: len(value)
        for name, value in vars(service).items()
        if isinstance(value, dict | set | list)
    }


def _charging(n: int, account: str, connector_id: str) -> ChargeSession:
    return ChargeSession(
        id=f"s{n:03d}", account_id=account, operator_id=OPERATOR, protocol="tcec",
        connector_id=connector_id, station_id="st1", method=StartMethod.APP,
        state=SessionState.CHARGING, created_at=T0, updated_at=T0, protocol_ref=f"ref{n:03d}",
        started_at=T0,
    )  # fmt: skip


def test_stops_and_reads_of_unknown_session_ids_leave_nothing_behind(store: Store) -> None:
    store.upsert_operator(make_operator())
    station = make_station()
    store.upsert_stations([station], at=T0)
    connector = station.evses[0].connectors[0].id
    platform = assemble(store)
    drivers = [bearer(platform, f"driver{n}") for n in range(5)]  # each within its rate limit
    with (
        LoopbackServer(platform.app()) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        theirs = _charging(1, "someone-else", connector)
        store.create_session(theirs)
        before = _footprint(platform.sessions)
        for n in range(20):
            for driver in drivers:
                for sid in (f"nope-{n}", theirs.id):
                    stop = http.post(f"/api/v1/sessions/{sid}/stop", headers=driver)
                    assert stop.status_code == 404, stop.text
                    assert http.get(f"/api/v1/sessions/{sid}", headers=driver).status_code == 404
        after = _footprint(platform.sessions)
    assert after == before
    assert store.get_session(theirs.id) == theirs  # another account's session untouched


class _CountingAdapter:
    """A T/CEC-like operator that takes a while to confirm a stop, counting the stops sent."""

    protocol = "tcec"

    def __init__(self) -> None:
        self.stops: list[str] = []

    async def stop(self, session: ChargeSession, target: Any) -> Reply:
        self.stops.append(session.id)
        await asyncio.sleep(0.01)
        return Reply(True)


@pytest.mark.parametrize("drivers", [2, 12])
def test_concurrent_stops_of_one_session_send_one_stop(store: Store, drivers: int) -> None:
    store.upsert_operator(make_operator())
    station = make_station()
    store.upsert_stations([station], at=T0)
    adapter = _CountingAdapter()
    service = SessionService(store, OutboxRelay(store, EventBus()), {"tcec": adapter})  # type: ignore[dict-item]
    session = _charging(7, "alice", station.evses[0].connectors[0].id)
    store.create_session(session)

    async def all_at_once() -> list[ChargeSession]:
        return await asyncio.gather(*(service.stop(session.id, "alice") for _ in range(drivers)))

    answers = asyncio.run(all_at_once())
    assert adapter.stops == [session.id]  # one stop reached the operator
    assert {a.state for a in answers} == {SessionState.STOPPING}
    final = store.get_session(session.id)
    assert final is not None
    assert final == replace(answers[0], updated_at=final.updated_at)
